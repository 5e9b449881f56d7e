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
