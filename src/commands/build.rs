use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{Format, Settings};
use crate::commands::noop;
use crate::compile::{Cache, Compiled, compile};
use crate::error::{Error, ExitStatus};
use crate::load::Sources;
use crate::paths::LOCK_FILE;
use crate::shard::Shard;
use crate::snapshot::{self, Counts, Layout, Purpose, RecordedLayout};
use crate::stat_cache::StatCache;
use crate::tree_cache::TreeCache;
use crate::write::WriteReport;
use crate::{report, write};

pub(crate) fn run(settings: &Settings, cache: Cache, shard: Option<Shard>) -> Result<ExitStatus, Error> {
    let start = Instant::now();
    let mut recorded = None;
    if cache == Cache::Use && shard.is_none() {
        match noop::unchanged(&settings.root, Purpose::Build) {
            Ok(counts) => {
                report_unchanged(settings, counts, start.elapsed());
                return Ok(ExitStatus::Ok);
            }
            Err(layout) => recorded = layout,
        }
    }
    let built = execute(settings, cache, shard, recorded)?;
    if settings.format == Format::Json {
        let c = &built.compiled;
        let fields = json!({
            "targets": c.targets,
            "services": c.services,
            "rendered": c.rendered,
            "objects": c.objects,
            "failed_targets": c.failed_targets,
            "written": built.written.written,
            "removed": built.written.removed,
            "unchanged": built.written.unchanged,
            "shared_inputs_broken": c.shared_broken,
        });
        report::json_result(fields, &c.diags);
    }
    report::warnings(settings, &built.compiled.warnings);
    report::diagnostics(settings, &built.compiled.sources, &built.compiled.diags);
    if built.compiled.shared_broken {
        report::shared_inputs_broken("nothing was written or removed");
        return Ok(ExitStatus::Errors);
    }
    report::status(settings, &built.summary());
    let status = match built.compiled.diags.is_empty() {
        true => ExitStatus::Ok,
        false => ExitStatus::Errors,
    };
    // The process ends next: freeing every source and target one by one
    // would only delay the pre-commit hook.
    std::mem::forget(built);
    Ok(status)
}

/// The fast path's report: the same summary (and JSON) as a full run that
/// found nothing to do.
fn report_unchanged(settings: &Settings, counts: Counts, elapsed: Duration) {
    if settings.format == Format::Json {
        let fields = json!({
            "targets": counts.targets,
            "services": counts.services,
            "rendered": 0,
            "objects": 0,
            "failed_targets": 0,
            "written": [],
            "removed": [],
            "unchanged": counts.files,
            "shared_inputs_broken": false,
        });
        report::json_result(fields, &[]);
    }
    report::status(
        settings,
        &format!(
            "built {} targets of {} services (0 rendered, 0 objects): 0 files written, 0 removed, {} unchanged in {:.0?}",
            counts.targets, counts.services, counts.files, elapsed
        ),
    );
}

/// One build's result, for `build` and `watch` to report their own way.
pub(crate) struct Built {
    pub(crate) compiled: Compiled,
    pub(crate) written: WriteReport,
    pub(crate) elapsed: Duration,
}

impl Built {
    pub(crate) fn summary(&self) -> String {
        let c = &self.compiled;
        let failed = if c.failed_targets > 0 {
            format!(", {} failed", c.failed_targets)
        } else {
            String::new()
        };
        format!(
            "built {} targets of {} services ({} rendered, {} objects{failed}): {} files written, {} removed, {} unchanged in {:.0?}",
            c.targets,
            c.services,
            c.rendered,
            c.objects,
            self.written.written.len(),
            self.written.removed.len(),
            self.written.unchanged,
            self.elapsed
        )
    }
}

