//! Every git command stamp runs: reading a revision's files from the object
//! store (for `diff --base` and `affected`) and the `origin` remote.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Runs `git args` in `root`; its stdout, or why it failed.
pub(crate) fn run(root: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    // `rev-parse --verify --quiet` fails silently for an unknown revision.
    if !output.status.success() && !args.contains(&"--quiet") {
        return Err(format!(
            "git {} failed: {}",
            args[0],
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// One blob (or link, or submodule) of a git tree.
#[derive(Clone, Debug)]
pub(crate) struct TreeEntry {
    pub(crate) mode: String,
    pub(crate) oid: String,
    /// None for what is not a blob.
    pub(crate) size: Option<u64>,
    pub(crate) path: String,
}

/// `git ls-tree -r -l` of `commit`, limited to `pathspec` when not empty.
pub(crate) fn ls_tree(root: &Path, commit: &str, pathspec: &[&str]) -> Result<BTreeMap<String, TreeEntry>, String> {
    list_tree(root, commit, pathspec, true)
}

/// `ls_tree` without the sizes (every `size` is None): git reads no blob
/// for it, where `-l` opens each one, ~0.25 s for 10,000 loose objects.
pub(crate) fn ls_tree_ids(root: &Path, commit: &str, pathspec: &[&str]) -> Result<BTreeMap<String, TreeEntry>, String> {
    list_tree(root, commit, pathspec, false)
}

fn list_tree(root: &Path, commit: &str, pathspec: &[&str], sizes: bool) -> Result<BTreeMap<String, TreeEntry>, String> {
    let mut args = vec!["ls-tree", "-r", "-z", commit, "--"];
    if sizes {
        args.insert(2, "-l");
    }
    args.extend(pathspec);
    let listing = run(root, &args)?;
    // `<mode> <type> <oid>[ <size>]\t<path>`, NUL-separated; paths from the root.
    let mut entries = BTreeMap::new();
    for record in listing.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let Some((meta, path)) = record.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split_whitespace();
        if let (Some(mode), Some(kind), Some(oid)) = (meta.next(), meta.next(), meta.next()) {
            let size = match (kind, meta.next()) {
                ("blob", Some(size)) => size.parse().ok(),
                _ => None,
            };
            entries.insert(
                path.to_string(),
                TreeEntry {
                    mode: mode.to_string(),
                    oid: oid.to_string(),
                    size,
                    path: path.to_string(),
                },
            );
        }
    }
    Ok(entries)
}

/// The sizes of blobs, in order, without reading them.
pub(crate) fn blob_sizes<'a>(root: &Path, oids: impl Iterator<Item = &'a str>) -> Result<Vec<u64>, String> {
    let oids: Vec<&str> = oids.collect();
    let output = batch(root, "--batch-check", &oids)?;
    // `<oid> blob <size>` per object, in request order.
    let sizes: Vec<u64> = String::from_utf8_lossy(&output)
        .lines()
        .map(|line| match line.split(' ').collect::<Vec<_>>().as_slice() {
            [_, "blob", size] => size
                .parse()
                .map_err(|_| format!("unexpected git cat-file output `{line}`")),
            _ => Err(format!("unexpected git cat-file output `{line}`")),
        })
        .collect::<Result<_, _>>()?;
    if sizes.len() != oids.len() {
        return Err("git cat-file ended early".into());
    }
    Ok(sizes)
}

/// `git cat-file <mode>` fed `oids`, one per line: its whole output (none
/// for no oids, without running git).
fn batch(root: &Path, mode: &str, oids: &[&str]) -> Result<Vec<u8>, String> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let request: String = oids.iter().map(|oid| format!("{oid}\n")).collect();
    let mut child = std::process::Command::new("git")
        .args(["cat-file", mode])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("git cat-file has no input")?;
    // Written from a thread: git answers while it reads, and a full pipe
    // either way would stall both.
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        stdin.write_all(request.as_bytes())
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("git cat-file failed: {e}"))?;
    writer
        .join()
        .map_err(|_| "git cat-file failed".to_string())?
        .map_err(|e| format!("git cat-file failed: {e}"))?;
    if !output.status.success() {
        return Err(format!("git cat-file {mode} failed"));
    }
    Ok(output.stdout)
}

