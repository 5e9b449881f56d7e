//! Bringing the disk in line with what was rendered: atomic writes, unchanged
//! files left alone, stale output removed, and nothing touched outside
//! `generated/` and `.github/CODEOWNERS`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::Path;

use rayon::prelude::*;
use walkdir::{DirEntry, WalkDir};

use crate::atomic::{is_real_dir, read_regular, remove_symlink, stage_and_rename};
use crate::diagnostic::{Diagnostic, Pos};
use crate::emit::GENERATED_HEADER;
use crate::paths::{
    GENERATED_DIR, LOCK_FILE, MANIFESTS_FILE, TARGET_FILES, WRITING_MARKER, is_target_dir, target_dir, target_files,
};
use crate::shard::Shard;
use crate::stat_cache::StatCache;
use crate::timings;

/// What the repo's generated files should be.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Repo-relative path → content.
    pub(crate) files: BTreeMap<String, String>,
    /// Files known to be up to date on disk (by fingerprint); left alone.
    pub(crate) unchanged: BTreeSet<String>,
    /// When set, only this shard's services' folders are this run's to clean.
    pub(crate) shard: Option<Shard>,
    /// The target folders known to be all there is under `generated/`
    /// (the last clean run's, when no folder there has moved since): stale
    /// ones are found among them without walking `generated/`.
    pub(crate) on_disk: Option<crate::snapshot::Layout>,
    /// Path prefixes whose files on disk are kept as they are (the last good
    /// output of a failing service, or of a file whose inputs are broken).
    pub(crate) keep: BTreeSet<String>,
}

impl Plan {
    /// A plan that writes nothing and keeps every file stamp may own.
    pub(crate) fn keep_everything() -> Plan {
        Plan {
            keep: ["generated/".to_string(), ".github/".to_string()].into(),
            ..Plan::default()
        }
    }

    /// Frees the text of each target file whose stat, as `stat_cache`
    /// vouches for it, is already settled at `now`. What runs after the
    /// write or comparison reads a target file's text only while its stat
    /// is racy (`snapshot::output_entry`, at a later time than `now`), so
    /// the local caches and the snapshot then reuse this memory (~215 MB at
    /// 10,000 services) instead of adding to it.
    pub(crate) fn release_settled_contents(&mut self, stat_cache: &StatCache, now: i64) {
        self.files.par_iter_mut().for_each(|(path, content)| {
            let Some((dir, file)) = path.rsplit_once('/') else {
                return;
            };
            let Some(index) = TARGET_FILES.iter().position(|f| *f == file) else {
                return;
            };
            let settled = is_target_dir(dir)
                && stat_cache
                    .entry(dir)
                    .is_some_and(|(stats, _)| crate::snapshot::settled(&stats[index], now));
            if settled {
                *content = String::new();
            }
        });
    }

    pub(crate) fn is_kept(&self, path: &str) -> bool {
        self.keep.iter().any(|prefix| path.starts_with(prefix.as_str()))
    }

    /// Never write through a symlink: finds every symlink (or other
    /// non-regular entry) on the way to a file the plan writes, drops the
    /// files of the unit it sits in (a service's folder, the ApplicationSets,
    /// CODEOWNERS) and keeps that unit as it is. One diagnostic per entry.
    pub(crate) fn refuse_unsafe_paths(&mut self, root: &Path) -> Vec<Diagnostic> {
        // One service folder's files at a time, side by side: a fresh-clone
        // `check` plans every file, ~110,000 at 10,000 services. Each split
        // keeps its own record of the folders it saw.
        let paths: Vec<&str> = self.files.keys().map(String::as_str).collect();
        let groups: Vec<&[&str]> = paths.chunk_by(|a, b| service_folder(a) == service_folder(b)).collect();
        let found: BTreeMap<String, Entry> = groups
            .par_iter()
            .fold(
                || (HashMap::new(), Vec::new()),
                |(mut kinds, mut found), group| {
                    first_unsafe_parts(root, group, &mut kinds, &mut found);
                    (kinds, found)
                },
            )
            .flat_map_iter(|(_, found)| found)
            .collect();
        let mut diags = Vec::new();
        for (part, kind) in found {
            let parts: Vec<&str> = part.splitn(3, '/').collect();
            let unit = parts[..parts.len().min(2)].join("/");
            let prefix = if self.files.contains_key(&unit) {
                unit
            } else {
                format!("{unit}/")
            };
            self.files.retain(|path, _| !path.starts_with(&prefix));
            self.keep.insert(prefix);
            let message = match kind {
                Entry::Symlink => format!("`{part}` is a symbolic link; stamp never writes through one"),
                Entry::NotFile => format!("`{part}` is not a regular file, so stamp cannot write it"),
                Entry::NotDir => format!("`{part}` is not a folder, so stamp cannot write into it"),
                Entry::Fine | Entry::Missing => unreachable!("only problems are recorded"),
            };
            diags.push(Diagnostic::new(&part, Pos::START, message).with_hint(format!(
                "remove `{part}`; stamp writes its own files and folders there, and left this output as it was"
            )));
        }
        diags
    }

