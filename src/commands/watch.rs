//! `stamp watch`: build, then rebuild whenever an input changes, until Ctrl-C.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::new_debouncer;

use crate::catalog::STAMP_FILE;
use crate::cli::Settings;
use crate::commands::build::{self, Built};
use crate::commands::{ERRORS, OK};
use crate::compile::Cache;
use crate::paths::INPUT_DIRS;
use crate::report;

pub fn run(settings: &Settings) -> i32 {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("error: cannot handle Ctrl-C: {e}");
        return ERRORS;
    }
    rebuild(settings, "initial build");

    let (tx, rx) = channel();
    // Editors save by writing a temp file and renaming it; the debouncer
    // folds such bursts into one event per file.
    let mut debouncer = match new_debouncer(Duration::from_millis(100), None, tx) {
        Ok(debouncer) => debouncer,
        Err(e) => {
            eprintln!("error: cannot watch files: {e}");
            return ERRORS;
        }
    };
    let root = settings.root.canonicalize().unwrap_or_else(|_| settings.root.clone());
    for dir in INPUT_DIRS {
        let path = root.join(dir);
        if path.is_dir()
            && let Err(e) = debouncer.watch(&path, RecursiveMode::Recursive)
        {
            eprintln!("error: cannot watch `{dir}/`: {e}");
            return ERRORS;
        }
    }
    // stamp.yaml may be created or replaced: watch the root itself, shallowly.
    if let Err(e) = debouncer.watch(&root, RecursiveMode::NonRecursive) {
        eprintln!("error: cannot watch `{}`: {e}", root.display());
        return ERRORS;
    }
    report::status(
        settings,
        "watching catalog/, archetypes/, components/ and stamp.yaml; Ctrl-C to stop",
    );

    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(events)) => {
                let mut changed: Vec<String> = events
                    .iter()
                    .filter(|event| changes_content(&event.kind))
                    .flat_map(|event| event.paths.iter())
                    .filter_map(|path| relevant(&root, path))
                    .collect();
                changed.sort();
                changed.dedup();
                if changed.is_empty() {
                    continue;
                }
                let what = match changed.as_slice() {
                    [one] => one.clone(),
                    [first, rest @ ..] => format!("{first} and {} more", rest.len()),
                    [] => unreachable!("checked above"),
                };
                rebuild(settings, &what);
            }
            Ok(Err(errors)) => {
                for e in errors {
                    eprintln!("watch error: {e}");
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    report::status(settings, "stopped watching");
    OK
}

/// Writes, creations, removals and renames; not the reads a build itself
/// makes (inotify reports opening a file), which would rebuild forever.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// The repo-relative path of an input file, or None for anything else
/// (generated output, editor swap files, other files at the root).
fn relevant(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.to_str()?.replace('\\', "/");
    let name = rel.rsplit('/').next()?;
    if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") || name.ends_with(".tmp") {
        return None;
    }
    let is_input = rel == STAMP_FILE || INPUT_DIRS.iter().any(|dir| rel.starts_with(&format!("{dir}/")));
    is_input.then_some(rel)
}

/// Builds and prints one line, or the errors; an error never ends the watch.
fn rebuild(settings: &Settings, what: &str) {
    match build::execute(settings, Cache::Use, None) {
        Ok(built) => {
            report::diagnostics(settings, &built.compiled.sources, &built.compiled.diags);
            report::stdout(&format!("{what}: {}\n", line(&built)));
        }
        Err(message) => eprintln!("{what}: error: {message}"),
    }
}

fn line(built: &Built) -> String {
    let c = &built.compiled;
    if c.shared_broken {
        return format!(
            "shared inputs have errors ({}): nothing written or removed, the committed output is kept",
            count(crate::diagnostic::merge(c.diags.clone()).len())
        );
    }
    let errors = if c.diags.is_empty() {
        String::new()
    } else {
        format!(
            ", {} (the last good output is kept)",
            count(crate::diagnostic::merge(c.diags.clone()).len())
        )
    };
    format!(
        "{} targets re-rendered, {} files written, {} removed in {:.0?}{errors}",
        c.rendered,
        built.written.written.len(),
        built.written.removed.len(),
        built.elapsed
    )
}

fn count(errors: usize) -> String {
    if errors == 1 {
        "1 error".into()
    } else {
        format!("{errors} errors")
    }
}
