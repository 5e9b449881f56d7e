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
use crate::binary::{Reader, put_hash, put_stat, put_str, put_u64};
use crate::file_stat::Stat;
use crate::load::{InputStats, Sources};
use crate::paths::{GENERATED_DIR, SNAPSHOT_FILE, WRITING_MARKER, is_target_dir};

/// Bumped with any change to what is recorded or how: an older file then
/// reads as "unknown", never as "nothing changed".
const MAGIC: &[u8; 16] = b"stamp-snapshot\x00\x01";
/// Clock ticks of file times are coarse (a few ms); anything changed this
/// close to when its stat was taken is verified by content.
const RACY_WINDOW_NS: i64 = 50_000_000;

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
pub(crate) enum Entry {
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
    /// The service and environment folders under `generated/`: while they
    /// stat the same, no target folder was added or removed.
    folders: Vec<(String, Entry)>,
    /// The names in `generated/` (no dotfiles): its own times move with
    /// every cache write, so its listing is compared instead.
    generated: Vec<String>,
}

/// What identifies the run's circumstances besides the files.
fn header(today: &str) -> Option<Vec<u8>> {
    let exe = Stat::of(&std::fs::metadata(crate::file_stat::binary_path()?).ok()?);
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(MAGIC);
    put_str(&mut out, env!("CARGO_PKG_VERSION"));
    put_stat(&mut out, &exe);
    put_str(&mut out, today);
    Some(out)
}

/// Now, in nanoseconds since the epoch: the clock file times are set by.
pub(crate) fn now() -> i64 {
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
    /// the hash of the text that was read; for such a folder, the hash of
    /// its listing when it still lists what the run read. False when the
    /// inputs cannot be vouched for by stat (read through a symlink).
    pub(crate) fn add_inputs(&mut self, root: &Path, sources: &Sources, started: i64) -> bool {
        let Some(stats) = sources.input_stats() else {
            return false;
        };
        // A few single paths (`add_path`) and the outputs follow
        // (`add_outputs`): room for all, once.
        let inputs = stats.files.len() + stats.dirs.len() + stats.absent.len();
        self.entries.reserve(inputs + 8 + self.counts.files as usize);
        for (path, stat) in &stats.files {
            let Some(text) = sources.get(path) else { return false };
            let hash = (!settled(stat, started)).then(|| blake3::hash(text.as_bytes()));
            self.entries.push((path.clone(), Entry::Present(*stat, hash)));
        }
        for (path, stat) in &stats.dirs {
            // A folder's content is its listing. An editor's save (write and
            // rename) right before the run leaves it racy: vouch for it by
            // the names the run read, if the folder still lists just those.
            let hash = match !settled(stat, started) {
                true => match read_listing(root, path, stats) {
                    Some(hash) => Some(hash),
                    None => return false,
                },
                false => None,
            };
            self.entries.push((path.clone(), Entry::Present(*stat, hash)));
        }
        for path in &stats.absent {
            self.entries.push((path.clone(), Entry::Absent));
        }
        true
    }

    /// Output files' entries, as `output_entry` makes them, appended by
    /// `add` in place; what `add` returns.
    pub(crate) fn add_outputs<T>(&mut self, add: impl FnOnce(&mut Vec<(String, Entry)>) -> T) -> T {
        add(&mut self.entries)
    }

    /// Records, of `folders`, those `layout` holds that this run did not
    /// move: it added or removed no target folder (`target_folders` are
    /// the layout's) and wrote no file directly in them (`written_in`),
    /// and that a stat alone vouched for.
    /// All three lists are sorted and without repeats. Returns the folders it
    /// did not record.
    pub(crate) fn reuse_folders<'f>(
        &mut self,
        layout: Option<&Layout>,
        target_folders: &[&str],
        folders: Vec<&'f str>,
        written_in: &[&str],
    ) -> Vec<&'f str> {
        let Some(layout) = layout.filter(|layout| {
            layout.target_folders.len() == target_folders.len()
                && layout
                    .target_folders
                    .iter()
                    .all(|dir| target_folders.binary_search(&dir.as_str()).is_ok())
        }) else {
            return folders;
        };
        let mut reused = vec![false; folders.len()];
        for (dir, entry) in &layout.folders {
            // A folder recorded racily clean is compared by listing until
            // it is recorded again: re-take it, or it stays racy for good.
            if matches!(entry, Entry::Present(_, Some(_))) || written_in.binary_search(&dir.as_str()).is_ok() {
                continue;
            }
            if let Ok(at) = folders.binary_search(&dir.as_str())
                && !reused[at]
            {
                reused[at] = true;
                self.folders.push((dir.clone(), entry.clone()));
            }
        }
        folders
            .into_iter()
            .zip(reused)
            .filter_map(|(folder, reused)| (!reused).then_some(folder))
            .collect()
    }

    /// An output folder, as `add_path` records it.
    pub(crate) fn add_folder(&mut self, root: &Path, path: &str, taken: i64) -> bool {
        let Some(entry) = entry_now(root, path, taken) else {
            return false;
        };
        self.folders.push((path.to_string(), entry));
        true
    }

    /// A folder (or a file such as `.git/config`) as it is now, or its
    /// absence. A racily clean folder is recorded with the hash of its
    /// listing, which is compared each time.
    pub(crate) fn add_path(&mut self, root: &Path, path: &str, taken: i64) -> bool {
        let Some(entry) = entry_now(root, path, taken) else {
            return false;
        };
        self.entries.push((path.to_string(), entry));
        true
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
        // Paths average well under 50 bytes; a stat and a tag take 41.
        out.reserve((self.entries.len() + self.folders.len() + self.generated.len()) * 96);
        put_u64(&mut out, self.counts.services);
        put_u64(&mut out, self.counts.targets);
        put_u64(&mut out, self.counts.files);
        out.push(u8::from(self.checked));
        put_u64(&mut out, self.generated.len() as u64);
        for name in &self.generated {
            put_str(&mut out, name);
        }
        put_entries(&mut out, &self.folders);
        put_entries(&mut out, &self.entries);
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

/// A snapshot as read back.
pub(crate) struct Recorded {
    counts: Counts,
    checked: bool,
    generated: Vec<String>,
    folders: Vec<(String, Entry)>,
    entries: Vec<(String, Entry)>,
}

/// The last clean run's snapshot, if there is one this binary wrote today.
pub(crate) fn load(root: &Path, today: &str) -> Option<Recorded> {
    if root.join(WRITING_MARKER).exists() {
        return None;
    }
    let bytes = read_output(&root.join(SNAPSHOT_FILE))?;
    let expected_header = header(today)?;
    let mut reader = Reader::new(bytes.strip_prefix(expected_header.as_slice())?);
    let counts = Counts {
        services: reader.u64()?,
        targets: reader.u64()?,
        files: reader.u64()?,
    };
    let checked = reader.u8()? == 1;
    let mut generated = Vec::new();
    for _ in 0..reader.len()? {
        generated.push(reader.str()?);
    }
    let folders = read_entries(&mut reader)?;
    let entries = read_entries(&mut reader)?;
    reader.is_empty().then_some(Recorded {
        counts,
        checked,
        generated,
        folders,
        entries,
    })
}

/// `generated/`'s folders as the last clean run recorded them, when they
/// still stat the same: no target folder was added or removed since.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// The target folders under `generated/`: all there is.
    pub(crate) target_folders: Vec<String>,
    /// The service and environment folders, as recorded.
    folders: Vec<(String, Entry)>,
}