    /// Files stamp wrote earlier that the plan no longer has. Folders of
    /// current targets are not opened: nothing in them is stale.
    pub(crate) fn stale_files(&self, root: &Path) -> io::Result<Vec<String>> {
        let current: HashSet<&str> = self
            .files
            .keys()
            .chain(&self.unchanged)
            .filter_map(|path| path.rsplit_once('/').map(|(dir, _)| dir))
            .collect();
        let generated = root.join(GENERATED_DIR);
        // Never list (let alone remove) files through a symlinked `generated/`.
        if !is_real_dir(&generated) {
            return Ok(Vec::new());
        }
        let gone = |dir: &str| !current.contains(dir) && !self.is_kept(&format!("{dir}/"));
        let mut stale = self.stale_shared_files(root)?;
        if let Some(layout) = &self.on_disk {
            for dir in layout.target_folders.iter().filter(|dir| gone(dir)) {
                stale.extend(stale_target_files(root, dir));
            }
            return Ok(in_folder_order(stale));
        }
        let per_service: Vec<io::Result<Vec<String>>> = read_dir_names(&generated)?
            .par_iter()
            .filter(|service| *service != "argocd" && self.shard.is_none_or(|shard| shard.owns(service)))
            .map(|service| {
                let mut stale = Vec::new();
                for (env, region) in target_dirs(&generated.join(service))? {
                    let dir = target_dir(service, &env, &region);
                    if gone(&dir) {
                        stale.extend(stale_target_files(root, &dir));
                    }
                }
                Ok(stale)
            })
            .collect();
        for files in per_service {
            stale.extend(files?);
        }
        Ok(in_folder_order(stale))
    }

    /// ApplicationSet files stamp wrote that this plan no longer has.
    fn stale_shared_files(&self, root: &Path) -> io::Result<Vec<String>> {
        if self.shard.is_some_and(|shard| !shard.owns_shared_files()) {
            return Ok(Vec::new());
        }
        let mut stale = Vec::new();
        for file in read_dir_names(&root.join(GENERATED_DIR).join("argocd"))? {
            let path = format!("generated/argocd/{file}");
            if file.ends_with(".yaml")
                && !self.files.contains_key(&path)
                && !self.is_kept(&path)
                && has_header(&root.join(&path))
            {
                stale.push(path);
            }
        }
        Ok(stale)
    }
}

/// Sorted by folder, name by name (`web` before `web-2`), a folder's own
/// files kept in their order.
fn in_folder_order(mut paths: Vec<String>) -> Vec<String> {
    paths.sort_by(|a, b| {
        let folder = |p: &str| p.rsplit_once('/').map_or("", |(dir, _)| dir).to_string();
        folder(a).split('/').cmp(folder(b).split('/'))
    });
    paths
}

/// A removed target's files, if its folder holds stamp's output.
fn stale_target_files(root: &Path, dir: &str) -> Vec<String> {
    if !has_header(&root.join(dir).join(MANIFESTS_FILE)) {
        return Vec::new();
    }
    target_files(dir)
        .into_iter()
        .filter(|path| std::fs::symlink_metadata(root.join(path)).is_ok_and(|m| m.is_file()))
        .collect()
}

#[derive(Debug, Default)]
pub(crate) struct WriteReport {
    pub(crate) written: Vec<String>,
    pub(crate) removed: Vec<String>,
    pub(crate) unchanged: usize,
}

pub(crate) fn apply(root: &Path, plan: &Plan) -> io::Result<WriteReport> {
    // Found before writing: the write adds only current folders, which are
    // never stale, and a cold build then has no `generated/` to walk.
    let stage = timings::stage("write:stale");
    let stale = plan.stale_files(root)?;
    drop(stage);
    let stage = timings::stage("write:dirs");
    // Marks that temporary files may exist until this run finishes; the
    // next run only looks for leftovers when it finds the marker.
    let marker = root.join(WRITING_MARKER);
    if !plan.files.is_empty() {
        std::fs::create_dir_all(marker.parent().expect("the marker lives in generated/"))?;
        remove_symlink(&marker)?;
        std::fs::write(&marker, b"")?;
    }
    // Folders first, once each and on every core, then the files. A file in
    // a folder made just now cannot exist yet: no need to read it first.
    let new_dirs = create_dirs(root, plan)?;
    drop(stage);
    let stage = timings::stage("write:files");
    let outcomes = write_files(root, plan, &new_dirs);
    let mut report = WriteReport {
        unchanged: plan.unchanged.len(),
        ..WriteReport::default()
    };
    for (path, outcome) in plan.files.keys().zip(outcomes) {
        if outcome? {
            report.written.push(path.clone());
        } else {
            report.unchanged += 1;
        }
    }
    drop(stage);
    let _stage = timings::stage("write:remove");
    for path in stale {
        std::fs::remove_file(root.join(&path))?;
        remove_empty_parents(root, &path);
        report.removed.push(path);
    }
    if !plan.files.is_empty() {
        std::fs::remove_file(&marker)?;
    }
    Ok(report)
}

