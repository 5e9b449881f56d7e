//! Stage one: read every input file of a platform repo into memory.
//!
//! Everything later works on `Sources`, never on the file system, so the same
//! pipeline renders the working tree or (for `diff --base`) a git revision.
//!
//! Input is bounded: stamp reads only regular files inside the repo, each at
//! most `MAX_FILE_BYTES`, all together at most `MAX_TOTAL_BYTES`. Anything
//! else (a symlink out of the repo, a FIFO, a device, a file too large or not
//! UTF-8) is one diagnostic naming the path, and the path is left out of the
//! sources: its content is never read, so it can never be echoed.

use std::collections::BTreeMap;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use walkdir::WalkDir;

use crate::diagnostic::{Diagnostic, Pos};
use crate::file_stat::Stat;
use crate::git;
use crate::paths::INPUT_DIRS;
use crate::paths::STAMP_FILE;
use crate::tree_cache::TreeCache;
use crate::yaml_tree::{self, Node};

/// Largest input file stamp reads. Real catalog, KDL and template files are a
/// few KB; 4 MiB leaves a hundredfold headroom while a file's parse tree
/// (tens of bytes per node) stays far below the memory stamp may use.
pub(crate) const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Largest sum of all input files: 10,000 services of 2 KB are 20 MB.
pub(crate) const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Most input files read; symlinked folders cannot multiply them without end.
pub(crate) const MAX_FILES: usize = 100_000;
/// Deepest folder nesting under an input folder.
const MAX_DEPTH: usize = 32;
/// Symlinks followed in a row inside a git revision.
const MAX_LINK_HOPS: usize = 8;

/// Input files by repo-relative path (forward slashes), in sorted order.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: BTreeMap<String, String>,
    /// Input files that could not be read (not a regular file, outside the
    /// repo, too large, not UTF-8): one diagnostic each, at the path.
    problems: Vec<Diagnostic>,
    /// What the working tree's inputs looked like when read, for the no-op
    /// fast path (`snapshot.rs`); None for a git revision or a walk that met
    /// a symlink (whose target a stat of the link cannot vouch for).
    stats: Option<InputStats>,
    /// Service files' trees from earlier runs (`tree_cache.rs`), when the
    /// command keeps the cache.
    trees: Option<Arc<TreeCache>>,
}

/// The stat of every input file as read (taken before its bytes), of every
/// input folder (a file added or removed moves its folder's times), and the
/// top-level inputs that do not exist.
#[derive(Clone, Debug, Default)]
pub(crate) struct InputStats {
    pub(crate) files: Vec<(String, Stat)>,
    pub(crate) dirs: Vec<(String, Stat)>,
    pub(crate) absent: Vec<String>,
}

/// Why one file was not read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadProblem {
    /// A symlink whose target lies outside the repo (never followed).
    Outside,
    /// A symlink to nothing.
    Dangling,
    /// A symlink that leads back to itself or too deep.
    Loop,
    /// A FIFO, socket or device (named).
    NotRegular(&'static str),
    TooLarge {
        limit: u64,
    },
    /// Not UTF-8 from this position on.
    NotUtf8(Pos),
    Budget,
    Io(String),
}

impl ReadProblem {
    /// The diagnostic for `path` (`at` names a git revision, if any).
    pub(crate) fn diagnostic(&self, path: &str, at: Option<&str>) -> Diagnostic {
        let at = at.map(|rev| format!(" at `{rev}`")).unwrap_or_default();
        let (pos, message, hint) = match self {
            ReadProblem::Outside => (
                Pos::START,
                format!("`{path}`{at} is a symlink that leads outside the repo; stamp does not follow it"),
                Some("inputs must be files inside the repo: copy the file in, or link to one inside the repo"),
            ),
            ReadProblem::Dangling => (
                Pos::START,
                format!("`{path}`{at} is a symlink to nothing"),
                Some("remove the link or point it at a file inside the repo"),
            ),
            ReadProblem::Loop => (
                Pos::START,
                format!("`{path}`{at} is a symlink loop (or links too deep)"),
                None,
            ),
            ReadProblem::NotRegular(kind) => (
                Pos::START,
                format!("`{path}`{at} is {kind}, not a regular file; stamp does not read it"),
                Some("remove it from the repo's input folders"),
            ),
            ReadProblem::TooLarge { limit } => (
                Pos::START,
                format!(
                    "`{path}`{at} is larger than {} MiB; stamp does not read it",
                    limit >> 20
                ),
                Some("catalog, KDL and template files are a few KB; is this the file you meant to add?"),
            ),
            ReadProblem::NotUtf8(pos) => (
                *pos,
                format!("`{path}`{at} is not UTF-8 text"),
                Some("save the file as UTF-8"),
            ),
            ReadProblem::Budget => (
                Pos::START,
                format!(
                    "the repo's input files{at} exceed {} files or {} MiB in total; `{path}` is not read",
                    MAX_FILES,
                    MAX_TOTAL_BYTES >> 20
                ),
                None,
            ),
            ReadProblem::Io(e) => (Pos::START, format!("cannot read `{path}`{at}: {e}"), None),
        };
        let d = Diagnostic::new(path, pos, message);
        match hint {
            Some(hint) => d.with_hint(hint),
            None => d,
        }
    }
}

