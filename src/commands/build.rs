use std::time::Instant;

use crate::cli::Settings;
use crate::commands::{ERRORS, OK};
use crate::compile::{Cache, compile};
use crate::fingerprint::StatCache;
use crate::load::Sources;
use crate::{report, write};

pub fn run(settings: &Settings, cache: Cache) -> i32 {
    let start = Instant::now();
    let stage = crate::timings::stage("load");
    let sources = match Sources::from_dir(&settings.root) {
        Ok(sources) => sources,
        Err(e) => {
            eprintln!("error: cannot read the repo at `{}`: {e}", settings.root.display());
            return ERRORS;
        }
    };
    drop(stage);
    let _lock = match write::lock(&settings.root) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: cannot lock `{}`: {e}", write::LOCK_FILE);
            return ERRORS;
        }
    };
    let stage = crate::timings::stage("cache");
    let mut stat_cache = StatCache::load(&settings.root);
    drop(stage);
    let compiled = compile(&settings.root, sources, cache, &stat_cache);
    let stage = crate::timings::stage("write");
    write::remove_temp_files(&settings.root);
    let written = match write::apply(&settings.root, &compiled.plan) {
        Ok(written) => written,
        Err(e) => {
            report::diagnostics(settings, &compiled.sources, &compiled.diags);
            eprintln!("error: cannot write the output: {e}");
            return ERRORS;
        }
    };
    // The files just written or verified need not be read again next time.
    if !compiled.fresh.is_empty() || !compiled.fresh_services.is_empty() || !written.removed.is_empty() {
        for (dir, inputs) in &compiled.fresh {
            stat_cache.record(&settings.root, dir, *inputs);
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
        let _ = stat_cache.save(&settings.root);
    }
    drop(stage);
    report::diagnostics(settings, &compiled.sources, &compiled.diags);
    let failed = if compiled.failed_targets > 0 {
        format!(", {} failed", compiled.failed_targets)
    } else {
        String::new()
    };
    report::status(
        settings,
        &format!(
            "built {} targets of {} services ({} rendered, {} objects{failed}): {} files written, {} removed, {} unchanged in {:.0?}",
            compiled.targets,
            compiled.services,
            compiled.rendered,
            compiled.objects,
            written.written.len(),
            written.removed.len(),
            written.unchanged,
            start.elapsed()
        ),
    );
    if compiled.diags.is_empty() { OK } else { ERRORS }
}
