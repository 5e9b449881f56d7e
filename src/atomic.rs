//! Atomic file writes: a temporary file beside the target, renamed over it,
//! so a reader (or a crash) never sees half a file; and the safety checks
//! that keep every write out of symlinks.

use std::io::{self, Write as _};
use std::path::Path;

use crate::paths::{GENERATED_DIR, WRITING_MARKER};

/// Prefix and suffix of the temporary files; `.gitignore` in `generated/` names them.
const TEMP_PREFIX: &str = ".stamp-";
const TEMP_SUFFIX: &str = ".tmp";

/// A folder itself, not a symlink to one.
pub(crate) fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Reads a file that must be a regular one: a symlink, FIFO or device
/// (which could hang or point outside the repo) is an error, never opened.
pub(crate) fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::other(format!("`{}` is not a regular file", path.display())));
    }
    std::fs::read(path)
}

/// Generated files larger than this are never read: they cannot be stamp's
/// (output is bounded far below it), so they count as out of date. The
/// local caches under `generated/` are read by the same bound (a few
/// hundred bytes per target: far more than 100,000 services' worth).
pub(crate) const MAX_OUTPUT_READ: u64 = 256 << 20;

/// Reads a generated file (or a local cache) if it is a regular file of a
/// sane size: opened without following a symlink or blocking on a FIFO,
/// then checked by its handle, so one path lookup per file (a fresh-clone
/// `check` reads every committed file).
pub(crate) fn read_output(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Never a controlling terminal, should a device stand in the path.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    #[cfg(not(unix))]
    if !std::fs::symlink_metadata(path).ok()?.is_file() {
        return None;
    }
    let file = options.open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_OUTPUT_READ {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_OUTPUT_READ + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= MAX_OUTPUT_READ).then_some(bytes)
}

/// Removes a symlink stamp is about to replace with its own file, so
/// opening the path can never reach what the link points at.
pub(crate) fn remove_symlink(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(path),
        _ => Ok(()),
    }
}

/// Writes through a temporary file in the same folder and renames it over
/// the target, so a reader (or a crash) never sees half a file.
pub(crate) fn write_atomic(path: &Path, content: &[u8]) -> io::Result<()> {
    let dir = path.parent().expect("output paths always have a parent");
    std::fs::create_dir_all(dir)?;
    stage_and_rename(dir, path, content)
}

/// Writes `content` to a new file in `temp_dir` and renames it to `path`;
/// both folders exist and are on one file system.
pub(crate) fn stage_and_rename(temp_dir: &Path, path: &Path, content: &[u8]) -> io::Result<()> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    // tempfile creates 0600; generated files are for everyone to read.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut temp = builder.tempfile_in(temp_dir)?;
    temp.write_all(content)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Leftover temporary files of an interrupted run. Files written outside a
/// build's plan (CODEOWNERS, the stat cache) stage at the top of their
/// folder, so only there is looked unless the previous run left its marker.
/// A symlinked top folder is never walked: what it leads to is not ours.
pub(crate) fn remove_temp_files(root: &Path) {
    let is_temp = |name: &str, is_dir: bool| name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) && !is_dir;
    let remove_deep = |top: &Path, max_depth: usize| {
        if !is_real_dir(top) {
            return;
        }
        // walkdir does not follow symlinks unless asked: a linked folder is
        // an entry, never entered.
        for entry in walkdir::WalkDir::new(top)
            .min_depth(1)
            .max_depth(max_depth)
            .into_iter()
            .flatten()
        {
            if is_temp(&entry.file_name().to_string_lossy(), entry.file_type().is_dir()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    };
    // One listing, not a walk: walkdir opens every folder it meets, even
    // at its maximum depth (a thousand service folders).
    let remove_top = |top: &Path| {
        if !is_real_dir(top) {
            return;
        }
        for entry in std::fs::read_dir(top).into_iter().flatten().flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_temp(&entry.file_name().to_string_lossy(), is_dir) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    };
    remove_top(&root.join(".github"));
    if root.join(WRITING_MARKER).exists() {
        remove_deep(&root.join(GENERATED_DIR), 4);
    } else {
        remove_top(&root.join(GENERATED_DIR));
    }
}