/// What kind of non-regular file `kind` is, for messages.
pub(crate) fn kind_name(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Reads a regular file of at most `limit` bytes. The file is opened without
/// following a symlink and without blocking (a FIFO swapped in after the
/// caller's check fails here), then checked by its handle before and while
/// reading, so a file that grows, or a `/proc`-like one that lies about its
/// size, is never read past `limit`.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<String, ReadProblem> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => ReadProblem::NotRegular("a symlink"),
        _ => ReadProblem::Io(e.to_string()),
    })?;
    let meta = file.metadata().map_err(|e| ReadProblem::Io(e.to_string()))?;
    if !meta.is_file() {
        return Err(ReadProblem::NotRegular(kind_name(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadProblem::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadProblem::Io(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(ReadProblem::TooLarge { limit });
    }
    utf8(bytes)
}

/// Reads the regular file at repo path `rel`, which must lie inside `root`
/// even after following symlinks.
pub(crate) fn read_inside(root: &Path, rel: &str, limit: u64) -> Result<String, ReadProblem> {
    let root = std::fs::canonicalize(root).map_err(|e| ReadProblem::Io(e.to_string()))?;
    let real = match std::fs::canonicalize(root.join(rel)) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let is_link = std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.file_type().is_symlink());
            return Err(if is_link {
                ReadProblem::Dangling
            } else {
                ReadProblem::Io(e.to_string())
            });
        }
        Err(e) if is_loop(&e) => return Err(ReadProblem::Loop),
        Err(e) => return Err(ReadProblem::Io(e.to_string())),
    };
    if !real.starts_with(&root) {
        return Err(ReadProblem::Outside);
    }
    read_regular(&real, limit)
}

/// The text, or where the first byte that is not UTF-8 sits.
fn utf8(bytes: Vec<u8>) -> Result<String, ReadProblem> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() as u32 + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // Columns count characters; the valid prefix of the line is UTF-8.
        let col = String::from_utf8_lossy(&valid[line_start..]).chars().count() as u32 + 1;
        ReadProblem::NotUtf8(Pos::new(line, col))
    })
}

/// Running totals against `MAX_FILES` and `MAX_TOTAL_BYTES`.
#[derive(Default)]
struct Budget {
    files: usize,
    bytes: u64,
}

impl Budget {
    fn take(&mut self, bytes: u64) -> bool {
        if self.files >= MAX_FILES || self.bytes + bytes > MAX_TOTAL_BYTES {
            return false;
        }
        self.files += 1;
        self.bytes += bytes;
        true
    }
}

/// A walk of the working tree: the repo's real path, and the chain of
/// folders open right now, as real paths (a symlink to one of them is a loop).
struct Walk {
    root: PathBuf,
    open: Vec<Segment>,
    budget: Budget,
    /// Files found, stat'ed and read once the walk is done, in walk order.
    files: Vec<FoundFile>,
}

/// A file the walk found: repo path, real path, and its metadata when the
/// walk took it already (a symlink's target, a top-level file).
struct FoundFile {
    rel: String,
    real: PathBuf,
    meta: Option<std::fs::Metadata>,
}

/// Real folders walked in one go from `top` without a symlink between: the
/// open ones are `top` and those above `link_at` (the folder holding the
/// symlink followed next, once there is one).
struct Segment {
    top: PathBuf,
    link_at: Option<PathBuf>,
}

