//! A local, uncommitted record of target folders whose files were last
//! seen whole, the way git's index tells a file it need not re-read. The one
//! proof `check` accepts that output is what stamp rendered on this machine.

use std::collections::HashMap;
use std::path::Path;

use crate::atomic::{is_real_dir, write_atomic};
use crate::paths::{GENERATED_DIR, STAT_CACHE_FILE, TARGET_FILES};

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

/// The stats of a target folder's three files, when all are regular files.
pub(crate) fn stats(root: &Path, dir: &str) -> Option<[Stat; 3]> {
    let full = root.join(dir);
    match TARGET_FILES.map(|file| stat(&full.join(file))) {
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
/// holds inode and change time too.
const CACHE_FORMAT: &str = "stamp-stat-cache v3";
/// The cache is a few hundred bytes per target: anything this big is not one.
const MAX_CACHE_READ: u64 = 64 << 20;

impl StatCache {
    pub(crate) fn load(root: &Path) -> StatCache {
        let mut cache = StatCache::default();
        let Some(text) = std::fs::symlink_metadata(root.join(STAT_CACHE_FILE))
            .ok()
            .filter(|meta| meta.is_file() && meta.len() <= MAX_CACHE_READ)
            .and_then(|_| std::fs::read_to_string(root.join(STAT_CACHE_FILE)).ok())
        else {
            return cache;
        };
        let mut lines = text.lines();
        if lines.next() != Some(CACHE_FORMAT) {
            return cache;
        }
        for line in lines {
            if let Some(rest) = line.strip_prefix("service ") {
                let mut fields = rest.split(' ');
                let (Some(name), Some(Ok(key))) = (fields.next(), fields.next().map(blake3::Hash::from_hex)) else {
                    continue;
                };
                cache
                    .services
                    .insert(name.to_string(), (key, fields.map(String::from).collect()));
                continue;
            }
            let fields: Vec<&str> = line.split(' ').collect();
            let [dir, inputs, trust, rest @ ..] = fields.as_slice() else {
                continue;
            };
            let trust = match *trust {
                "rendered" => Trust::Rendered,
                "hinted" => Trust::Hinted,
                _ => continue,
            };
            let numbers: Vec<i64> = rest.iter().filter_map(|n| n.parse().ok()).collect();
            let (Ok(inputs), [a @ .., b0, b1, b2, b3, c0, c1, c2, c3]) =
                (blake3::Hash::from_hex(inputs), numbers.as_slice())
            else {
                continue;
            };
            let [a0, a1, a2, a3] = a else { continue };
            let stat = |ino: i64, size: i64, mtime: i64, ctime: i64| Stat {
                ino: ino as u64,
                size: size as u64,
                mtime,
                ctime,
            };
            let stats = [
                stat(*a0, *a1, *a2, *a3),
                stat(*b0, *b1, *b2, *b3),
                stat(*c0, *c1, *c2, *c3),
            ];
            cache.entries.insert(dir.to_string(), (inputs, stats, trust));
        }
        cache
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
                    (!rendered_only || *trust == Trust::Rendered) && stats_match(&root.join(dir), stats)
                })
            });
        fresh.then_some(dirs.as_slice())
    }

    /// Whether the cache vouches for `dir`'s files: rendered from `inputs`
    /// (by stamp itself, when `rendered_only`) and stat the same as then.
    pub(crate) fn vouches_for(&self, root: &Path, dir: &str, inputs: blake3::Hash, rendered_only: bool) -> bool {
        self.entries.get(dir).is_some_and(|(cached_inputs, stats, trust)| {
            *cached_inputs == inputs
                && (!rendered_only || *trust == Trust::Rendered)
                && stats_match(&root.join(dir), stats)
        })
    }

    pub(crate) fn save(&self, root: &Path) -> std::io::Result<()> {
        let mut dirs: Vec<&String> = self.entries.keys().collect();
        dirs.sort();
        let mut text = format!("{CACHE_FORMAT}\n");
        for dir in dirs {
            let (inputs, stats, trust) = &self.entries[dir];
            let trust = match trust {
                Trust::Rendered => "rendered",
                Trust::Hinted => "hinted",
            };
            text.push_str(&format!("{dir} {inputs} {trust}"));
            for s in stats {
                text.push_str(&format!(" {} {} {} {}", s.ino, s.size, s.mtime, s.ctime));
            }
            text.push('\n');
        }
        let mut names: Vec<&String> = self.services.keys().collect();
        names.sort();
        for name in names {
            let (key, dirs) = &self.services[name];
            text.push_str(&format!("service {name} {key}"));
            for dir in dirs {
                text.push(' ');
                text.push_str(dir);
            }
            text.push('\n');
        }
        // Never through a symlinked `generated/`, and never creating it.
        if !is_real_dir(&root.join(GENERATED_DIR)) {
            return Ok(());
        }
        write_atomic(&root.join(STAT_CACHE_FILE), text.as_bytes())
    }
}

/// Whether the target folder's files all still have the recorded stats.
fn stats_match(dir: &Path, stats: &[Stat; 3]) -> bool {
    TARGET_FILES
        .iter()
        .zip(stats)
        .all(|(file, s)| stat(&dir.join(file)) == Some(*s))
}