/// The last clean run's layout of `generated/`, not yet compared with the
/// folders as they are: a build verifies it while it reads its inputs.
#[derive(Debug)]
pub(crate) struct RecordedLayout {
    layout: Layout,
    generated: Vec<String>,
}

impl RecordedLayout {
    /// The layout, when `generated/` lists the same names and its service
    /// and environment folders still stat the same.
    pub(crate) fn verify(self, root: &Path) -> Option<Layout> {
        let holds = listing(&root.join(GENERATED_DIR)).as_ref() == Some(&self.generated)
            && all_still(root, &self.layout.folders);
        holds.then_some(self.layout)
    }
}

impl Recorded {
    /// The counts of the last clean run, when nothing it recorded has moved
    /// since and the record may serve `purpose`; else its layout, still to
    /// be verified. Outputs and inputs are compared first: when one moved
    /// (an edit), the folders are left for the build to stat alongside
    /// other work.
    pub(crate) fn compare(self, root: &Path, purpose: Purpose) -> Result<Counts, Option<RecordedLayout>> {
        if (purpose == Purpose::Build || self.checked) && all_still(root, &self.entries) {
            let holds =
                listing(&root.join(GENERATED_DIR)).as_ref() == Some(&self.generated) && all_still(root, &self.folders);
            return if holds { Ok(self.counts) } else { Err(None) };
        }
        let target_folders = self
            .entries
            .iter()
            .filter_map(|(path, _)| path.strip_suffix(TARGET_MARKER_FILE))
            .filter(|dir| is_target_dir(dir))
            .map(String::from)
            .collect();
        Err(Some(RecordedLayout {
            layout: Layout {
                target_folders,
                folders: self.folders,
            },
            generated: self.generated,
        }))
    }
}

/// Every target folder has this file, right below the folder.
const TARGET_MARKER_FILE: &str = "/manifests.yaml";

