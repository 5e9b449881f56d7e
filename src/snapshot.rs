//! The no-op fast path: after a clean run, a binary record of the stat of
//! every input file and folder and every output file and folder. When every
//! one still stats the same, nothing a run would read has moved, and
//! `build` (or `check`) answers without parsing a service file or walking
//! `generated/`.
//!
//! It rests only on what stamp recorded on this machine: the stat key holds
//! inode, size, modification and change time; a file whose times fall within
//! `RACY_WINDOW` of when its stat was taken could still change unseen within
//! the same clock tick, so it is recorded with a content hash and re-hashed
//! each time (git's "racily clean" entries). The record also names the stamp
//! binary (its stat) and the day (policy exceptions expire), and is never
//! trusted if it cannot be decoded whole.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::atomic::{is_real_dir, read_output, write_atomic};
use crate::load::Sources;
use crate::paths::{GENERATED_DIR, SNAPSHOT_FILE, WRITING_MARKER};
use crate::stat_cache::Stat;

/// Bumped with any change to what is recorded or how: an older file then
/// reads as "unknown", never as "nothing changed".
const MAGIC: &[u8; 16] = b"stamp-snapshot\x00\x01";
/// Clock ticks of file times are coarse (a few ms); anything changed this
/// close to when its stat was taken is verified by content.
const RACY_WINDOW_NS: i64 = 50_000_000;
/// Far more than 100,000 services' worth of entries.
const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

/// What the fast path reports, recorded by the run that found nothing to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) services: u64,
    pub(crate) targets: u64,
    /// Output files, all unchanged.
    pub(crate) files: u64,
}

/// Which command may take the record as proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `build`: the outputs are what stamp wrote or took as current.
    Build,
    /// `check`: every target was rendered and compared on this machine.
    Check,
}

/// One path's recorded state.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    /// A regular file or folder with this stat; with a hash when racily clean.
    Present(Stat, Option<blake3::Hash>),
    Absent,
}

/// A snapshot being assembled by a run that ended clean.
#[derive(Default)]
pub(crate) struct Snapshot {
    counts: Counts,
    /// Every target was rendered and compared here (see `Purpose::Check`).
    checked: bool,
    entries: Vec<(String, Entry)>,
    /// The names in `generated/` (no dotfiles): its own times move with
    /// every cache write, so its listing is compared instead.
    generated: Vec<String>,
}