impl Walk {
    /// Whether folder `dir` (a real path) is open, given that the link to it
    /// sits in real folder `link_at`.
    fn is_open(&self, dir: &Path, link_at: &Path) -> bool {
        self.open.iter().any(|segment| {
            let below = segment.link_at.as_deref().unwrap_or(link_at);
            dir.starts_with(&segment.top) && below.starts_with(dir)
        })
    }
}

impl Sources {
    pub fn from_dir(root: &Path) -> io::Result<Sources> {
        let mut sources = Sources {
            stats: Some(InputStats::default()),
            ..Sources::default()
        };
        let mut walk = Walk {
            root: std::fs::canonicalize(root)?,
            open: Vec::new(),
            budget: Budget::default(),
            files: Vec::new(),
        };
        for top in std::iter::once(STAMP_FILE).chain(INPUT_DIRS.iter().copied()) {
            sources.read_path(&mut walk, top, &crate::paths::under(root, top), 0);
        }
        sources.read_files(walk.budget, walk.files);
        Ok(sources)
    }

    /// Stats and reads the files a walk found, on every core: a thousand
    /// service files are a thousand stats, opens, reads and closes. What
    /// is read is decided in walk order, within the budget, before any read.
    fn read_files(&mut self, mut budget: Budget, found: Vec<FoundFile>) {
        let metas: Vec<io::Result<std::fs::Metadata>> = found
            .par_iter()
            .with_min_len(16)
            .map(|file| match &file.meta {
                Some(meta) => Ok(meta.clone()),
                None => std::fs::symlink_metadata(&file.real),
            })
            .collect();
        let mut reads = Vec::new();
        for (file, meta) in found.into_iter().zip(metas) {
            let problem = match meta {
                Err(e) => ReadProblem::Io(e.to_string()),
                Ok(meta) if !meta.is_file() => ReadProblem::NotRegular(kind_name(meta.file_type())),
                Ok(meta) if meta.len() > MAX_FILE_BYTES => ReadProblem::TooLarge { limit: MAX_FILE_BYTES },
                Ok(meta) if !budget.take(meta.len()) => ReadProblem::Budget,
                Ok(meta) => {
                    reads.push((file.rel, file.real, Stat::of(&meta)));
                    continue;
                }
            };
            self.problems.push(problem.diagnostic(&file.rel, None));
        }
        let texts: Vec<Result<String, ReadProblem>> = reads
            .par_iter()
            .with_min_len(16)
            .map(|(_, real, _)| read_regular(real, MAX_FILE_BYTES))
            .collect();
        for ((rel, _, stat), text) in reads.into_iter().zip(texts) {
            match text {
                Ok(text) => {
                    if let Some(stats) = &mut self.stats {
                        stats.files.push((rel.clone(), stat));
                    }
                    self.files.insert(rel, text);
                }
                Err(problem) => self.problems.push(problem.diagnostic(&rel, None)),
            }
        }
    }

    /// See `Sources::stats`.
    pub(crate) fn input_stats(&self) -> Option<&InputStats> {
        self.stats.as_ref()
    }

    /// Why input files could not be read; their paths are absent from the sources.
    pub fn problems(&self) -> &[Diagnostic] {
        &self.problems
    }

    /// A file that is not an input (say under `generated/`), read to show
    /// the line of an error, under the same bounds; never one whose reading
    /// was refused.
    pub(crate) fn read_for_display(&self, root: &Path, rel: &str) -> Option<String> {
        if self.problems.iter().any(|d| d.file == rel) {
            return None;
        }
        read_inside(root, rel, MAX_FILE_BYTES).ok()
    }

