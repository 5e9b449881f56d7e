//! `stamp check`: the drift gate. Every target it has not itself rendered
//! and compared on this machine is rendered again and compared in memory
//! with the committed files; committed fingerprints are never taken as proof.

use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::json;

use crate::atomic::read_output;
use crate::cli::{Format, Settings};
use crate::commands::noop;
use crate::compile::{Cache, Compiled, compile};
use crate::emit::MANIFESTS_FILE;
use crate::error::{Error, ExitStatus};
use crate::load::Sources;
use crate::report;
use crate::shard::Shard;
use crate::snapshot::{self, Counts, Purpose};
use crate::stat_cache::{self, StatCache, Trust};
use crate::tree_cache::TreeCache;

pub(crate) fn run(settings: &Settings, cache: Cache, shard: Option<Shard>) -> Result<ExitStatus, Error> {
    let mut on_disk = None;
    if cache != Cache::Ignore && shard.is_none() {
        match noop::unchanged(&settings.root, Purpose::Check) {
            Ok(counts) => {
                report_unchanged(settings, counts);
                return Ok(ExitStatus::Ok);
            }
            Err(recorded) => on_disk = recorded.and_then(|layout| layout.verify(&settings.root)),
        }
    }
    let started = snapshot::now();
    let load = crate::timings::stage("load");
    let mut sources = Sources::from_dir(&settings.root).map_err(|source| Error::ReadRepo {
        root: settings.shown_root.clone(),
        source,
    })?;
    let trees = (cache != Cache::Ignore).then(|| Arc::new(TreeCache::load(&settings.root)));
    if let Some(trees) = &trees {
        sources.use_tree_cache(trees.clone());
    }
    // Only what stamp rendered here may be skipped, never a committed fingerprint.
    let cache = match cache {
        Cache::Ignore => Cache::Ignore,
        Cache::Use | Cache::Local => Cache::Local,
    };
    let mut stat_cache = match cache {
        Cache::Ignore => StatCache::default(),
        Cache::Use | Cache::Local => StatCache::load(&settings.root),
    };
    drop(load);
    let mut compiled = compile(&settings.root, sources, cache, &stat_cache, shard);
    compiled.plan.on_disk = on_disk;
    if compiled.shared_broken {
        if settings.format == Format::Json {
            let fields = json!({"status": "errors", "drift": [], "shared_inputs_broken": true});
            report::json_result(fields, &compiled.diags);
        }
        report::diagnostics(settings, &compiled.sources, &compiled.diags);
        report::shared_inputs_broken("the output was not compared");
        return Ok(ExitStatus::Errors);
    }
    // Stats are taken before the files are read, so a file changed after
    // the comparison never matches what the cache records.
    let before = if cache == Cache::Local {
        rendered_stats(settings, &compiled)
    } else {
        Vec::new()
    };
    let drift = Drift::find(settings, &compiled)?;
    if cache == Cache::Local {
        let learned = learn(settings, &compiled, &mut stat_cache, &before, &drift.paths);
        compiled.plan.release_settled_contents(&stat_cache, snapshot::now());
        crate::allocator::collect_freed();
        if learned {
            let _ = stat_cache.save(&settings.root);
        }
        if let Some(trees) = &trees {
            trees.save(&settings.root);
        }
        if drift.paths.is_empty() {
            noop::record(&settings.root, &compiled, &stat_cache, started);
        }
    }
    let status = match (compiled.diags.is_empty(), drift.diffs.is_empty()) {
        (false, _) => ExitStatus::Errors,
        (true, true) => ExitStatus::Ok,
        (true, false) => ExitStatus::Drift,
    };
    report_result(settings, &compiled, status, &drift);
    // The process ends next: freeing every target and file one by one
    // would only delay CI.
    std::mem::forget((compiled, drift));
    Ok(status)
}

/// The stats of the target folders this run rendered.
fn rendered_stats(settings: &Settings, compiled: &Compiled) -> Vec<(String, Option<[stat_cache::Stat; 3]>)> {
    let _stage = crate::timings::stage("check:stat");
    compiled
        .fresh
        .par_iter()
        .filter(|(_, _, trust)| *trust == Trust::Rendered)
        .map(|(dir, _, _)| (dir.clone(), stat_cache::stats(&settings.root, dir)))
        .collect()
}

/// The committed files that differ from what the catalog renders.
struct Drift {
    /// One unified diff per file.
    diffs: Vec<String>,
    paths: Vec<String>,
}

