//! A local, uncommitted record of target folders whose files were last
//! seen whole, the way git's index tells a file it need not re-read. The one
//! proof `check` accepts that output is what stamp rendered on this machine.

use std::collections::HashMap;
use std::path::Path;

use crate::atomic::{is_real_dir, read_output, write_atomic};
use crate::binary::{Reader, put_hash, put_stat, put_str, put_u64};
pub(crate) use crate::file_stat::{Stat, stat};
use crate::paths::{GENERATED_DIR, STAT_CACHE_FILE, TARGET_FILES};

/// The stats of a target folder's three files, when all are regular files.
/// One path buffer for the three: this runs for every target of an edit.
pub(crate) fn stats(root: &Path, dir: &str) -> Option<[Stat; 3]> {
    let mut path = crate::paths::under(root, dir).into_owned();
    let mut stat_of = |file: &str| {
        path.push(file);
        let found = stat(&path);
        path.pop();
        found
    };
    match TARGET_FILES.map(&mut stat_of) {
        [Some(a), Some(b), Some(c)] => Some([a, b, c]),
        _ => None,
    }
}

/// Why the stat cache believes a target folder's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trust {
    /// stamp rendered the target here and wrote the files or compared them
    /// byte for byte: enough for `check`.
    Rendered,
    /// The committed fingerprint matched: enough for `build` to skip work,
    /// never proof for `check`.
    Hinted,
}

/// A local, uncommitted record of targets whose files were last seen whole:
/// their inputs hash, the stat of their three files and why they were
/// believed. A missing or stale cache just means files are read again.
#[derive(Default)]
pub(crate) struct StatCache {
    entries: HashMap<String, (blake3::Hash, [Stat; 3], Trust)>,
    /// Per service: a hash of its file and every shared input, and its
    /// target folders. A match skips even resolving the service.
    services: HashMap<String, (blake3::Hash, Vec<String>)>,
}

/// v2: entries say why they are trusted; a v1 entry may stand for a
/// committed fingerprint only, so it is never read as proof. v3: the stat
/// holds inode and change time. v4: binary (`binary.rs`).
const CACHE_MAGIC: &[u8; 18] = b"stamp-stat-cache\x00\x04";

impl StatCache {
    /// The cache as saved; empty when missing, of another version, or not whole.
    pub(crate) fn load(root: &Path) -> StatCache {
        read_output(&root.join(STAT_CACHE_FILE))
            .and_then(|bytes| StatCache::decode(&bytes))
            .unwrap_or_default()
    }

    fn decode(bytes: &[u8]) -> Option<StatCache> {
        let mut reader = Reader::new(bytes.strip_prefix(CACHE_MAGIC.as_slice())?);
        let mut cache = StatCache::default();
        // A folder's name length, inputs, trust and three stats at least.
        let count = reader.count(8 + 32 + 1 + 3 * 32)?;
        cache.entries.reserve(crate::binary::room(count));
        for _ in 0..count {
            let dir = reader.str()?;
            let inputs = reader.hash()?;
            let trust = match reader.u8()? {
                0 => Trust::Rendered,
                1 => Trust::Hinted,
                _ => return None,
            };
            let stats = [reader.stat()?, reader.stat()?, reader.stat()?];
            cache.entries.insert(dir, (inputs, stats, trust));
        }
        // A name's length, a key and a count of folders at least.
        let count = reader.count(8 + 32 + 8)?;
        cache.services.reserve(crate::binary::room(count));
        for _ in 0..count {
            let name = reader.str()?;
            let key = reader.hash()?;
            let dirs_count = reader.count(8)?;
            let mut dirs = Vec::with_capacity(crate::binary::room(dirs_count));
            for _ in 0..dirs_count {
                dirs.push(reader.str()?);
            }
            cache.services.insert(name, (key, dirs));
        }
        reader.is_empty().then_some(cache)
    }

