//! Per-target fingerprints: what lets `build` skip a target without
//! rendering it.
//!
//! The inputs hash covers everything a target's output is a function of:
//! its resolved values (which already fold in the service file, profile,
//! size, environment, team and stamp.yaml entries it uses), the declarations
//! and templates of its archetype and components, and the stamp version. It
//! is stored beside the output with the hashes of the output files, never in
//! a shared state file, so two pull requests never touch the same file.
//!
//! A committed fingerprint is only a hint that lets `build` skip work: anyone
//! can edit a manifest and its fingerprint together. Only the local stat
//! cache may vouch for output, and only for what stamp itself rendered and
//! wrote or compared byte for byte on this machine (`Trust::Rendered`).

use std::collections::HashMap;
use std::path::Path;

use crate::blueprint::Blueprints;
use crate::emit::{MANIFESTS_FILE, TARGET_FILE};
use crate::resolve::Target;

pub const FILE: &str = ".stamp-fingerprint";
/// Bumped whenever the format or what is hashed changes, so an old file is
/// never misread as "nothing changed".
const FORMAT: &str = "stamp-fingerprint v1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub inputs: blake3::Hash,
    pub manifests: blake3::Hash,
    pub params: blake3::Hash,
}

pub fn inputs(target: &Target, blueprints: &Blueprints) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(target.service_file.as_bytes());
    serde_json::to_writer(&mut hasher, &target.values).expect("values serialize");
    hasher.update(blueprints.archetypes[&target.archetype].hash.as_bytes());
    for component in &target.components {
        hasher.update(blueprints.components[component].hash.as_bytes());
    }
    hasher.finalize()
}

impl Fingerprint {
    pub fn new(inputs: blake3::Hash, manifests: &str, params: &str) -> Fingerprint {
        Fingerprint {
            inputs,
            manifests: blake3::hash(manifests.as_bytes()),
            params: blake3::hash(params.as_bytes()),
        }
    }

    pub fn to_text(&self) -> String {
        format!(
            "{FORMAT}\ninputs {}\n{MANIFESTS_FILE} {}\n{TARGET_FILE} {}\n",
            self.inputs, self.manifests, self.params
        )
    }

    pub fn parse(text: &str) -> Option<Fingerprint> {
        let mut lines = text.lines();
        if lines.next()? != FORMAT {
            return None;
        }
        let mut field = |name: &str| -> Option<blake3::Hash> {
            let (key, hex) = lines.next()?.split_once(' ')?;
            (key == name).then(|| blake3::Hash::from_hex(hex).ok()).flatten()
        };
        Some(Fingerprint {
            inputs: field("inputs")?,
            manifests: field(MANIFESTS_FILE)?,
            params: field(TARGET_FILE)?,
        })
    }
}

/// The size and modification time of a file, the way git's index tells a
/// file it need not re-read.
pub type Stat = (u64, i128);

/// Generated files larger than this are never read: they cannot be stamp's
/// (output is bounded far below it), so they count as out of date.
pub const MAX_OUTPUT_READ: u64 = 256 << 20;

/// A regular file's stat; None for a symlink or anything else, so a
/// symlink can never match what the cache recorded.
fn stat(path: &Path) -> Option<Stat> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos() as i128;
    Some((meta.len(), mtime))
}

/// Reads a generated file if it is a regular file (never through a
/// symlink, never a FIFO or device) of a sane size.
pub fn read_output(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_OUTPUT_READ {
        return None;
    }
    std::fs::read(path).ok()
}

/// The stats of a target folder's three files, when all are regular files.
pub fn stats(root: &Path, dir: &str) -> Option<[Stat; 3]> {
    let full = root.join(dir);
    match FILES.map(|file| stat(&full.join(file))) {
        [Some(a), Some(b), Some(c)] => Some([a, b, c]),
        _ => None,
    }
}

/// Why the stat cache believes a target folder's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
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
pub struct StatCache {
    entries: HashMap<String, (blake3::Hash, [Stat; 3], Trust)>,
    /// Per service: a hash of its file and every shared input, and its
    /// target folders. A match skips even resolving the service.
    services: HashMap<String, (blake3::Hash, Vec<String>)>,
}

pub const CACHE_FILE: &str = "generated/.stamp-cache";
/// v2: entries say why they are trusted; a v1 entry may stand for a
/// committed fingerprint only, so it is never read as proof.
const CACHE_FORMAT: &str = "stamp-stat-cache v2";
/// The cache is a few hundred bytes per target: anything this big is not one.
const MAX_CACHE_READ: u64 = 64 << 20;
const FILES: [&str; 3] = [MANIFESTS_FILE, TARGET_FILE, FILE];