/// What identifies the run's circumstances besides the files.
fn header(today: &str) -> Option<Vec<u8>> {
    let exe = std::env::current_exe().ok()?;
    let exe = Stat::of(&std::fs::metadata(exe).ok()?);
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(MAGIC);
    put_str(&mut out, env!("CARGO_PKG_VERSION"));
    put_stat(&mut out, &exe);
    put_str(&mut out, today);
    Some(out)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Snapshot {
    pub(crate) fn new(counts: Counts) -> Snapshot {
        Snapshot {
            counts,
            ..Snapshot::default()
        }
    }

    /// The inputs as the run read them: stats taken before reading, and for
    /// a file changed within the racy window of `started` (the run's start),
    /// the hash of the text that was read. False when the inputs cannot be
    /// vouched for by stat (read through a symlink).
    pub(crate) fn add_inputs(&mut self, sources: &Sources, started: i64) -> bool {
        let Some(stats) = sources.input_stats() else {
            return false;
        };
        for (path, stat) in &stats.files {
            let Some(text) = sources.get(path) else { return false };
            let hash = (stat.changed_at() + RACY_WINDOW_NS >= started).then(|| blake3::hash(text.as_bytes()));
            self.entries.push((path.clone(), Entry::Present(*stat, hash)));
        }
        for (path, stat) in &stats.dirs {
            // A folder's content is its listing: a change moves its times
            // without a hash able to vouch for it.
            if stat.changed_at() + RACY_WINDOW_NS >= started {
                return false;
            }
            self.entries.push((path.clone(), Entry::Present(*stat, None)));
        }
        for path in &stats.absent {
            self.entries.push((path.clone(), Entry::Absent));
        }
        true
    }

    /// An output file as it is now. `vouched` is the stat the stat cache
    /// recorded when it last saw the file whole; `content` what this run
    /// wrote or compared. Without a vouched stat the file must hold
    /// `content`; a racily clean one must too, and is recorded with its hash.
    /// False when the file cannot be vouched for.
    pub(crate) fn add_output(
        &mut self,
        root: &Path,
        path: &str,
        vouched: Option<Stat>,
        content: Option<&[u8]>,
        taken: i64,
    ) -> bool {
        let Some(stat) = crate::stat_cache::stat(&root.join(path)) else {
            return false;
        };
        if vouched.is_some_and(|vouched| vouched != stat) {
            return false;
        }
        let racy = stat.changed_at() + RACY_WINDOW_NS >= taken;
        let hash = if racy || vouched.is_none() {
            let Some(content) = content else { return false };
            if read_output(&root.join(path)).as_deref() != Some(content) {
                return false;
            }
            racy.then(|| blake3::hash(content))
        } else {
            None
        };
        self.entries.push((path.to_string(), Entry::Present(stat, hash)));
        true
    }

    /// A folder (or a file such as `.git/config`) as it is now, or its
    /// absence. A racily clean folder is recorded with the hash of its
    /// listing, which is compared each time.
    pub(crate) fn add_path(&mut self, root: &Path, path: &str, taken: i64) -> bool {
        let full = root.join(path);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => false,
            Ok(meta) => {
                let stat = Stat::of(&meta);
                let racy = stat.changed_at() + RACY_WINDOW_NS >= taken;
                let hash = match (racy, meta.is_dir()) {
                    (false, _) => None,
                    (true, true) => match listing_hash(&full) {
                        Some(hash) => Some(hash),
                        None => return false,
                    },
                    (true, false) => match read_output(&full) {
                        Some(bytes) => Some(blake3::hash(&bytes)),
                        None => return false,
                    },
                };
                self.entries.push((path.to_string(), Entry::Present(stat, hash)));
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                self.entries.push((path.to_string(), Entry::Absent));
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn set_checked(&mut self, checked: bool) {
        self.checked = checked;
    }

    pub(crate) fn set_generated_listing(&mut self, names: Vec<String>) {
        self.generated = names;
    }

    /// Writes the record; `today` is the date policy exceptions are judged by.
    pub(crate) fn save(&self, root: &Path, today: &str) {
        let Some(mut out) = header(today) else { return };
        put_u64(&mut out, self.counts.services);
        put_u64(&mut out, self.counts.targets);
        put_u64(&mut out, self.counts.files);
        out.push(u8::from(self.checked));
        put_u64(&mut out, self.generated.len() as u64);
        for name in &self.generated {
            put_str(&mut out, name);
        }
        put_u64(&mut out, self.entries.len() as u64);
        for (path, entry) in &self.entries {
            put_str(&mut out, path);
            match entry {
                Entry::Absent => out.push(0),
                Entry::Present(stat, None) => {
                    out.push(1);
                    put_stat(&mut out, stat);
                }
                Entry::Present(stat, Some(hash)) => {
                    out.push(2);
                    put_stat(&mut out, stat);
                    out.extend_from_slice(hash.as_bytes());
                }
            }
        }
        if is_real_dir(&root.join(GENERATED_DIR)) {
            // Only a speed-up: failing to save it costs a full run next time.
            let _ = write_atomic(&root.join(SNAPSHOT_FILE), &out);
        }
    }
}

/// Removes the record: whatever runs next takes the full path.
pub(crate) fn forget(root: &Path) {
    let path = root.join(SNAPSHOT_FILE);
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        let _ = std::fs::remove_file(path);
    }
}

/// The counts of the last clean run, when nothing it recorded has moved
/// since and the record may serve `purpose`.
pub(crate) fn unchanged(root: &Path, purpose: Purpose, today: &str) -> Option<Counts> {
    let path = root.join(SNAPSHOT_FILE);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SNAPSHOT_BYTES || root.join(WRITING_MARKER).exists() {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    let expected_header = header(today)?;
    let mut reader = Reader {
        bytes: bytes.strip_prefix(expected_header.as_slice())?,
    };
    let counts = Counts {
        services: reader.u64()?,
        targets: reader.u64()?,
        files: reader.u64()?,
    };
    let checked = reader.u8()? == 1;
    if purpose == Purpose::Check && !checked {
        return None;
    }
    let mut generated = Vec::new();
    for _ in 0..reader.len()? {
        generated.push(reader.str()?);
    }
    let mut entries = Vec::new();
    for _ in 0..reader.len()? {
        let path = reader.str()?;
        let entry = match reader.u8()? {
            0 => Entry::Absent,
            1 => Entry::Present(reader.stat()?, None),
            2 => Entry::Present(reader.stat()?, Some(reader.hash()?)),
            _ => return None,
        };
        entries.push((path, entry));
    }
    if !reader.bytes.is_empty() || listing(&root.join(GENERATED_DIR))? != generated {
        return None;
    }
    entries
        .par_iter()
        .with_min_len(256)
        .all(|(path, entry)| still(root, path, entry))
        .then_some(counts)
}

/// Whether a recorded path is as recorded.
fn still(root: &Path, path: &str, entry: &Entry) -> bool {
    let full = root.join(path);
    match (std::fs::symlink_metadata(&full), entry) {
        (Err(e), Entry::Absent) => {
            matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            )
        }
        (Ok(meta), Entry::Present(stat, hash)) => {
            let content = |hash: &blake3::Hash| match meta.is_dir() {
                true => listing_hash(&full).as_ref() == Some(hash),
                false => read_output(&full).is_some_and(|bytes| blake3::hash(&bytes) == *hash),
            };
            !meta.file_type().is_symlink() && Stat::of(&meta) == *stat && hash.as_ref().is_none_or(content)
        }
        _ => false,
    }
}

/// The names in a folder, sorted, without dotfiles; None if it cannot be listed.
pub(crate) fn listing(dir: &Path) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let name = entry.ok()?.file_name().into_string().ok()?;
        if !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort_unstable();
    Some(names)
}

/// A folder's listing, as a hash: the content of a racily clean folder.
fn listing_hash(dir: &Path) -> Option<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    for name in listing(dir)? {
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
    }
    Some(hasher.finalize())
}