    /// Whether the cache vouches for nothing (a first build, a fresh clone).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.services.is_empty()
    }

    /// Makes room for this many more target folders and services at once:
    /// a fresh clone's check records 36,000 folders at 10,000 services, and
    /// growing the table by doubling held both tables while it copied.
    pub(crate) fn reserve(&mut self, folders: usize, services: usize) {
        // Most may be here already (a warm run that re-rendered everything):
        // never room for more than the total.
        self.entries.reserve(folders.saturating_sub(self.entries.len()));
        self.services.reserve(services.saturating_sub(self.services.len()));
    }

    /// Records that `dir`'s files, as they are now, are what `inputs` renders to.
    pub(crate) fn record(&mut self, root: &Path, dir: &str, inputs: blake3::Hash, trust: Trust) {
        if let Some(stats) = stats(root, dir) {
            self.record_stats(dir, inputs, stats, trust);
        }
    }

    /// Records files whose stats were taken before they were read and compared.
    pub(crate) fn record_stats(&mut self, dir: &str, inputs: blake3::Hash, stats: [Stat; 3], trust: Trust) {
        self.entries.insert(dir.to_string(), (inputs, stats, trust));
    }

    /// What the cache recorded for a target folder: its files' stats and
    /// whether stamp rendered them here.
    pub(crate) fn entry(&self, dir: &str) -> Option<([Stat; 3], Trust)> {
        self.entries.get(dir).map(|(_, stats, trust)| (*stats, *trust))
    }

    pub(crate) fn forget(&mut self, dir: &str) {
        self.entries.remove(dir);
    }

    /// Drops entries of services no longer in the catalog; true if any was.
    pub(crate) fn retain_services(&mut self, keep: impl Fn(&str) -> bool) -> bool {
        let before = self.services.len();
        self.services.retain(|name, _| keep(name));
        self.services.len() != before
    }

    pub(crate) fn record_service(&mut self, name: &str, key: blake3::Hash, dirs: Vec<String>) {
        self.services.insert(name.to_string(), (key, dirs));
    }

    /// The target folders recorded for a service.
    pub(crate) fn service_dirs(&self, name: &str) -> &[String] {
        self.services.get(name).map_or(&[], |(_, dirs)| dirs.as_slice())
    }

    /// The service's target folders, when its key matches and every file of
    /// every folder still has the stat the cache recorded (and, when
    /// `rendered_only`, stamp rendered every folder itself).
    pub(crate) fn fresh_service_dirs(
        &self,
        root: &Path,
        name: &str,
        key: blake3::Hash,
        rendered_only: bool,
    ) -> Option<&[String]> {
        let (cached_key, dirs) = self.services.get(name)?;
        let fresh = *cached_key == key
            && dirs.iter().all(|dir| {
                self.entries.get(dir).is_some_and(|(_, stats, trust)| {
                    (!rendered_only || *trust == Trust::Rendered) && stats_match(root, dir, stats)
                })
            });
        fresh.then_some(dirs.as_slice())
    }

    /// Whether the cache vouches for `dir`'s files: rendered from `inputs`
    /// (by stamp itself, when `rendered_only`) and stat the same as then.
    pub(crate) fn vouches_for(&self, root: &Path, dir: &str, inputs: blake3::Hash, rendered_only: bool) -> bool {
        self.entries.get(dir).is_some_and(|(cached_inputs, stats, trust)| {
            *cached_inputs == inputs && (!rendered_only || *trust == Trust::Rendered) && stats_match(root, dir, stats)
        })
    }

    pub(crate) fn save(&self, root: &Path) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 160);
        out.extend_from_slice(CACHE_MAGIC);
        put_u64(&mut out, self.entries.len() as u64);
        for (dir, (inputs, stats, trust)) in &self.entries {
            put_str(&mut out, dir);
            put_hash(&mut out, inputs);
            out.push(match trust {
                Trust::Rendered => 0,
                Trust::Hinted => 1,
            });
            for stat in stats {
                put_stat(&mut out, stat);
            }
        }
        put_u64(&mut out, self.services.len() as u64);
        for (name, (key, dirs)) in &self.services {
            put_str(&mut out, name);
            put_hash(&mut out, key);
            put_u64(&mut out, dirs.len() as u64);
            for dir in dirs {
                put_str(&mut out, dir);
            }
        }
        // Never through a symlinked `generated/`, and never creating it.
        if !is_real_dir(&root.join(GENERATED_DIR)) {
            return Ok(());
        }
        write_atomic(&root.join(STAT_CACHE_FILE), &out)
    }
}

/// Whether the target folder's files all still have the recorded stats.
fn stats_match(root: &Path, dir: &str, recorded: &[Stat; 3]) -> bool {
    stats(root, dir).as_ref() == Some(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_cut_or_older_cache_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("generated")).unwrap();
        let stat = Stat {
            ino: 1,
            size: 2,
            mtime: 3,
            ctime: -4,
        };
        let mut cache = StatCache::default();
        cache.record_stats("generated/a/dev/eu", blake3::hash(b"in"), [stat; 3], Trust::Hinted);
        cache.record_service("a", blake3::hash(b"key"), vec!["generated/a/dev/eu".into()]);
        cache.save(root).unwrap();
        let loaded = StatCache::load(root);
        assert_eq!(loaded.entry("generated/a/dev/eu"), Some(([stat; 3], Trust::Hinted)));
        assert_eq!(loaded.service_dirs("a"), ["generated/a/dev/eu".to_string()]);
        let bytes = std::fs::read(root.join(STAT_CACHE_FILE)).unwrap();
        for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(StatCache::decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut older = bytes.clone();
        older[CACHE_MAGIC.len() - 1] = 3;
        assert!(StatCache::decode(&older).is_none());
    }

    /// The smallest items there are (an empty folder name, a service with
    /// no folders) round-trip: the counts' minimum sizes admit them.
    #[test]
    fn minimum_size_items_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("generated")).unwrap();
        let stat = Stat {
            ino: 0,
            size: 0,
            mtime: 0,
            ctime: 0,
        };
        let mut cache = StatCache::default();
        cache.record_stats("", blake3::hash(b""), [stat; 3], Trust::Rendered);
        cache.record_service("", blake3::hash(b""), Vec::new());
        cache.save(root).unwrap();
        let loaded = StatCache::load(root);
        assert_eq!(loaded.entry(""), Some(([stat; 3], Trust::Rendered)));
        assert!(loaded.service_dirs("").is_empty());
        assert!(loaded.services.contains_key(""));
    }

    /// A cache that is a symlink is never followed, wherever it points.
    #[cfg(unix)]
    #[test]
    fn a_symlinked_cache_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("generated")).unwrap();
        let mut cache = StatCache::default();
        cache.record_service("a", blake3::hash(b"key"), vec!["generated/a/dev/eu".into()]);
        cache.save(root).unwrap();
        std::fs::rename(root.join(STAT_CACHE_FILE), root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join(STAT_CACHE_FILE)).unwrap();
        assert!(StatCache::load(root).services.is_empty());
    }
}
