use std::time::Instant;

use crate::cli::Settings;
use crate::commands::{ERRORS, OK};
use crate::compile::{Cache, compile};
use crate::load::Sources;
use crate::{report, write};

pub fn run(settings: &Settings, cache: Cache) -> i32 {
    let start = Instant::now();
    let sources = match Sources::from_dir(&settings.root) {
        Ok(sources) => sources,
        Err(e) => {
            eprintln!("error: cannot read the repo at `{}`: {e}", settings.root.display());
            return ERRORS;
        }
    };
    let _lock = match write::lock(&settings.root) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: cannot lock `{}`: {e}", write::LOCK_FILE);
            return ERRORS;
        }
    };
    let compiled = compile(&settings.root, sources, cache);
    write::remove_temp_files(&settings.root);
    let written = match write::apply(&settings.root, &compiled.plan) {
        Ok(written) => written,
        Err(e) => {
            report::diagnostics(settings, &compiled.sources, &compiled.diags);
            eprintln!("error: cannot write the output: {e}");
            return ERRORS;
        }
    };
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
