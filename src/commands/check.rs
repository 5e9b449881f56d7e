use serde_json::json;

use crate::cli::{Format, Settings};
use crate::commands::{DRIFT, ERRORS, OK};
use crate::compile::{Cache, Shard, compile};
use crate::fingerprint::StatCache;
use crate::load::Sources;
use crate::report;

pub fn run(settings: &Settings, cache: Cache, shard: Option<Shard>) -> i32 {
    let sources = match Sources::from_dir(&settings.root) {
        Ok(sources) => sources,
        Err(e) => {
            eprintln!("error: cannot read the repo at `{}`: {e}", settings.root.display());
            return ERRORS;
        }
    };
    let compiled = compile(&settings.root, sources, cache, &StatCache::load(&settings.root), shard);
    let mut drift = Vec::new();
    let mut drifted = Vec::new();
    for (path, content) in &compiled.plan.files {
        let on_disk = std::fs::read_to_string(settings.root.join(path)).ok();
        if on_disk.as_deref() != Some(content.as_str()) {
            drifted.push(path.clone());
            drift.push(report::unified_diff(
                path,
                on_disk.as_deref().unwrap_or_default(),
                content,
                settings.color,
            ));
        }
    }
    let stale = match compiled.plan.stale_files(&settings.root) {
        Ok(stale) => stale,
        Err(e) => {
            eprintln!("error: cannot read `generated/`: {e}");
            return ERRORS;
        }
    };
    drifted.extend(stale.iter().cloned());
    for path in &stale {
        let on_disk = std::fs::read_to_string(settings.root.join(path)).unwrap_or_default();
        drift.push(report::unified_diff(path, &on_disk, "", settings.color));
    }
    let code = match (compiled.diags.is_empty(), drift.is_empty()) {
        (false, _) => ERRORS,
        (true, true) => OK,
        (true, false) => DRIFT,
    };
    if settings.format == Format::Json {
        let status = ["up-to-date", "drift", "errors"][code as usize];
        report::json_result(json!({"status": status, "drift": drifted}), &compiled.diags);
    } else {
        report::stdout(&drift.concat());
    }
    report::diagnostics(settings, &compiled.sources, &compiled.diags);
    if code == ERRORS {
        return ERRORS;
    }
    if drift.is_empty() {
        report::status(
            settings,
            &format!(
                "up to date: {} targets of {} services",
                compiled.targets, compiled.services
            ),
        );
        OK
    } else {
        report::status(
            settings,
            &format!("{} generated files are out of date; run `stamp build`", drift.len()),
        );
        DRIFT
    }
}