    /// Reads the file or folder at `full` (repo path `rel`), a top-level
    /// input or a symlink, under the rules above; a missing path is simply
    /// not an input.
    fn read_path(&mut self, walk: &mut Walk, rel: &str, full: &Path, depth: usize) {
        let problem = |sources: &mut Sources, p: ReadProblem| sources.problems.push(p.diagnostic(rel, None));
        let meta = match std::fs::symlink_metadata(full) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(stats) = &mut self.stats {
                    stats.absent.push(rel.to_string());
                }
                return;
            }
            Err(e) => return problem(self, ReadProblem::Io(e.to_string())),
        };
        if meta.file_type().is_symlink() {
            self.stats = None;
        } else if let (true, Some(stats)) = (meta.is_dir(), &mut self.stats) {
            stats.dirs.push((rel.to_string(), Stat::of(&meta)));
        }
        let (real, meta) = if meta.file_type().is_symlink() {
            // Resolved in full, so a chain of links is judged by where it ends.
            let real = match std::fs::canonicalize(full) {
                Ok(real) => real,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return problem(self, ReadProblem::Dangling),
                Err(e) if is_loop(&e) => return problem(self, ReadProblem::Loop),
                Err(e) => return problem(self, ReadProblem::Io(e.to_string())),
            };
            if !real.starts_with(&walk.root) {
                return problem(self, ReadProblem::Outside);
            }
            match std::fs::metadata(&real) {
                Ok(meta) => (real, meta),
                Err(e) => return problem(self, ReadProblem::Io(e.to_string())),
            }
        } else {
            (full.to_path_buf(), meta)
        };
        if !meta.is_dir() {
            return self.read_file(walk, rel, &real, &meta);
        }
        if depth >= MAX_DEPTH {
            return problem(self, ReadProblem::Loop);
        }
        let top = std::fs::canonicalize(&real).unwrap_or_else(|_| real.clone());
        let link_at = full
            .parent()
            // `catalog` under the root `.` has the parent "", which is `.`.
            .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
            .and_then(|p| std::fs::canonicalize(p).ok())
            .unwrap_or_default();
        if walk.is_open(&top, &link_at) {
            return problem(self, ReadProblem::Loop);
        }
        if let Some(segment) = walk.open.last_mut() {
            segment.link_at = Some(link_at);
        }
        walk.open.push(Segment { top, link_at: None });
        self.read_dir(walk, rel, &real, depth);
        walk.open.pop();
        if let Some(segment) = walk.open.last_mut() {
            segment.link_at = None;
        }
    }

    /// Reads the tree under folder `dir` (repo path `rel`). walkdir lists
    /// it sorted and does not follow symlinks; each one it meets goes back
    /// through `read_path`, which checks where it leads.
    fn read_dir(&mut self, walk: &mut Walk, rel: &str, dir: &Path, depth: usize) {
        let mut entries = WalkDir::new(dir)
            .min_depth(1)
            .max_depth(MAX_DEPTH - depth)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = entries.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let at = e.path().map_or(rel.to_string(), |p| rel_path(rel, dir, p));
                    let message = e.io_error().map_or(e.to_string(), io::Error::to_string);
                    self.problems.push(ReadProblem::Io(message).diagnostic(&at, None));
                    continue;
                }
            };
            let path = rel_path(rel, dir, entry.path());
            let kind = entry.file_type();
            let Some(name) = entry.file_name().to_str() else {
                let d = Diagnostic::new(&path, Pos::START, format!("the name of `{path}` is not UTF-8"))
                    .with_hint("rename it");
                self.problems.push(d);
                if kind.is_dir() {
                    entries.skip_current_dir();
                }
                continue;
            };
            // Editor swap files and dotfiles are not inputs.
            if name.starts_with('.') || name.ends_with('~') {
                if kind.is_dir() {
                    entries.skip_current_dir();
                }
                continue;
            }
            if kind.is_symlink() {
                self.read_path(walk, &path, entry.path(), depth + entry.depth());
            } else if kind.is_dir() {
                if depth + entry.depth() >= MAX_DEPTH {
                    self.problems.push(ReadProblem::Loop.diagnostic(&path, None));
                }
                match (entry.metadata(), &mut self.stats) {
                    (Ok(meta), Some(stats)) => stats.dirs.push((path, Stat::of(&meta))),
                    (Err(_), _) => self.stats = None,
                    (Ok(_), None) => {}
                }
            } else {
                // Stat'ed with the others once the walk is done.
                walk.files.push(FoundFile {
                    rel: path,
                    real: entry.into_path(),
                    meta: None,
                });
            }
        }
    }

    /// Queues one file that is not a folder, stat'ed already, for reading.
    fn read_file(&mut self, walk: &mut Walk, rel: &str, real: &Path, meta: &std::fs::Metadata) {
        walk.files.push(FoundFile {
            rel: rel.to_string(),
            real: real.to_path_buf(),
            meta: Some(meta.clone()),
        });
    }

    /// The inputs as they are at git revision `rev`, read from the object
    /// store: the working tree and the index are not touched. The same
    /// bounds hold: blob sizes are checked before a blob is read, and a
    /// symlink is followed only to a file or folder inside the revision.
    pub(crate) fn from_git(root: &Path, rev: &str) -> Result<Sources, String> {
        let Some(commit) = git::commit_of(root, rev)? else {
            return Err(format!(
                "revision `{rev}` is not in this clone\nhint: fetch it first; a CI checkout needs `fetch-depth: 2` for `--base HEAD~1`"
            ));
        };
        let mut pathspec = vec![STAMP_FILE];
        pathspec.extend(INPUT_DIRS);
        let inputs = git::ls_tree(root, &commit, &pathspec)?;
        // Symlink targets may lie anywhere in the revision: list all of it,
        // only when there is a link to follow.
        let tree = if inputs.values().any(|e| e.mode == "120000") {
            git::ls_tree(root, &commit, &[])?
        } else {
            inputs.clone()
        };
        let links: Vec<&git::TreeEntry> = tree
            .values()
            .filter(|e| e.mode == "120000" && e.size.is_some_and(|s| s <= 4096))
            .collect();
        let link_texts = git::cat_blobs(root, links.iter().map(|e| e.oid.as_str()))?;
        let targets: BTreeMap<&str, String> = links
            .iter()
            .zip(link_texts)
            .map(|(e, bytes)| (e.path.as_str(), String::from_utf8_lossy(&bytes).into_owned()))
            .collect();

        let mut picked = Picked {
            rev,
            sources: Sources::default(),
            budget: Budget::default(),
            wanted: Vec::new(),
        };
        for entry in inputs.values() {
            picked.entry(&tree, &targets, entry);
        }
        picked.read(root)
    }

    /// Records a file the loader could not read, for tests of what comes after.
    #[cfg(test)]
    pub(crate) fn push_problem(&mut self, problem: crate::diagnostic::Diagnostic) {
        self.problems.push(problem);
    }

    pub fn insert(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.files.insert(path.into(), text.into());
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(path, text)| (path.as_str(), text.as_str()))
    }

    /// Parses service files through `trees` from now on.
    pub(crate) fn use_tree_cache(&mut self, trees: Arc<TreeCache>) {
        self.trees = Some(trees);
    }

    /// `yaml_tree::parse` of one input file, through the tree cache if any.
    pub(crate) fn parse_tree(&self, path: &str, text: &str) -> Result<Node, Diagnostic> {
        match &self.trees {
            Some(trees) => trees.parse(path, text),
            None => yaml_tree::parse(path, text),
        }
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Files directly or indirectly under `prefix` (which ends with `/`).
    pub(crate) fn files_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.files
            .range(prefix.to_string()..)
            .take_while(move |(path, _)| path.starts_with(prefix))
            .map(|(path, text)| (path.as_str(), text.as_str()))
    }
}

