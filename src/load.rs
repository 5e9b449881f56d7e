//! Stage one: read every input file of a platform repo into memory.
//!
//! Everything later works on `Sources`, never on the file system, so the same
//! pipeline renders the working tree or (for `diff --base`) a git revision.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Input files by repo-relative path (forward slashes), in sorted order.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: BTreeMap<String, String>,
    /// Input files that could not be read (not a regular file, outside the
    /// repo, too large, not UTF-8): one diagnostic each, at the path.
    problems: Vec<crate::diagnostic::Diagnostic>,
}

/// The folders and files stamp reads.
pub const INPUT_DIRS: &[&str] = &["catalog", "archetypes", "components"];

impl Sources {
    pub fn from_dir(root: &Path) -> io::Result<Sources> {
        let mut sources = Sources::default();
        match std::fs::read_to_string(root.join(crate::catalog::STAMP_FILE)) {
            Ok(text) => {
                sources.files.insert(crate::catalog::STAMP_FILE.to_string(), text);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for dir in INPUT_DIRS {
            sources.read_tree(root, dir)?;
        }
        Ok(sources)
    }

    /// Why input files could not be read; their paths are absent from the sources.
    pub fn problems(&self) -> &[crate::diagnostic::Diagnostic] {
        &self.problems
    }

    fn read_tree(&mut self, root: &Path, rel: &str) -> io::Result<()> {
        let entries = match std::fs::read_dir(root.join(rel)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Editor swap files and dotfiles are not inputs.
            if name.starts_with('.') || name.ends_with('~') {
                continue;
            }
            let path = format!("{rel}/{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                self.read_tree(root, &path)?;
            } else {
                let bytes = std::fs::read(entry.path())?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("`{path}` is not UTF-8 text")))?;
                self.files.insert(path, text);
            }
        }
        Ok(())
    }

    /// The inputs as they are at git revision `rev`, read from the object
    /// store: the working tree and the index are not touched.
    pub fn from_git(root: &Path, rev: &str) -> Result<Sources, String> {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(root)
                .output()
                .map_err(|e| format!("cannot run git: {e}"))
        };
        let commit = git(&["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])?;
        if !commit.status.success() {
            return Err(format!(
                "revision `{rev}` is not in this clone\nhint: fetch it first; a CI checkout needs `fetch-depth: 2` for `--base HEAD~1`"
            ));
        }
        let commit = String::from_utf8_lossy(&commit.stdout).trim().to_string();
        let mut args = vec!["ls-tree", "-r", "-z", commit.as_str(), "--", crate::catalog::STAMP_FILE];
        args.extend(INPUT_DIRS);
        let listing = git(&args)?;
        if !listing.status.success() {
            return Err(format!(
                "git ls-tree failed: {}",
                String::from_utf8_lossy(&listing.stderr).trim()
            ));
        }
        // `<mode> blob <oid>\t<path>`, NUL-separated; paths relative to `root`.
        let mut entries = Vec::new();
        for record in listing.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let record = String::from_utf8_lossy(record);
            let Some((meta, path)) = record.split_once('\t') else {
                continue;
            };
            let mut meta = meta.split(' ');
            if let (Some(_mode), Some("blob"), Some(oid)) = (meta.next(), meta.next(), meta.next()) {
                let name = path.rsplit('/').next().unwrap_or(path);
                if !name.starts_with('.') && !name.ends_with('~') {
                    entries.push((path.to_string(), oid.to_string()));
                }
            }
        }
        let mut child = std::process::Command::new("git")
            .args(["cat-file", "--batch"])
            .current_dir(root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run git: {e}"))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let request: String = entries.iter().map(|(_, oid)| format!("{oid}\n")).collect();
        let writer = std::thread::spawn(move || {
            use std::io::Write as _;
            stdin.write_all(request.as_bytes())
        });
        let output = child
            .wait_with_output()
            .map_err(|e| format!("git cat-file failed: {e}"))?;
        writer
            .join()
            .expect("the writer thread does not panic")
            .map_err(|e| format!("git cat-file failed: {e}"))?;
        // `<oid> blob <size>\n<content>\n` per object, in request order.
        let mut sources = Sources::default();
        let mut rest = output.stdout.as_slice();
        for (path, _) in entries {
            let header_end = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or("git cat-file ended early")?;
            let header = String::from_utf8_lossy(&rest[..header_end]).to_string();
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or("bad git cat-file header")?;
            let content = &rest[header_end + 1..header_end + 1 + size];
            let text =
                String::from_utf8(content.to_vec()).map_err(|_| format!("`{path}` is not UTF-8 text at `{rev}`"))?;
            sources.files.insert(path, text);
            rest = &rest[header_end + 1 + size + 1..];
        }
        Ok(sources)
    }

    /// Records a file the loader could not read, for tests of what comes after.
    #[cfg(test)]
    pub fn push_problem(&mut self, problem: crate::diagnostic::Diagnostic) {
        self.problems.push(problem);
    }

    pub fn insert(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.files.insert(path.into(), text.into());
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(path, text)| (path.as_str(), text.as_str()))
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Files directly or indirectly under `prefix` (which ends with `/`).
    pub fn files_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.files
            .range(prefix.to_string()..)
            .take_while(move |(path, _)| path.starts_with(prefix))
            .map(|(path, text)| (path.as_str(), text.as_str()))
    }
}
