//! The no-op fast path of `build` and `check`: answer from the snapshot of
//! the last clean run when nothing moved (`snapshot.rs`), and take a new
//! snapshot after a clean run.

use std::collections::HashSet;
use std::path::Path;

use crate::compile::Compiled;
use crate::load::Sources;
use crate::paths::{GENERATED_DIR, TARGET_FILES, is_target_dir};
use crate::snapshot::{self, Counts, Layout, Purpose, Snapshot};
use crate::stat_cache::{StatCache, Trust};

/// The date policy exceptions are judged by: a snapshot holds for one day.
pub(crate) fn today() -> String {
    crate::catalog::policy_exceptions::today()
}

/// The last clean run's snapshot, when nothing it recorded has moved
/// since: `Ok(counts)`; else what it still knows of `generated/`'s folders.
pub(crate) fn unchanged(root: &Path, purpose: Purpose) -> Result<Counts, Option<Layout>> {
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
    let _stage = crate::timings::stage("snapshot");
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
    let outputs: Vec<&String> = plan.files.keys().chain(&plan.unchanged).collect();
    let mut checked = true;
    let mut snapshot = Snapshot::new(Counts {
        services: compiled.services as u64,
        targets: compiled.targets as u64,
        files: outputs.len() as u64,
    });
    if !snapshot.add_inputs(root, sources, started) || !snapshot.add_path(root, ".git/config", taken) {
        return None;
    }
    let mut folders = Vec::new();
    let mut target_folders = Vec::new();
    let mut last_dir = None;
    for path in outputs {
        let content = plan.files.get(path).map(String::as_bytes);
        let (dir, file) = path.rsplit_once('/')?;
        let vouched = match TARGET_FILES.iter().position(|f| *f == file) {
            Some(index) if is_target_dir(dir) => {
                let (stats, trust) = stat_cache.entry(dir)?;
                checked &= trust == Trust::Rendered;
                Some(stats[index])
            }
            _ => None,
        };
        if !snapshot.add_output(root, path, vouched, content, taken) {
            return None;
        }
        // Outputs come in two sorted runs (written, then unchanged), so a
        // folder's files are mostly next to each other; repeats go below.
        if last_dir != Some(dir) {
            last_dir = Some(dir);
            for folder in output_folders(dir).into_iter().flatten() {
                if folders.last() != Some(&folder) {
                    folders.push(folder);
                }
            }
            if is_target_dir(dir) {
                target_folders.push(dir);
            }
        }
    }
    for list in [&mut folders, &mut target_folders] {
        list.sort_unstable();
        list.dedup();
    }
    // Folders this run wrote a file straight into moved; a target folder
    // added or removed moved its parents.
    let written_in: HashSet<&str> = plan
        .files
        .keys()
        .filter_map(|p| p.rsplit_once('/'))
        .map(|(dir, _)| dir)
        .collect();
    let folders = snapshot.reuse_folders(plan.on_disk.as_ref(), &target_folders, folders, &written_in);
    for folder in &folders {
        if !snapshot.add_folder(root, folder, taken) {
            return None;
        }
    }
    snapshot.set_checked(checked);
    snapshot.set_generated_listing(snapshot::listing(&root.join(GENERATED_DIR))?);
    Some(snapshot)
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