pub(crate) fn now() -> i64 {
    now_ns()
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_stat(out: &mut Vec<u8>, s: &Stat) {
    put_u64(out, s.ino);
    put_u64(out, s.size);
    put_u64(out, s.mtime as u64);
    put_u64(out, s.ctime as u64);
}

/// Decodes what `Snapshot::save` wrote; every read is bounds-checked, so a
/// truncated or garbled file is just "unknown".
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A count, bounded by what the rest of the file could hold.
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    fn str(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn stat(&mut self) -> Option<Stat> {
        Some(Stat {
            ino: self.u64()?,
            size: self.u64()?,
            mtime: self.u64()? as i64,
            ctime: self.u64()? as i64,
        })
    }

    fn hash(&mut self) -> Option<blake3::Hash> {
        Some(blake3::Hash::from_bytes(self.take(32)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_or_garbled_record_is_never_read_as_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("generated/api")).unwrap();
        std::fs::write(root.join("stamp.yaml"), "x").unwrap();
        let mut snapshot = Snapshot::new(Counts {
            services: 1,
            targets: 2,
            files: 3,
        });
        std::fs::create_dir_all(root.join("catalog")).unwrap();
        // Racily clean: recorded with its listing's hash.
        assert!(snapshot.add_path(root, "catalog", now_ns()));
        assert!(snapshot.add_path(root, "policies", now_ns()));
        snapshot.set_generated_listing(vec!["api".into()]);
        snapshot.save(root, "2026-01-01");
        let full = std::fs::read(root.join(SNAPSHOT_FILE)).unwrap();
        assert_eq!(unchanged(root, Purpose::Build, "2026-01-01"), Some(snapshot.counts));
        assert_eq!(unchanged(root, Purpose::Check, "2026-01-01"), None, "not checked");
        for cut in [0, 10, full.len() / 2, full.len() - 1] {
            std::fs::write(root.join(SNAPSHOT_FILE), &full[..cut]).unwrap();
            assert_eq!(unchanged(root, Purpose::Build, "2026-01-01"), None, "cut at {cut}");
        }
        let mut longer = full.clone();
        longer.push(0);
        std::fs::write(root.join(SNAPSHOT_FILE), &longer).unwrap();
        assert_eq!(unchanged(root, Purpose::Build, "2026-01-01"), None);
        std::fs::write(root.join(SNAPSHOT_FILE), &full).unwrap();
        assert_eq!(unchanged(root, Purpose::Build, "2026-01-02"), None, "another day");
    }
}
