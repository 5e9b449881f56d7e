//! The two sides `affected` compares, read by content: when only service
//! files differ between the base revision and the working tree, both sides
//! hold the shared files and just the service files that differ, so only
//! those services are resolved and rendered. Any other input that differs
//! (a profile, an archetype, stamp.yaml) can change every target: then both
//! sides are read in full, as before.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::cli::Settings;
use crate::error::Error;
use crate::git;
use crate::load::{MAX_FILE_BYTES, Sources};
use crate::paths::{INPUT_DIRS, STAMP_FILE, service_of_file};

/// The base revision's inputs and the working tree's, trimmed to the
/// services that differ when nothing shared does.
pub(super) fn sources(settings: &Settings, base: &str) -> Result<(Sources, Sources), Error> {
    // The working tree is read while git lists the base's inputs.
    let (new, base_tree) = rayon::join(|| Sources::from_dir(&settings.root), || base_inputs(settings, base));
    let new = new.map_err(|source| Error::ReadRepo {
        root: settings.shown_root.clone(),
        source,
    })?;
    let trimmed = match base_tree.map_err(Error::Git)? {
        Some(tree) => trimmed(settings, &tree, &new).map_err(Error::Git)?,
        // The full reader says why the revision is missing.
        None => None,
    };
    match trimmed {
        Some(pair) => Ok(pair),
        None => Ok((Sources::from_git(&settings.root, base).map_err(Error::Git)?, new)),
    }
}

/// The base revision's input files by path, or None when it names no commit.
fn base_inputs(settings: &Settings, base: &str) -> Result<Option<BTreeMap<String, git::TreeEntry>>, String> {
    let Some(commit) = git::commit_of(&settings.root, base)? else {
        return Ok(None);
    };
    let mut pathspec = vec![STAMP_FILE];
    pathspec.extend(INPUT_DIRS);
    // Without sizes: the few blobs read below are sized first, and every
    // other one holds what a working-tree file within the bounds holds.
    git::ls_tree_ids(&settings.root, &commit, &pathspec).map(Some)
}

/// Both sides trimmed, or None when a full read is needed: a shared input
/// differs, or the base holds what the full reader judges file by file
/// (a symlink, a file too large, not UTF-8), or the working tree has a
/// file that could not be read.
fn trimmed(
    settings: &Settings,
    tree: &BTreeMap<String, git::TreeEntry>,
    new: &Sources,
) -> Result<Option<(Sources, Sources)>, String> {
    let root = &settings.root;
    let plain = |e: &git::TreeEntry| {
        // Files (these modes are blobs); a SHA-256 repository's ids are
        // compared by the full reader.
        matches!(e.mode.as_str(), "100644" | "100755") && e.oid.len() == 40
    };
    if !new.problems().is_empty() || !tree.values().all(plain) {
        return Ok(None);
    }
    // Paths whose content differs, by git blob id.
    let mut differ: BTreeSet<&str> = tree
        .keys()
        .filter(|path| new.get(path).is_none())
        .map(String::as_str)
        .collect();
    // Hashed side by side: every input file, ~10,000 at 10,000 services.
    let files: Vec<(&str, &str)> = new.iter().collect();
    let changed: Vec<&str> = files
        .par_iter()
        .filter(|(path, text)| tree.get(*path).is_none_or(|e| e.oid != blob_id(text.as_bytes())))
        .map(|(path, _)| *path)
        .collect();
    differ.extend(changed);
    // A non-`.yaml` file under catalog/services/ is reported by both sides alike: shared.
    if differ.iter().any(|path| service_of_file(path).is_none()) {
        return Ok(None);
    }
    let wanted: Vec<&git::TreeEntry> = differ.iter().filter_map(|path| tree.get(*path)).collect();
    let sizes = git::blob_sizes(root, wanted.iter().map(|e| e.oid.as_str()))?;
    if sizes.iter().any(|size| *size > MAX_FILE_BYTES) {
        return Ok(None);
    }
    let blobs = git::cat_blobs(root, wanted.iter().map(|e| e.oid.as_str()))?;
    let (mut old_side, mut new_side) = (Sources::default(), Sources::default());
    for (entry, bytes) in wanted.iter().zip(blobs) {
        let Ok(text) = String::from_utf8(bytes) else {
            return Ok(None);
        };
        old_side.insert(entry.path.clone(), text);
    }
    for (path, text) in new.iter() {
        if service_of_file(path).is_none() {
            old_side.insert(path, text);
            new_side.insert(path, text);
        } else if differ.contains(path) {
            new_side.insert(path, text);
        }
    }
    Ok(Some((old_side, new_side)))
}

/// The id git gives a blob of these bytes (SHA-1 object format).
fn blob_id(bytes: &[u8]) -> String {
    let mut hash = sha1_smol::Sha1::new();
    hash.update(format!("blob {}\0", bytes.len()).as_bytes());
    hash.update(bytes);
    hash.digest().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(super::blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
    }
}