/// Repo path of `path`, found by walking folder `dir` (repo path `rel`).
fn rel_path(rel: &str, dir: &Path, path: &Path) -> String {
    let below = path.strip_prefix(dir).unwrap_or(path);
    let mut out = rel.to_string();
    for part in below.iter() {
        out.push('/');
        out.push_str(&part.to_string_lossy());
    }
    out
}

fn is_loop(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The files of a git revision chosen for reading, and the problems of
/// those refused, as `Sources::from_git` walks the tree.
struct Picked<'r> {
    rev: &'r str,
    sources: Sources,
    budget: Budget,
    /// (path in the sources, blob) to read, once every check passed.
    wanted: Vec<(String, String)>,
}

impl Picked<'_> {
    fn problem(&mut self, path: &str, p: ReadProblem) {
        self.sources.problems.push(p.diagnostic(path, Some(self.rev)));
    }

    /// Picks one input entry, following a symlink within the revision.
    fn entry(
        &mut self,
        tree: &BTreeMap<String, git::TreeEntry>,
        targets: &BTreeMap<&str, String>,
        entry: &git::TreeEntry,
    ) {
        if entry.mode != "120000" {
            return self.take(entry.path.clone(), entry);
        }
        match follow(tree, targets, &entry.path) {
            Err(p) => self.problem(&entry.path, p),
            Ok(Followed::File(file)) => self.take(entry.path.clone(), file),
            Ok(Followed::Dir(dir)) => {
                let prefix = format!("{dir}/");
                for inner in tree
                    .range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                    .map(|(_, e)| e)
                {
                    let path = format!("{}/{}", entry.path, &inner.path[prefix.len()..]);
                    match inner.mode.as_str() {
                        "120000" => match follow(tree, targets, &inner.path) {
                            Ok(Followed::File(file)) => self.take(path, file),
                            Ok(Followed::Dir(_)) => self.problem(&path, ReadProblem::Loop),
                            Err(p) => self.problem(&path, p),
                        },
                        _ => self.take(path, inner),
                    }
                }
            }
        }
    }

    /// Picks a file (not a link) at `path` within the bounds.
    fn take(&mut self, path: String, entry: &git::TreeEntry) {
        let hidden = path.split('/').any(|name| name.starts_with('.') || name.ends_with('~'));
        if hidden {
            return;
        }
        match entry.size {
            Some(size) if size > MAX_FILE_BYTES => self.problem(&path, ReadProblem::TooLarge { limit: MAX_FILE_BYTES }),
            Some(size) if !self.budget.take(size) => self.problem(&path, ReadProblem::Budget),
            Some(_) => self.wanted.push((path, entry.oid.clone())),
            None => self.problem(&path, ReadProblem::NotRegular("not a regular file")),
        }
    }

    /// Reads the picked blobs in one `git cat-file` run.
    fn read(mut self, root: &Path) -> Result<Sources, String> {
        let blobs = git::cat_blobs(root, self.wanted.iter().map(|(_, oid)| oid.as_str()))?;
        for ((path, _), bytes) in std::mem::take(&mut self.wanted).into_iter().zip(blobs) {
            match utf8(bytes) {
                Ok(text) => {
                    self.sources.files.insert(path, text);
                }
                Err(p) => self.problem(&path, p),
            }
        }
        Ok(self.sources)
    }
}