/// Loads, compiles and writes under the repo's write lock. Errors here are
/// the ones that stop a build (unreadable repo, unwritable output);
/// catalog problems come back as diagnostics in `Built`.
/// `recorded`: the last clean run's target folders, which, once verified,
/// are all there is (see `Plan::on_disk`).
pub(crate) fn execute(
    settings: &Settings,
    cache: Cache,
    shard: Option<Shard>,
    recorded: Option<RecordedLayout>,
) -> Result<Built, Error> {
    let start = Instant::now();
    let started = snapshot::now();
    let Loaded {
        sources,
        on_disk,
        mut stat_cache,
        trees,
        lock,
    } = load(settings, cache, recorded)?;
    let mut compiled = compile(&settings.root, sources, cache, &stat_cache, shard);
    compiled.plan.on_disk = on_disk;
    if compiled.shared_broken {
        // Fail closed: not a file written, removed or even re-stated.
        return Ok(Built {
            compiled,
            written: WriteReport::default(),
            elapsed: start.elapsed(),
        });
    }
    // Without `generated/` at load there was nothing to guard; there is now.
    let _lock = match lock {
        Some(lock) => lock,
        None => take_lock(settings)?,
    };
    let stage = crate::timings::stage("write");
    crate::atomic::remove_temp_files(&settings.root);
    let written = match write::apply(&settings.root, &compiled.plan) {
        Ok(written) => written,
        Err(source) => {
            report::diagnostics(settings, &compiled.sources, &compiled.diags);
            return Err(Error::WriteOutput { source });
        }
    };
    let changed = learn(settings, &compiled, &written, &mut stat_cache);
    compiled.plan.release_settled_contents(&stat_cache, snapshot::now());
    crate::allocator::collect_freed();
    drop(stage);
    // Three local files, independent of one another: saved side by side.
    let save_caches = || {
        // Only speed-ups: failing to save one costs a re-read next time.
        if changed {
            let _stage = crate::timings::stage("write:cache");
            let _ = stat_cache.save(&settings.root);
        }
        if let Some(trees) = &trees {
            let _stage = crate::timings::stage("write:trees");
            trees.save(&settings.root);
        }
    };
    rayon::join(save_caches, || {
        noop::record(&settings.root, &compiled, &stat_cache, started)
    });
    Ok(Built {
        compiled,
        written,
        elapsed: start.elapsed(),
    })
}

/// What a build reads before it compiles, and the write lock it holds.
struct Loaded {
    sources: Sources,
    on_disk: Option<Layout>,
    stat_cache: StatCache,
    trees: Option<Arc<TreeCache>>,
    /// None when `generated/` did not exist: taken only once the build
    /// knows it will write, so a broken shared input in a new repo does not
    /// even create the folder.
    lock: Option<write::WriteLock>,
}

/// Reads the inputs, verifies the recorded layout and loads the local
/// caches side by side, then takes the write lock.
fn load(settings: &Settings, cache: Cache, recorded: Option<RecordedLayout>) -> Result<Loaded, Error> {
    let stage = crate::timings::stage("load");
    // The local caches load while the inputs are read: both are only
    // speed-ups, checked by stat or keyed by content, and read again below
    // if another process wrote while this one waited for the lock.
    let load_caches = || {
        let trees = (cache != Cache::Ignore).then(|| Arc::new(TreeCache::load(&settings.root)));
        (StatCache::load(&settings.root), trees)
    };
    // The recorded layout is verified alongside too: a few thousand folder
    // stats while the input walk keeps one core busy.
    let ((sources, on_disk), (mut stat_cache, mut trees)) = rayon::join(
        || {
            rayon::join(
                || Sources::from_dir(&settings.root),
                || recorded.and_then(|layout| layout.verify(&settings.root)),
            )
        },
        load_caches,
    );
    let mut sources = sources.map_err(|source| Error::ReadRepo {
        root: settings.shown_root.clone(),
        source,
    })?;
    drop(stage);
    let has_output = std::fs::symlink_metadata(settings.root.join(crate::paths::GENERATED_DIR)).is_ok();
    let lock = has_output.then(|| take_lock(settings)).transpose()?;
    // Another process wrote while this one waited: what was read of
    // `generated/` before the lock is older than that.
    let on_disk = match lock.as_ref().is_some_and(|lock| lock.waited) {
        true => {
            (stat_cache, trees) = load_caches();
            None
        }
        false => on_disk,
    };
    if let Some(trees) = &trees {
        sources.use_tree_cache(trees.clone());
    }
    Ok(Loaded {
        sources,
        on_disk,
        stat_cache,
        trees,
        lock,
    })
}

fn take_lock(settings: &Settings) -> Result<write::WriteLock, Error> {
    write::lock(&settings.root).map_err(|source| Error::Lock {
        file: LOCK_FILE,
        source,
    })
}

/// Records in the stat cache what this build wrote, verified or removed;
/// true when the cache changed.
fn learn(settings: &Settings, compiled: &Compiled, written: &WriteReport, stat_cache: &mut StatCache) -> bool {
    let pruned = stat_cache.retain_services(|name| compiled.service_names.contains(name));
    let changed =
        pruned || !compiled.fresh.is_empty() || !compiled.fresh_services.is_empty() || !written.removed.is_empty();
    if changed {
        stat_cache.reserve(compiled.fresh.len(), compiled.fresh_services.len());
        // Rendered targets were written or compared byte for byte by
        // `apply`; verified ones only matched their committed fingerprint.
        for (dir, inputs, trust) in &compiled.fresh {
            stat_cache.record(&settings.root, dir, *inputs, *trust);
        }
        for (name, key, dirs) in &compiled.fresh_services {
            stat_cache.record_service(name, *key, dirs.clone());
        }
        for path in &written.removed {
            if let Some((dir, _)) = path.rsplit_once('/') {
                stat_cache.forget(dir);
            }
        }
    }
    changed
}