impl StatCache {
    pub fn load(root: &Path) -> StatCache {
        let mut cache = StatCache::default();
        let Some(text) = std::fs::symlink_metadata(root.join(CACHE_FILE))
            .ok()
            .filter(|meta| meta.is_file() && meta.len() <= MAX_CACHE_READ)
            .and_then(|_| std::fs::read_to_string(root.join(CACHE_FILE)).ok())
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
            let numbers: Vec<i128> = rest.iter().filter_map(|n| n.parse().ok()).collect();
            let (Ok(inputs), [s0, m0, s1, m1, s2, m2]) = (blake3::Hash::from_hex(inputs), numbers.as_slice()) else {
                continue;
            };
            let stats = [(*s0 as u64, *m0), (*s1 as u64, *m1), (*s2 as u64, *m2)];
            cache.entries.insert(dir.to_string(), (inputs, stats, trust));
        }
        cache
    }

    /// Records that `dir`'s files, as they are now, are what `inputs` renders to.
    pub fn record(&mut self, root: &Path, dir: &str, inputs: blake3::Hash, trust: Trust) {
        if let Some(stats) = stats(root, dir) {
            self.record_stats(dir, inputs, stats, trust);
        }
    }

    /// Records files whose stats were taken before they were read and compared.
    pub fn record_stats(&mut self, dir: &str, inputs: blake3::Hash, stats: [Stat; 3], trust: Trust) {
        self.entries.insert(dir.to_string(), (inputs, stats, trust));
    }

    pub fn forget(&mut self, dir: &str) {
        self.entries.remove(dir);
    }

    /// Drops entries of services no longer in the catalog; true if any was.
    pub fn retain_services(&mut self, keep: impl Fn(&str) -> bool) -> bool {
        let before = self.services.len();
        self.services.retain(|name, _| keep(name));
        self.services.len() != before
    }

    pub fn record_service(&mut self, name: &str, key: blake3::Hash, dirs: Vec<String>) {
        self.services.insert(name.to_string(), (key, dirs));
    }

    /// The target folders recorded for a service.
    pub fn service_dirs(&self, name: &str) -> &[String] {
        self.services.get(name).map_or(&[], |(_, dirs)| dirs.as_slice())
    }

    /// The service's target folders, when its key matches and every file of
    /// every folder still has the stat the cache recorded (and, when
    /// `rendered_only`, stamp rendered every folder itself).
    pub fn fresh_service_dirs(
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
                    (!rendered_only || *trust == Trust::Rendered) && {
                        let full = root.join(dir);
                        FILES
                            .iter()
                            .zip(stats)
                            .all(|(file, s)| stat(&full.join(file)) == Some(*s))
                    }
                })
            });
        fresh.then_some(dirs.as_slice())
    }

    pub fn save(&self, root: &Path) -> std::io::Result<()> {
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
            for (size, mtime) in stats {
                text.push_str(&format!(" {size} {mtime}"));
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
        if !crate::write::is_real_dir(&root.join("generated")) {
            return Ok(());
        }
        crate::write::write_atomic(&root.join(CACHE_FILE), text.as_bytes())
    }
}

/// A hash of every input except the service files: what a service's output
/// depends on besides its own file.
pub fn shared_inputs(sources: &crate::load::Sources) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    for (path, text) in sources
        .iter()
        .filter(|(path, _)| !path.starts_with(crate::catalog::SERVICES_DIR))
    {
        hasher.update(path.as_bytes());
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.finalize()
}

pub fn service_key(shared: blake3::Hash, path: &str, text: &str) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(shared.as_bytes());
    hasher.update(path.as_bytes());
    hasher.update(text.as_bytes());
    hasher.finalize()
}

/// Whether the target's output on disk is what `inputs` renders to, and
/// whether the answer came from reading the files (so the cache can learn it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// The stat cache vouches for the files.
    Cached,
    /// The files were read and hash to the committed fingerprint with these
    /// inputs: a hint for `build`, never proof.
    Verified,
    Stale,
}

/// With `rendered_only` (what `check` asks), only the stat cache's record
/// of what stamp rendered here counts; committed fingerprints are not read.
pub fn freshness(root: &Path, dir: &str, inputs: blake3::Hash, cache: &StatCache, rendered_only: bool) -> Freshness {
    let full = root.join(dir);
    if let Some((cached_inputs, stats, trust)) = cache.entries.get(dir)
        && *cached_inputs == inputs
        && (!rendered_only || *trust == Trust::Rendered)
        && FILES
            .iter()
            .zip(stats)
            .all(|(file, s)| stat(&full.join(file)) == Some(*s))
    {
        return Freshness::Cached;
    }
    if rendered_only {
        return Freshness::Stale;
    }
    let Some(stored) = read_output(&full.join(FILE))
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .as_deref()
        .and_then(Fingerprint::parse)
    else {
        return Freshness::Stale;
    };
    let hash_of = |file: &str| read_output(&full.join(file)).map(|bytes| blake3::hash(&bytes));
    if stored.inputs == inputs
        && hash_of(MANIFESTS_FILE) == Some(stored.manifests)
        && hash_of(TARGET_FILE) == Some(stored.params)
    {
        Freshness::Verified
    } else {
        Freshness::Stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_formats() {
        let fp = Fingerprint::new(blake3::hash(b"in"), "a", "b");
        assert_eq!(Fingerprint::parse(&fp.to_text()), Some(fp.clone()));
        let old = fp.to_text().replace("v1", "v0");
        assert_eq!(Fingerprint::parse(&old), None);
        assert_eq!(Fingerprint::parse("garbage"), None);
    }
}