/// Where a symlink of a git tree leads.
enum Followed<'t> {
    File(&'t git::TreeEntry),
    /// A folder of the tree, by path.
    Dir(String),
}

fn follow<'t>(
    tree: &'t BTreeMap<String, git::TreeEntry>,
    targets: &BTreeMap<&str, String>,
    link: &str,
) -> Result<Followed<'t>, ReadProblem> {
    let mut path = link.to_string();
    for _ in 0..MAX_LINK_HOPS {
        match tree.get(&path) {
            Some(entry) if entry.mode == "120000" => {
                let target = targets.get(path.as_str()).ok_or(ReadProblem::Loop)?;
                let parent = path.rsplit_once('/').map_or("", |(dir, _)| dir);
                path = normalize(parent, target).ok_or(ReadProblem::Outside)?;
            }
            Some(entry) => return Ok(Followed::File(entry)),
            None => {
                let prefix = format!("{path}/");
                let is_dir = tree
                    .range(prefix.clone()..)
                    .next()
                    .is_some_and(|(p, _)| p.starts_with(&prefix));
                return if is_dir {
                    Ok(Followed::Dir(path))
                } else {
                    Err(ReadProblem::Dangling)
                };
            }
        }
    }
    Err(ReadProblem::Loop)
}

/// `target` taken relative to the repo folder `dir`; None when it leaves
/// the repo (absolute, or too many `..`).
fn normalize(dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() { None } else { Some(parts.join("/")) }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn symlinked_folders_are_read_and_a_cycle_through_them_is_a_loop() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [("catalog/a/x.yaml", "x"), ("catalog/b/y.yaml", "y")] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        // a → b → a: neither link points at its own ancestor.
        symlink("../b", root.join("catalog/a/to_b")).unwrap();
        symlink("../a", root.join("catalog/b/to_a")).unwrap();
        let sources = Sources::from_dir(root).unwrap();
        let files: Vec<&str> = sources.iter().map(|(path, _)| path).collect();
        assert_eq!(
            files,
            [
                "catalog/a/to_b/y.yaml",
                "catalog/a/x.yaml",
                "catalog/b/to_a/x.yaml",
                "catalog/b/y.yaml"
            ]
        );
        let problems: Vec<String> = sources
            .problems()
            .iter()
            .map(|d| format!("{}: {}", d.file, d.message))
            .collect();
        assert_eq!(
            problems,
            [
                "catalog/a/to_b/to_a: `catalog/a/to_b/to_a` is a symlink loop (or links too deep)",
                "catalog/b/to_a/to_b: `catalog/b/to_a/to_b` is a symlink loop (or links too deep)"
            ]
        );
    }
}