/// Whether a file with `stat` was changed long enough before `at` that any
/// later change shows in its stat: its content need not be compared then.
pub(crate) fn settled(stat: &Stat, at: i64) -> bool {
    stat.changed_at() + RACY_WINDOW_NS < at
}

/// An output file's entry. `vouched` is the stat the stat cache recorded
/// when it last saw the file whole; `content` what this run wrote or
/// compared. Without a vouched stat the file must hold `content`; a racily
/// clean one must too, and is recorded with its hash. None when the file
/// cannot be vouched for.
pub(crate) fn output_entry(
    root: &Path,
    path: &str,
    vouched: Option<Stat>,
    content: Option<&[u8]>,
    taken: i64,
) -> Option<(String, Entry)> {
    // A vouched stat was compared with the file (or taken right after
    // writing it) during this run: recording it without a new `stat` is
    // safe, as a file changed since no longer matches it.
    let stat = vouched.or_else(|| crate::file_stat::stat(&crate::paths::under(root, path)))?;
    let racy = !settled(&stat, taken);
    let hash = if racy || vouched.is_none() {
        let content = content?;
        if read_output(&crate::paths::under(root, path)).as_deref() != Some(content) {
            return None;
        }
        racy.then(|| blake3::hash(content))
    } else {
        None
    };
    Some((path.to_string(), Entry::Present(stat, hash)))
}

fn all_still(root: &Path, entries: &[(String, Entry)]) -> bool {
    entries
        .par_iter()
        .with_min_len(256)
        .all(|(path, entry)| still(root, path, entry))
}

/// `path` as it is now (taken at `taken`), or None when it cannot be
/// vouched for (a symlink, an unreadable file or folder).
fn entry_now(root: &Path, path: &str, taken: i64) -> Option<Entry> {
    let full = crate::paths::under(root, path);
    match std::fs::symlink_metadata(&full) {
        Ok(meta) if meta.file_type().is_symlink() => None,
        Ok(meta) => {
            let stat = Stat::of(&meta);
            let racy = !settled(&stat, taken);
            let hash = match (racy, meta.is_dir()) {
                (false, _) => None,
                (true, true) => Some(listing_hash(&full)?),
                (true, false) => Some(blake3::hash(&read_output(&full)?)),
            };
            Some(Entry::Present(stat, hash))
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Some(Entry::Absent)
        }
        Err(_) => None,
    }
}

/// Whether a recorded path is as recorded.
fn still(root: &Path, path: &str, entry: &Entry) -> bool {
    let full = crate::paths::under(root, path);
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
    Some(names_hash(&listing(dir)?))
}

fn names_hash(names: &[impl AsRef<str>]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    for name in names {
        hasher.update(name.as_ref().as_bytes());
        hasher.update(b"\0");
    }
    hasher.finalize()
}

/// The hash of input folder `dir`'s listing as the run read it (the files
/// and folders it read there), if the folder lists exactly those now: a
/// name added or removed since the read leaves it unvouched.
fn read_listing(root: &Path, dir: &str, stats: &InputStats) -> Option<blake3::Hash> {
    let prefix = format!("{dir}/");
    let mut read: Vec<&str> = (stats.files.iter().chain(&stats.dirs))
        .filter_map(|(path, _)| path.strip_prefix(&prefix))
        .filter(|name| !name.contains('/'))
        .collect();
    read.sort_unstable();
    let now = listing(&root.join(dir))?;
    (now == read).then(|| names_hash(&now))
}

fn put_entries(out: &mut Vec<u8>, entries: &[(String, Entry)]) {
    put_u64(out, entries.len() as u64);
    for (path, entry) in entries {
        put_str(out, path);
        match entry {
            Entry::Absent => out.push(0),
            Entry::Present(stat, None) => {
                out.push(1);
                put_stat(out, stat);
            }
            Entry::Present(stat, Some(hash)) => {
                out.push(2);
                put_stat(out, stat);
                put_hash(out, hash);
            }
        }
    }
}