/// Creates the plan's folders, once each and on every core; returns those
/// made just now.
fn create_dirs<'p>(root: &Path, plan: &'p Plan) -> io::Result<HashSet<&'p str>> {
    let dirs: BTreeSet<&str> = plan
        .files
        .keys()
        .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d))
        .collect();
    let created: Vec<io::Result<Option<&str>>> = dirs
        .par_iter()
        .map(|dir| match std::fs::create_dir(root.join(dir)) {
            Ok(()) => Ok(Some(*dir)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(root.join(dir))?;
                Ok(Some(*dir))
            }
            Err(e) => Err(e),
        })
        .collect();
    let mut new_dirs = HashSet::new();
    for dir in created {
        new_dirs.extend(dir?);
    }
    Ok(new_dirs)
}

/// Writes each planned file whose bytes differ, on every core: whether it
/// was written, in `plan.files` order.
fn write_files(root: &Path, plan: &Plan, new_dirs: &HashSet<&str>) -> Vec<io::Result<bool>> {
    plan.files
        .par_iter()
        .map(|(path, content)| {
            let full = root.join(path);
            let in_new_dir = path.rsplit_once('/').is_some_and(|(dir, _)| new_dirs.contains(dir));
            match if in_new_dir {
                Err(io::ErrorKind::NotFound.into())
            } else {
                read_regular(&full)
            } {
                Ok(existing) if existing == content.as_bytes() => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            // Staged beside the file: a rename within one folder does not
            // take the file system's global cross-folder rename lock.
            stage_and_rename(
                full.parent().expect("output paths have a parent"),
                &full,
                content.as_bytes(),
            )?;
            Ok(true)
        })
        .collect()
}

/// `generated/<service>` of a path under it, else the path itself.
fn service_folder(path: &str) -> &str {
    match path.match_indices('/').nth(1) {
        Some((end, _)) => &path[..end],
        None => path,
    }
}

/// Adds to `found` the first part of each path (a folder above it, or the
/// file) that stamp may not write through; nothing below a missing folder
/// is looked at. `kinds` remembers each part looked at.
fn first_unsafe_parts<'p>(
    root: &Path,
    paths: &[&'p str],
    kinds: &mut HashMap<&'p str, Entry>,
    found: &mut Vec<(String, Entry)>,
) {
    for path in paths {
        let ends = path.match_indices('/').map(|(i, _)| i).chain([path.len()]);
        for end in ends {
            let part = &path[..end];
            let is_file = end == path.len();
            let kind = *kinds
                .entry(part)
                .or_insert_with(|| Entry::of(&crate::paths::under(root, part), is_file));
            if kind == Entry::Missing {
                break;
            }
            if kind != Entry::Fine {
                found.push((part.to_string(), kind));
                break;
            }
        }
    }
}

/// What is on disk where the plan wants a folder or a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Missing,
    Fine,
    Symlink,
    NotFile,
    NotDir,
}

impl Entry {
    fn of(path: &Path, want_file: bool) -> Entry {
        match std::fs::symlink_metadata(path) {
            Err(_) => Entry::Missing,
            Ok(meta) if meta.file_type().is_symlink() => Entry::Symlink,
            Ok(meta) if want_file && !meta.is_file() => Entry::NotFile,
            Ok(meta) if !want_file && !meta.is_dir() => Entry::NotDir,
            Ok(_) => Entry::Fine,
        }
    }
}

