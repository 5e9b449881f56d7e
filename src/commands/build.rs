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
use crate::snapshot::{self, Counts, Purpose};
use crate::stat_cache::StatCache;
use crate::tree_cache::TreeCache;
use crate::write::WriteReport;
use crate::{report, write};

pub(crate) fn run(settings: &Settings, cache: Cache, shard: Option<Shard>) -> Result<ExitStatus, Error> {
    let start = Instant::now();
    let mut on_disk = None;
    if cache == Cache::Use && shard.is_none() {
        match noop::unchanged(&settings.root, Purpose::Build) {
            Ok(counts) => {
                report_unchanged(settings, counts, start.elapsed());
                return Ok(ExitStatus::Ok);
            }
            Err(folders) => on_disk = folders,
        }
    }
    let built = execute(settings, cache, shard, on_disk)?;
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
/// `on_disk`: the target folders known to be all there is (see `Plan::on_disk`).
pub(crate) fn execute(
    settings: &Settings,
    cache: Cache,
    shard: Option<Shard>,
    on_disk: Option<crate::snapshot::Layout>,
) -> Result<Built, Error> {
    let start = Instant::now();
    let started = snapshot::now();
    let stage = crate::timings::stage("load");
    let mut sources = Sources::from_dir(&settings.root).map_err(|source| Error::ReadRepo {
        root: settings.root.clone(),
        source,
    })?;
    drop(stage);
    let _lock = write::lock(&settings.root).map_err(|source| Error::Lock {
        file: LOCK_FILE,
        source,
    })?;
    let stage = crate::timings::stage("cache");
    let mut stat_cache = StatCache::load(&settings.root);
    let trees = (cache != Cache::Ignore).then(|| Arc::new(TreeCache::load(&settings.root)));
    if let Some(trees) = &trees {
        sources.use_tree_cache(trees.clone());
    }
    drop(stage);
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
    let stage = crate::timings::stage("write");
    crate::atomic::remove_temp_files(&settings.root);
    let written = match write::apply(&settings.root, &compiled.plan) {
        Ok(written) => written,
        Err(source) => {
            report::diagnostics(settings, &compiled.sources, &compiled.diags);
            return Err(Error::WriteOutput { source });
        }
    };
    // The files just written or verified need not be read again next time.
    let pruned = stat_cache.retain_services(|name| compiled.service_names.contains(name));
    if pruned || !compiled.fresh.is_empty() || !compiled.fresh_services.is_empty() || !written.removed.is_empty() {
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
        // Only a speed-up: failing to save it costs a re-read next time.
        let _stage = crate::timings::stage("write:cache");
        let _ = stat_cache.save(&settings.root);
    }
    if let Some(trees) = &trees {
        let _stage = crate::timings::stage("write:trees");
        trees.save(&settings.root);
    }
    drop(stage);
    noop::record(&settings.root, &compiled, &stat_cache, started);
    Ok(Built {
        compiled,
        written,
        elapsed: start.elapsed(),
    })
}
