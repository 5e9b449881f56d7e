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
use crate::compile::Cache;
use crate::error::{Error, ExitStatus};
use crate::paths::INPUT_DIRS;
use crate::report;

pub(crate) fn run(settings: &Settings) -> Result<ExitStatus, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).map_err(|e| watch_error("handle Ctrl-C", e))?;
    rebuild(settings, "initial build");

    let (tx, rx) = channel();
    // Editors save by writing a temp file and renaming it; the debouncer
    // folds such bursts into one event per file.
    let mut debouncer =
        new_debouncer(Duration::from_millis(100), None, tx).map_err(|e| watch_error("watch files", e))?;
    let root = settings.root.canonicalize().unwrap_or_else(|_| settings.root.clone());
    let mut watched = Vec::new();
    for dir in INPUT_DIRS {
        if root.join(dir).is_dir() {
            debouncer
                .watch(root.join(dir), RecursiveMode::Recursive)
                .map_err(|e| watch_error(&format!("watch `{dir}/`"), e))?;
            watched.push(*dir);
        }
    }
    // stamp.yaml may be created or replaced: watch the root itself, shallowly.
    debouncer
        .watch(&root, RecursiveMode::NonRecursive)
        .map_err(|e| watch_error(&format!("watch `{}`", root.display()), e))?;
    report::status(
        settings,
        "watching catalog/, archetypes/, components/, policies/ and stamp.yaml; Ctrl-C to stop",
    );

    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(events)) => {
                // An input folder made after the watch began (a first
                // `policies/`) is watched from now on; the rebuild its event
                // starts reads whatever it already holds.
                for dir in INPUT_DIRS {
                    if !watched.contains(dir) && root.join(dir).is_dir() {
                        debouncer
                            .watch(root.join(dir), RecursiveMode::Recursive)
                            .map_err(|e| watch_error(&format!("watch `{dir}/`"), e))?;
                        watched.push(*dir);
                    }
                }
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
    Ok(ExitStatus::Ok)
}

fn watch_error(action: &str, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Watch {
        action: action.to_string(),
        source: Box::new(source),
    }
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
    let is_input = rel == STAMP_FILE
        || INPUT_DIRS
            .iter()
            .any(|dir| rel == *dir || rel.starts_with(&format!("{dir}/")));
    is_input.then_some(rel)
}

/// Builds and prints one line, or the errors; an error never ends the watch.
fn rebuild(settings: &Settings, what: &str) {
    match build::execute(settings, Cache::Use, None, None) {
        Ok(built) => {
            report::warnings(settings, &built.compiled.warnings);
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