/// The contents of blobs (sizes already checked), in order.
pub(crate) fn cat_blobs<'a>(root: &Path, oids: impl Iterator<Item = &'a str>) -> Result<Vec<Vec<u8>>, String> {
    let oids: Vec<&str> = oids.collect();
    let output = batch(root, "--batch", &oids)?;
    // `<oid> blob <size>\n<content>\n` per object, in request order.
    let mut blobs = Vec::new();
    let mut rest = output.as_slice();
    while !rest.is_empty() {
        let header_end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("git cat-file ended early")?;
        let header = String::from_utf8_lossy(&rest[..header_end]).to_string();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("unexpected git cat-file output `{header}`"))?;
        let content = rest
            .get(header_end + 1..header_end + 1 + size)
            .ok_or("git cat-file ended early")?;
        blobs.push(content.to_vec());
        rest = rest.get(header_end + 2 + size..).unwrap_or_default();
    }
    if blobs.len() != oids.len() {
        return Err("git cat-file ended early".into());
    }
    Ok(blobs)
}

/// The commit `rev` names, or None when this clone does not have it.
pub(crate) fn commit_of(root: &Path, rev: &str) -> Result<Option<String>, String> {
    let commit = run(
        root,
        &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")],
    )?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();
    Ok((!commit.is_empty()).then_some(commit))
}

/// The `origin` remote, which `repo_url` defaults to.
pub(crate) fn origin_url(root: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["config", "--get", "remote.origin.url"])
        .current_dir(root)
        .output()
        .ok()?;
    let url = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !url.is_empty()).then_some(url)
}

/// One commit of a first-parent walk that changed a file.
#[derive(Clone, Debug)]
pub(crate) struct FileChange {
    pub(crate) commit: String,
    /// Committer time, seconds since the epoch.
    pub(crate) time: i64,
    pub(crate) author: String,
    pub(crate) path: String,
    /// The file's blob after the commit; None when the commit deleted it.
    pub(crate) blob: Option<String>,
}

/// Every change to files under `pathspec` on HEAD's first-parent history,
/// newest first, in one `git log` walk. A merge counts as the commit that
/// changed what its first parent had, so a merged branch's changes date
/// from the merge.
pub(crate) fn first_parent_changes(root: &Path, pathspec: &str) -> Result<Vec<FileChange>, String> {
    let log = run(
        root,
        &[
            "log",
            "--first-parent",
            "--diff-merges=first-parent",
            "--no-renames",
            // Paths from `root`, which may be a folder of the git repo.
            "--relative",
            "--raw",
            "--no-abbrev",
            "-z",
            "--format=%x01%H%x1f%ct%x1f%an",
            "HEAD",
            "--",
            pathspec,
        ],
    )?;
    let mut changes = Vec::new();
    // `\x01<commit>\x1f<time>\x1f<author>\0\n` then, NUL-separated,
    // `:<mode> <mode> <old> <new> <status>` and `<path>` pairs.
    for record in log.split(|b| *b == 1).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let (header, raw) = record.split_once('\0').unwrap_or((&record, ""));
        let mut header = header.split('\x1f');
        let (Some(commit), Some(time), Some(author)) = (header.next(), header.next(), header.next()) else {
            return Err(format!("unexpected git log output `{header:?}`"));
        };
        let time: i64 = time.parse().map_err(|_| format!("unexpected commit time `{time}`"))?;
        let mut fields = raw.trim_start_matches('\n').split('\0').filter(|f| !f.is_empty());
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let mut meta = meta.trim_start_matches(':').split(' ');
            let new = meta.nth(3).unwrap_or_default();
            let deleted = new.bytes().all(|b| b == b'0');
            changes.push(FileChange {
                commit: commit.to_string(),
                time,
                author: author.to_string(),
                path: path.to_string(),
                blob: (!deleted).then(|| new.to_string()),
            });
        }
    }
    Ok(changes)
}

/// The commits a shallow clone's history stops at (empty in a full clone).
pub(crate) fn shallow_boundaries(root: &Path) -> Result<BTreeSet<String>, String> {
    let path = run(root, &["rev-parse", "--git-path", "shallow"])?;
    let path = root.join(String::from_utf8_lossy(&path).trim());
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(format!("cannot read `{}`: {e}", path.display())),
    }
}

/// The contents of `path` at `commit`, or None when it has no such file.
pub(crate) fn file_at(root: &Path, commit: &str, path: &str) -> Result<Option<Vec<u8>>, String> {
    let entries = ls_tree(root, commit, &[path])?;
    let Some(entry) = entries.get(path).filter(|e| e.size.is_some()) else {
        return Ok(None);
    };
    Ok(cat_blobs(root, std::iter::once(entry.oid.as_str()))?.pop())
}