/// Removes the now-empty folders between a removed file and `generated/`.
fn remove_empty_parents(root: &Path, path: &str) {
    let mut dir = Path::new(path).parent();
    while let Some(d) = dir {
        if d.as_os_str().is_empty() || d == Path::new(GENERATED_DIR) || d == Path::new(".github") {
            break;
        }
        // Fails, as intended, when the folder still holds anything.
        if std::fs::remove_dir(root.join(d)).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// The names of the folders and regular files right in `dir`, sorted, no
/// dotfiles; a missing folder has none.
fn read_dir_names(dir: &Path) -> io::Result<Vec<String>> {
    Ok(listing(dir, 1, |entry| entry.file_type().is_file())?
        .into_iter()
        .filter_map(|entry| entry.file_name().to_str().map(String::from))
        .collect())
}

/// The `env/region` folders under a service's output folder, sorted.
fn target_dirs(service_dir: &Path) -> io::Result<Vec<(String, String)>> {
    let mut dirs = Vec::new();
    for entry in listing(service_dir, 2, |_| false)? {
        let mut parts = entry.path().iter().rev().map(|p| p.to_string_lossy().into_owned());
        if let (Some(region), Some(env)) = (parts.next(), parts.next()) {
            dirs.push((env, region));
        }
    }
    Ok(dirs)
}

/// The entries `depth` levels below `dir` that are real folders, or files
/// `also` accepts, walking only real folders without a dot or a name that
/// is not UTF-8: walkdir does not follow symlinks below `dir`. A missing
/// `dir` (or a file there) has none.
fn listing(dir: &Path, depth: usize, also: impl Fn(&DirEntry) -> bool) -> io::Result<Vec<DirEntry>> {
    let mut found = Vec::new();
    let entries = WalkDir::new(dir)
        .min_depth(depth)
        .max_depth(depth)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || (e.file_name().to_str().is_some_and(|n| !n.starts_with('.'))
                    && (e.file_type().is_dir() || (e.depth() == depth && also(e))))
        });
    for entry in entries {
        match entry {
            Ok(entry) => found.push(entry),
            Err(e)
                if e.depth() == 0
                    && e.io_error().is_some_and(|e| {
                        matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
                    }) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(found)
}

fn has_header(path: &Path) -> bool {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut buf = [0u8; GENERATED_HEADER.len()];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .is_ok_and(|_| buf == GENERATED_HEADER.as_bytes())
}

/// Holds the repo's write lock until dropped, so two stamp processes (a
/// watch and a pre-commit hook) never interleave their writes.
pub(crate) struct WriteLock {
    _file: std::fs::File,
    /// Another process held the lock first: what it wrote is newer than
    /// anything read before.
    pub(crate) waited: bool,
}

/// Takes the write lock, saying so on stderr when another process holds it.
pub(crate) fn lock(root: &Path) -> io::Result<WriteLock> {
    let path = root.join(LOCK_FILE);
    let generated = path.parent().expect("the lock lives in generated/");
    if std::fs::symlink_metadata(generated).is_ok_and(|m| !m.is_dir()) {
        return Err(io::Error::other(
            "`generated` is a symbolic link or not a folder; stamp never writes through one\nhint: remove it; stamp creates `generated/` itself",
        ));
    }
    std::fs::create_dir_all(generated)?;
    remove_symlink(&path)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    let waited = match file.try_lock() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("waiting for another stamp process to finish writing (`{LOCK_FILE}` is locked)");
            file.lock()?;
            true
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    };
    Ok(WriteLock { _file: file, waited })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_stat::Stat;
    use crate::paths::TARGET_FILE;
    use crate::stat_cache::Trust;

    /// Only a target file whose recorded stat is settled loses its text: a
    /// racy one is compared by content when the snapshot is taken, and a
    /// file outside a target folder is never vouched for by its stat.
    #[test]
    fn only_settled_target_files_are_released() {
        let now = 10_000_000_000;
        let stat = |changed_at| Stat {
            ino: 1,
            size: 4,
            mtime: changed_at - 5,
            ctime: changed_at,
        };
        let (settled, racy) = (stat(now - 1_000_000_000), stat(now - 1_000_000));
        let inputs = blake3::hash(b"inputs");
        let mut stat_cache = StatCache::default();
        stat_cache.record_stats("generated/a/dev/eu", inputs, [settled; 3], Trust::Rendered);
        stat_cache.record_stats("generated/b/dev/eu", inputs, [settled, racy, settled], Trust::Rendered);
        let mut plan = Plan::default();
        for dir in ["generated/a/dev/eu", "generated/b/dev/eu", "generated/c/dev/eu"] {
            plan.files
                .extend(target_files(dir).map(|path| (path, "text".to_string())));
        }
        plan.files
            .insert("generated/argocd/applicationsets.yaml".into(), "text".into());
        // A file named like a target file, in a folder that is not one.
        plan.files
            .insert(format!("generated/a/dev/{TARGET_FILE}"), "text".into());
        plan.release_settled_contents(&stat_cache, now);
        let kept: Vec<&str> = plan
            .files
            .iter()
            .filter(|(_, text)| !text.is_empty())
            .map(|(path, _)| path.as_str())
            .collect();
        let mut expected = vec![
            "generated/argocd/applicationsets.yaml".to_string(),
            format!("generated/a/dev/{TARGET_FILE}"),
            format!("generated/b/dev/eu/{TARGET_FILE}"),
        ];
        expected.extend(target_files("generated/c/dev/eu"));
        expected.sort();
        assert_eq!(kept, expected);
    }
}
