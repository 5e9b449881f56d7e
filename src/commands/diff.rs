//! `stamp diff [--base REV]`: what a build would change, or what changed in
//! the rendered output since git revision REV.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use serde_json::json;

use crate::atomic::read_output;
use crate::changes::{self, Changes};
use crate::cli::{Format, Settings};
use crate::compile::{Cache, Compiled, compile};
use crate::error::{Error, ExitStatus};
use crate::load::Sources;
use crate::report;
use crate::stat_cache::StatCache;

pub(crate) fn run(settings: &Settings, base: Option<&str>, stat: bool) -> Result<ExitStatus, Error> {
    let (changes, errors) = match base {
        None => match working_tree_vs_disk(settings)? {
            Some(changes) => changes,
            // Shared inputs are broken; that was reported already.
            None => return Ok(ExitStatus::Errors),
        },
        Some(rev) => {
            let old = rendered_at(&settings.root, rev, settings)?;
            let new = render_all(settings, read_repo(settings)?)?;
            (changes::compare(&old, &new), false)
        }
    };
    let mut out = std::io::stdout().lock();
    let text = match (settings.format, stat) {
        (Format::Json, _) => json_report(&changes),
        (Format::Text | Format::GithubMatrix | Format::Markdown, true) => stat_report(&changes),
        (Format::Text | Format::GithubMatrix | Format::Markdown, false) => unified(&changes, settings.color),
    };
    // A closed pipe (`stamp diff | head`) is not an error.
    let _ = out.write_all(text.as_bytes());
    // The changes shown leave out the failing services: not a clean result.
    Ok(ExitStatus::from_errors(errors))
}

fn read_repo(settings: &Settings) -> Result<Sources, Error> {
    Sources::from_dir(&settings.root).map_err(|source| Error::ReadRepo {
        root: settings.shown_root.clone(),
        source,
    })
}

/// Everything the working tree renders to, path → content.
fn render_all(settings: &Settings, sources: Sources) -> Result<BTreeMap<String, String>, Error> {
    let compiled = compile(&settings.root, sources, Cache::Ignore, &StatCache::default(), None);
    if !compiled.diags.is_empty() {
        report::diagnostics(settings, &compiled.sources, &compiled.diags);
        return Err(Error::refused("the catalog has errors; fix them first"));
    }
    Ok(compiled.plan.files)
}

/// What revision `rev` rendered to, computed now from its inputs in git.
fn rendered_at(root: &Path, rev: &str, settings: &Settings) -> Result<BTreeMap<String, String>, Error> {
    let sources = Sources::from_git(root, rev).map_err(Error::Git)?;
    let compiled = compile(root, sources, Cache::Ignore, &StatCache::default(), None);
    if !compiled.diags.is_empty() {
        report::diagnostics(settings, &compiled.sources, &compiled.diags);
        return Err(Error::refused(format!(
            "the catalog at `{rev}` has errors, so its output cannot be rendered"
        )));
    }
    Ok(compiled.plan.files)
}

/// Pending changes: what `build` would write and remove, and whether the
/// catalog has errors (whose services' output a build would keep). None when
/// shared inputs are broken, which it reports.
fn working_tree_vs_disk(settings: &Settings) -> Result<Option<(Changes, bool)>, Error> {
    let sources = read_repo(settings)?;
    let compiled: Compiled = compile(
        &settings.root,
        sources,
        Cache::Use,
        &StatCache::load(&settings.root),
        None,
    );
    if !compiled.diags.is_empty() {
        report::diagnostics(settings, &compiled.sources, &compiled.diags);
    }
    if compiled.shared_broken {
        report::shared_inputs_broken("there is nothing to compare");
        return Ok(None);
    }
    let mut old = BTreeMap::new();
    let mut new = compiled.plan.files.clone();
    for path in compiled.plan.files.keys() {
        if let Some(bytes) = read_output(&settings.root.join(path)) {
            old.insert(path.clone(), String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let stale = compiled
        .plan
        .stale_files(&settings.root)
        .map_err(|source| Error::ReadGenerated { source })?;
    for path in stale {
        let text = read_output(&settings.root.join(&path))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        old.insert(path.clone(), text);
        new.remove(&path);
    }
    Ok(Some((changes::compare(&old, &new), !compiled.diags.is_empty())))
}

fn unified(changes: &Changes, color: bool) -> String {
    let mut out = String::new();
    let files = changes.targets.iter().flat_map(|t| &t.files).chain(&changes.other);
    for file in files {
        let old = file.old.as_deref().unwrap_or_default();
        let new = file.new.as_deref().unwrap_or_default();
        out.push_str(&report::unified_diff(&file.path, old, new, color));
    }
    out
}

fn stat_report(changes: &Changes) -> String {
    let mut out = String::new();
    let width = changes.targets.iter().map(|t| t.id().len()).max().unwrap_or(0);
    for t in &changes.targets {
        let o = &t.objects;
        out.push_str(&format!(
            "{:width$}  {:7}  {} added, {} changed, {} removed objects\n",
            t.id(),
            t.status.as_str(),
            o.added.len(),
            o.changed.len(),
            o.removed.len()
        ));
    }
    for file in &changes.other {
        let status = match (&file.old, &file.new) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "changed",
        };
        out.push_str(&format!("{:width$}  {status}\n", file.path));
    }
    out.push_str(&format!(
        "{} targets, {} other files\n",
        changes.targets.len(),
        changes.other.len()
    ));
    out
}

fn json_report(changes: &Changes) -> String {
    let targets: Vec<_> = changes
        .targets
        .iter()
        .map(|t| {
            json!({
                "target": t.id(),
                "service": t.service,
                "env": t.env,
                "region": t.region,
                "status": t.status,
                "objects": t.objects,
            })
        })
        .collect();
    let other: Vec<&str> = changes.other.iter().map(|f| f.path.as_str()).collect();
    let mut text = serde_json::to_string_pretty(&json!({"targets": targets, "files": other})).expect("JSON serializes");
    text.push('\n');
    text
}