/// A list of entries as `put_entries` wrote it.
fn read_entries(reader: &mut Reader<'_>) -> Option<Vec<(String, Entry)>> {
    // A path's length and a tag at least. Sized up front: a vector grown by
    // doubling touches about twice its final memory, and fresh memory costs
    // a page fault per page.
    let count = reader.count(9)?;
    let mut entries = Vec::with_capacity(crate::binary::room(count));
    for _ in 0..count {
        let path = reader.str()?;
        let entry = match reader.u8()? {
            0 => Entry::Absent,
            1 => Entry::Present(reader.stat()?, None),
            2 => Entry::Present(reader.stat()?, Some(reader.hash()?)),
            _ => return None,
        };
        entries.push((path, entry));
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_reused_only_when_this_run_moved_none() {
        let stat = Stat {
            ino: 1,
            size: 2,
            mtime: 3,
            ctime: 4,
        };
        let layout = Layout {
            target_folders: vec!["generated/a/prod/eu".into(), "generated/argocd/x/y".into()],
            folders: vec![
                ("generated/a".into(), Entry::Present(stat, None)),
                ("generated/a/prod".into(), Entry::Present(stat, None)),
                ("generated/argocd".into(), Entry::Present(stat, None)),
            ],
        };
        let targets = ["generated/a/prod/eu", "generated/argocd/x/y"];
        let folders = || vec!["generated/a", "generated/a/prod", "generated/argocd"];
        let written_in = ["generated/a/prod/eu", "generated/argocd"];
        let mut snapshot = Snapshot::default();
        let rest = snapshot.reuse_folders(Some(&layout), &targets, folders(), &written_in);
        assert_eq!(rest, ["generated/argocd"], "a file was written straight into it");
        assert_eq!(snapshot.folders.len(), 2);
        // One recorded racily clean is taken again, no longer racy.
        let mut racy = Layout {
            target_folders: layout.target_folders.clone(),
            folders: layout.folders.clone(),
        };
        racy.folders[0].1 = Entry::Present(stat, Some(blake3::hash(b"a listing")));
        let mut snapshot = Snapshot::default();
        let rest = snapshot.reuse_folders(Some(&racy), &targets, folders(), &written_in);
        assert_eq!(rest, ["generated/a", "generated/argocd"]);
        // A target folder added (or removed) moved its parents: stat them all.
        let mut snapshot = Snapshot::default();
        let added = ["generated/a/prod/eu", "generated/a/prod/us", "generated/argocd/x/y"];
        assert_eq!(
            snapshot.reuse_folders(Some(&layout), &added, folders(), &written_in),
            folders()
        );
        assert_eq!(
            snapshot.reuse_folders(None, &targets, folders(), &written_in),
            folders()
        );
        assert!(snapshot.folders.is_empty());
    }

    #[test]
    fn a_racy_input_folder_is_vouched_for_only_by_what_the_run_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("catalog/services/deep")).unwrap();
        for name in ["a.yaml", "b.yaml"] {
            std::fs::write(root.join("catalog/services").join(name), "x").unwrap();
        }
        let stat = || Stat::of(&std::fs::metadata(root.join("catalog/services")).unwrap());
        let read = |names: &[&str]| InputStats {
            files: names
                .iter()
                .map(|n| (format!("catalog/services/{n}"), stat()))
                .collect(),
            dirs: vec![
                ("catalog/services".into(), stat()),
                ("catalog/services/deep".into(), stat()),
            ],
            absent: vec![],
        };
        let hash = read_listing(root, "catalog/services", &read(&["a.yaml", "b.yaml"]));
        assert_eq!(hash, listing_hash(&root.join("catalog/services")));
        assert!(hash.is_some());
        // A file the run did not read (added after it listed the folder).
        assert_eq!(read_listing(root, "catalog/services", &read(&["a.yaml"])), None);
        // A file the run read that is gone.
        std::fs::remove_file(root.join("catalog/services/b.yaml")).unwrap();
        assert_eq!(
            read_listing(root, "catalog/services", &read(&["a.yaml", "b.yaml"])),
            None
        );
    }

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
        assert!(snapshot.add_path(root, "catalog", now()));
        assert!(snapshot.add_path(root, "policies", now()));
        snapshot.set_generated_listing(vec!["api".into()]);
        snapshot.save(root, "2026-01-01");
        let full = std::fs::read(root.join(SNAPSHOT_FILE)).unwrap();
        assert_eq!(
            load(root, "2026-01-01").and_then(|r| r.compare(root, Purpose::Build).ok()),
            Some(snapshot.counts)
        );
        assert_eq!(
            load(root, "2026-01-01").and_then(|r| r.compare(root, Purpose::Check).ok()),
            None,
            "not checked"
        );
        for cut in [0, 10, full.len() / 2, full.len() - 1] {
            std::fs::write(root.join(SNAPSHOT_FILE), &full[..cut]).unwrap();
            assert_eq!(
                load(root, "2026-01-01").and_then(|r| r.compare(root, Purpose::Build).ok()),
                None,
                "cut at {cut}"
            );
        }
        let mut longer = full.clone();
        longer.push(0);
        std::fs::write(root.join(SNAPSHOT_FILE), &longer).unwrap();
        assert_eq!(
            load(root, "2026-01-01").and_then(|r| r.compare(root, Purpose::Build).ok()),
            None
        );
        std::fs::write(root.join(SNAPSHOT_FILE), &full).unwrap();
        assert_eq!(
            load(root, "2026-01-02").and_then(|r| r.compare(root, Purpose::Build).ok()),
            None,
            "another day"
        );
    }
}
