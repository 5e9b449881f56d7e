//! A file's identity by stat, what the local caches compare instead of
//! reading the file.

use std::path::Path;

/// What says a file is the one seen before without reading it, the way
/// git's index does: inode, size, and modification and change times in
/// nanoseconds. A rewrite in place moves the change time even when the
/// modification time is set back; a file replaced by rename has a new inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Stat {
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    pub(crate) ctime: i64,
}

/// The running binary, as an absolute path, for the local caches' headers.
/// `current_exe` may give a relative one on some systems (macOS), which
/// stops naming the binary once `build` or `check` enter the repo root: the
/// first call comes before that.
pub(crate) fn binary_path() -> Option<&'static Path> {
    static BINARY: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| std::path::absolute(std::env::current_exe().ok()?).ok())
        .as_deref()
}

impl Stat {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt as _;
        Stat {
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ctime: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
        }
    }

    /// The later of the two times, in nanoseconds since the epoch.
    pub(crate) fn changed_at(&self) -> i64 {
        self.mtime.max(self.ctime)
    }
}

/// A regular file's stat; None for a symlink or anything else, so a
/// symlink can never match what the cache recorded.
pub(crate) fn stat(path: &Path) -> Option<Stat> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.is_file().then(|| Stat::of(&meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_is_named_by_an_absolute_path() {
        assert!(binary_path().is_some_and(Path::is_absolute));
    }
}