impl Drift {
    /// Compares every planned file with the one on disk, and lists stale
    /// files as removals.
    fn find(settings: &Settings, compiled: &Compiled) -> Result<Drift, Error> {
        let _stage = crate::timings::stage("check:compare");
        // Read and compared side by side: a fresh clone compares every
        // committed file, ~110,000 at 10,000 services. In plan order.
        let planned: Vec<(&String, &String)> = compiled.plan.files.iter().collect();
        let (paths, diffs): (Vec<String>, Vec<String>) = planned
            .par_iter()
            .with_min_len(64)
            .filter_map(|&(path, content)| {
                let on_disk =
                    read_output(&crate::paths::under(&settings.root, path)).and_then(|b| String::from_utf8(b).ok());
                (on_disk.as_deref() != Some(content.as_str())).then(|| {
                    let diff =
                        report::unified_diff(path, on_disk.as_deref().unwrap_or_default(), content, settings.color);
                    (path.clone(), diff)
                })
            })
            .unzip();
        let mut drift = Drift { diffs, paths };
        let stale = compiled
            .plan
            .stale_files(&settings.root)
            .map_err(|source| Error::ReadGenerated { source })?;
        drift.paths.extend(stale.iter().cloned());
        for path in &stale {
            let on_disk = read_output(&settings.root.join(path))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            drift
                .diffs
                .push(report::unified_diff(path, &on_disk, "", settings.color));
        }
        Ok(drift)
    }
}

/// The fast path's report: what a full check that found everything current says.
fn report_unchanged(settings: &Settings, counts: Counts) {
    if settings.format == Format::Json {
        let fields = json!({
            "status": "up-to-date",
            "drift": [],
            "targets": counts.targets,
            "services": counts.services,
            "rendered": 0,
            "shared_inputs_broken": false,
        });
        report::json_result(fields, &[]);
    }
    report::status(
        settings,
        &format!(
            "up to date: {} targets of {} services (0 rendered and compared)",
            counts.targets, counts.services
        ),
    );
}

/// The drift on stdout (or the JSON result), the diagnostics, and the status line.
fn report_result(settings: &Settings, compiled: &Compiled, status: ExitStatus, drift: &Drift) {
    if settings.format == Format::Json {
        let word = ["up-to-date", "drift", "errors"][status.code() as usize];
        let fields = json!({
            "status": word,
            "drift": drift.paths,
            "targets": compiled.targets,
            "services": compiled.services,
            "rendered": compiled.rendered,
            "shared_inputs_broken": false,
        });
        report::json_result(fields, &compiled.diags);
    } else {
        report::stdout(&drift.diffs.concat());
    }
    report::warnings(settings, &compiled.warnings);
    report::diagnostics(settings, &compiled.sources, &compiled.diags);
    match status {
        ExitStatus::Errors => {}
        ExitStatus::Ok => report::status(
            settings,
            &format!(
                "up to date: {} targets of {} services ({} rendered and compared)",
                compiled.targets, compiled.services, compiled.rendered
            ),
        ),
        ExitStatus::Drift => report::status(
            settings,
            &format!(
                "{} generated files are out of date; run `stamp build`",
                drift.diffs.len()
            ),
        ),
    }
}

/// Teaches the local stat cache the targets this check rendered and found
/// byte for byte equal on disk, so the next check can skip them; true when
/// the cache changed (the caller saves it: never a committed file, and a
/// failure to save only costs speed).
fn learn(
    settings: &Settings,
    compiled: &Compiled,
    stat_cache: &mut StatCache,
    before: &[(String, Option<[stat_cache::Stat; 3]>)],
    drifted: &[String],
) -> bool {
    let drifted_dirs: HashSet<&str> = drifted
        .iter()
        .filter_map(|path| path.rsplit_once('/').map(|(dir, _)| dir))
        .collect();
    let inputs_of: std::collections::HashMap<&str, blake3::Hash> = compiled
        .fresh
        .iter()
        .map(|(dir, inputs, _)| (dir.as_str(), *inputs))
        .collect();
    let _stage = crate::timings::stage("check:learn");
    // Still as before the comparison: statted side by side, one per target.
    let unmoved: Vec<(&String, [stat_cache::Stat; 3])> = before
        .par_iter()
        .filter_map(|(dir, stats)| {
            let stats = stats.as_ref()?;
            let whole = compiled.plan.files.contains_key(&format!("{dir}/{MANIFESTS_FILE}"));
            (whole
                && !drifted_dirs.contains(dir.as_str())
                && stat_cache::stats(&settings.root, dir).as_ref() == Some(stats))
            .then_some((dir, *stats))
        })
        .collect();
    let mut learned = !unmoved.is_empty();
    stat_cache.reserve(unmoved.len(), compiled.fresh_services.len());
    for (dir, stats) in unmoved {
        stat_cache.record_stats(dir, inputs_of[dir.as_str()], stats, Trust::Rendered);
    }
    for (name, key, dirs) in &compiled.fresh_services {
        if dirs.iter().all(|d| !drifted_dirs.contains(d.as_str())) {
            stat_cache.record_service(name, *key, dirs.clone());
            learned = true;
        }
    }
    learned
}
