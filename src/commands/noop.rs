//! The no-op fast path of `build` and `check`: answer from the snapshot of
//! the last clean run when nothing moved (`snapshot.rs`), and take a new
//! snapshot after a clean run.

use std::path::Path;

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::compile::Compiled;
use crate::load::Sources;
use crate::paths::{GENERATED_DIR, TARGET_FILES, is_target_dir};
use crate::snapshot::{self, Counts, Entry, Purpose, RecordedLayout, Snapshot};
use crate::stat_cache::{StatCache, Trust};

/// The date policy exceptions are judged by: a snapshot holds for one day.
pub(crate) fn today() -> String {
    crate::catalog::policy_exceptions::today()
}

/// The last clean run's snapshot, when nothing it recorded has moved
/// since: `Ok(counts)`; else what it knew of `generated/`'s folders, to
/// verify (`RecordedLayout::verify`) before relying on it.
pub(crate) fn unchanged(root: &Path, purpose: Purpose) -> Result<Counts, Option<RecordedLayout>> {
    let _stage = crate::timings::stage("snapshot");
    let Some(recorded) = snapshot::load(root, &today()) else {
        return Err(None);
    };
    recorded.compare(root, purpose)
}

/// Records the snapshot after a run that ended clean (no diagnostic, every
/// target current, nothing kept back); removes any older one otherwise.
/// `started` is when the run began reading its inputs.
pub(crate) fn record(root: &Path, compiled: &Compiled, stat_cache: &StatCache, started: i64) {
    let _stage = crate::timings::stage("snapshot:record");
    let taken = snapshot::now();
    let clean = compiled.diags.is_empty()
        && !compiled.shared_broken
        && compiled.failed_targets == 0
        && compiled.plan.keep.is_empty()
        && compiled.plan.shard.is_none();
    match clean
        .then(|| take(root, &compiled.sources, compiled, stat_cache, started, taken))
        .flatten()
    {
        Some(snapshot) => snapshot.save(root, &today()),
        None => snapshot::forget(root),
    }
}

fn take(
    root: &Path,
    sources: &Sources,
    compiled: &Compiled,
    stat_cache: &StatCache,
    started: i64,
    taken: i64,
) -> Option<Snapshot> {
    let plan = &compiled.plan;
    // Written files with what was written, then the unchanged ones.
    let outputs: Vec<(&String, Option<&[u8]>)> = plan
        .files
        .iter()
        .map(|(path, content)| (path, Some(content.as_bytes())))
        .chain(plan.unchanged.iter().map(|path| (path, None)))
        .collect();
    let mut snapshot = Snapshot::new(Counts {
        services: compiled.services as u64,
        targets: compiled.targets as u64,
        files: outputs.len() as u64,
    });
    if !snapshot.add_inputs(root, sources, started) || !snapshot.add_path(root, ".git/config", taken) {
        return None;
    }
    let rendered = snapshot.add_outputs(|entries| output_entries(root, &outputs, stat_cache, taken, entries))?;
    let (folders, target_folders, written_in) = output_folder_lists(plan, &outputs);
    let folders = snapshot.reuse_folders(plan.on_disk.as_ref(), &target_folders, folders, &written_in);
    for folder in &folders {
        if !snapshot.add_folder(root, folder, taken) {
            return None;
        }
    }
    snapshot.set_checked(rendered);
    snapshot.set_generated_listing(snapshot::listing(&root.join(GENERATED_DIR))?);
    Some(snapshot)
}

/// Appends each output as the stat cache vouches for it (a target's files)
/// or as it is now to `entries`, in place; returns whether stamp rendered
/// every one here, None when one cannot be vouched for.
fn output_entries(
    root: &Path,
    outputs: &[(&String, Option<&[u8]>)],
    stat_cache: &StatCache,
    taken: i64,
    entries: &mut Vec<(String, Entry)>,
) -> Option<bool> {
    let start = entries.len();
    let failed = AtomicBool::new(false);
    let rendered = AtomicBool::new(true);
    // Written straight into the room `add_inputs` reserved: no
    // intermediate vectors for ~3 entries per target.
    entries.par_extend(outputs.par_iter().with_min_len(256).map(|&(path, content)| {
        let entry = (|| {
            let (dir, file) = path.rsplit_once('/')?;
            let vouched = match TARGET_FILES.iter().position(|f| *f == file) {
                Some(index) if is_target_dir(dir) => {
                    let (stats, trust) = stat_cache.entry(dir)?;
                    if trust != Trust::Rendered {
                        rendered.store(false, Ordering::Relaxed);
                    }
                    Some(stats[index])
                }
                _ => None,
            };
            snapshot::output_entry(root, path, vouched, content, taken)
        })();
        entry.unwrap_or_else(|| {
            failed.store(true, Ordering::Relaxed);
            (String::new(), Entry::Absent)
        })
    }));
    if failed.into_inner() {
        // No placeholder may outlive the failure in a snapshot.
        entries.truncate(start);
        return None;
    }
    Some(rendered.into_inner())
}

/// The service and environment folders above the outputs, the target
/// folders, and the folders this run wrote a file straight into; each
/// sorted and without repeats.
fn output_folder_lists<'p>(
    plan: &'p crate::write::Plan,
    outputs: &[(&'p String, Option<&[u8]>)],
) -> (Vec<&'p str>, Vec<&'p str>, Vec<&'p str>) {
    let mut folders = Vec::new();
    let mut target_folders = Vec::new();
    // The last folder taken at each level: outputs come in two sorted runs
    // (written, then unchanged), so repeats are mostly next to each other;
    // the rest go below.
    let mut last: [Option<&str>; 3] = [None; 3];
    for (path, _) in outputs {
        let Some((dir, _)) = path.rsplit_once('/') else {
            continue;
        };
        if last[2] == Some(dir) {
            continue;
        }
        last[2] = Some(dir);
        for (level, folder) in output_folders(dir).into_iter().enumerate() {
            if let Some(folder) = folder
                && last[level] != Some(folder)
            {
                last[level] = Some(folder);
                folders.push(folder);
            }
        }
        if is_target_dir(dir) {
            target_folders.push(dir);
        }
    }
    // A folder this run wrote a file straight into moved; a target folder
    // added or removed moved its parents.
    let mut written_in: Vec<&str> = plan
        .files
        .keys()
        .filter_map(|p| p.rsplit_once('/'))
        .map(|(dir, _)| dir)
        .collect();
    for list in [&mut folders, &mut target_folders, &mut written_in] {
        list.sort();
        list.dedup();
    }
    (folders, target_folders, written_in)
}

/// The service and environment folders above an output folder under
/// `generated/` (or the folder itself, for `generated/argocd`): an added
/// folder below one would be stale output to remove.
fn output_folders(dir: &str) -> [Option<&str>; 2] {
    let Some(rest) = dir.strip_prefix(GENERATED_DIR).and_then(|rest| rest.strip_prefix('/')) else {
        return [None, None];
    };
    let base = dir.len() - rest.len();
    let mut slashes = rest.match_indices('/').map(|(i, _)| base + i);
    match (slashes.next(), slashes.next()) {
        (None, _) => [Some(dir), None],
        (Some(service), None) => [Some(&dir[..service]), Some(dir)],
        (Some(service), Some(env)) => [Some(&dir[..service]), Some(&dir[..env])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_folders_are_the_service_and_environment_folders() {
        assert_eq!(
            output_folders("generated/web/prod/eu"),
            [Some("generated/web"), Some("generated/web/prod")]
        );
        assert_eq!(output_folders("generated/argocd"), [Some("generated/argocd"), None]);
        assert_eq!(output_folders("generated"), [None, None]);
        assert_eq!(output_folders(".github"), [None, None]);
    }
}
