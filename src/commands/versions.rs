//! `stamp versions [--format text|json|markdown]`: one row per service, one
//! column per environment in promotion order, the image each declares; a
//! cell that differs from the service's previous environment is marked. JSON
//! adds who set each version and when, from one walk of the git history.

use std::fmt::Write as _;
use std::io::IsTerminal;

use rayon::prelude::*;
use serde_json::{Value, json};

use crate::catalog::{self, SERVICES_DIR};
use crate::cli::{Format, Settings};
use crate::commands::session;
use crate::edit::{self, Pin};
use crate::error::{Error, ExitStatus};
use crate::image_history::{self, History};
use crate::load::Sources;
use crate::report;

/// The longest tag a text cell shows before an ellipsis.
const MAX_TAG: usize = 20;
/// Hex digits of a digest a cell shows.
const SHORT_DIGEST: usize = 12;

/// One service's row: per environment of the catalog, None where it does
/// not deploy, else what it declares and whether that differs from its
/// previous environment's.
struct Row<'a> {
    service: &'a str,
    file: &'a str,
    declared: edit::Declared,
    cells: Vec<Option<(Option<Pin>, bool)>>,
}

pub(crate) fn run(settings: &Settings) -> Result<ExitStatus, Error> {
    let sources = session::read_repo(settings)?;
    let (catalog, diags) = catalog::parse(&sources);
    if catalog.environments.file_broken {
        let own: Vec<_> = diags
            .into_iter()
            .filter(|d| d.file == catalog.environments.file)
            .collect();
        report::diagnostics(settings, &sources, &own);
        return Ok(ExitStatus::Errors);
    }
    let envs: Vec<&str> = catalog
        .environments
        .items
        .iter()
        .map(|e| e.name.value.as_str())
        .collect();
    let mut services: Vec<&catalog::Service> = catalog.services.iter().collect();
    services.sort_by(|a, b| a.name.value.cmp(&b.name.value));
    let rows: Vec<Row> = services
        .par_iter()
        .map(|service| row(&sources, service, &envs))
        .collect();
    let out = match settings.format {
        Format::Json => {
            let history = match History::load(&settings.root, SERVICES_DIR) {
                Ok(history) => history,
                Err(message) => {
                    eprintln!("error: {message}");
                    return Ok(ExitStatus::Errors);
                }
            };
            match json(&envs, &rows, &history) {
                Ok(value) => serde_json::to_string_pretty(&value).expect("JSON serializes") + "\n",
                Err(message) => {
                    eprintln!("error: {message}");
                    return Ok(ExitStatus::Errors);
                }
            }
        }
        Format::Markdown => markdown(&envs, &rows),
        Format::Text | Format::GithubMatrix => {
            let color = settings.color && std::io::stdout().is_terminal();
            text(&envs, &rows, color)
        }
    };
    report::stdout(&out);
    // Broken service files are left out of the table and reported.
    let broken: Vec<_> = diags.into_iter().filter(|d| d.file.starts_with(SERVICES_DIR)).collect();
    if !broken.is_empty() {
        report::diagnostics(settings, &sources, &broken);
        return Ok(ExitStatus::Errors);
    }
    Ok(ExitStatus::Ok)
}

fn row<'a>(sources: &Sources, service: &'a catalog::Service, envs: &[&str]) -> Row<'a> {
    let declared = edit::declared_images(sources.get(&service.file).unwrap_or_default()).unwrap_or_default();
    let mut previous: Option<Option<Pin>> = None;
    let cells = envs
        .iter()
        .map(|env| {
            if !service.environments.iter().any(|e| e.value == *env) {
                return None;
            }
            let pin = declared.for_env(env);
            let differs = previous.as_ref().is_some_and(|p| *p != pin);
            previous = Some(pin.clone());
            Some((pin, differs))
        })
        .collect();
    Row {
        service: &service.name.value,
        file: &service.file,
        declared,
        cells,
    }
}

/// `1.4.2` or `1.4.2@9f2c1a2b3c4d`, the tag cut to `max` characters.
fn cell(pin: &Pin, max: usize) -> String {
    let mut tag = pin.tag.clone();
    if tag.chars().count() > max {
        tag = tag.chars().take(max - 1).collect::<String>() + "…";
    }
    match &pin.digest {
        Some(digest) => {
            let hex = digest.split_once(':').map_or(digest.as_str(), |(_, h)| h);
            format!("{tag}@{}", &hex[..SHORT_DIGEST.min(hex.len())])
        }
        None => tag,
    }
}

fn cell_text(c: &Option<(Option<Pin>, bool)>, max: usize) -> (String, bool) {
    match c {
        None => ("-".into(), false),
        Some((None, _)) => ("?".into(), false),
        Some((Some(pin), differs)) => (
            if *differs {
                format!("{} *", cell(pin, max))
            } else {
                cell(pin, max)
            },
            *differs,
        ),
    }
}

const LEGEND: &str = "* differs from the service's previous environment";

fn text(envs: &[&str], rows: &[Row], color: bool) -> String {
    let header: Vec<String> = std::iter::once("SERVICE".to_string())
        .chain(envs.iter().map(|e| e.to_string()))
        .collect();
    let table: Vec<Vec<(String, bool)>> = rows
        .iter()
        .map(|r| {
            std::iter::once((r.service.to_string(), false))
                .chain(r.cells.iter().map(|c| cell_text(c, MAX_TAG)))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in &table {
        for (i, (text, _)) in line.iter().enumerate() {
            widths[i] = widths[i].max(text.chars().count());
        }
    }
    let mut out = String::new();
    let mut put = |cells: Vec<(String, bool)>| {
        let last = cells.len() - 1;
        for (i, (text, marked)) in cells.into_iter().enumerate() {
            let pad = if i == last {
                0
            } else {
                widths[i] - text.chars().count() + 2
            };
            let style = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Yellow.into()));
            if marked && color {
                let _ = write!(out, "{style}{text}{style:#}");
            } else {
                out.push_str(&text);
            }
            out.push_str(&" ".repeat(pad));
        }
        out.push('\n');
    };
    put(header.into_iter().map(|h| (h, false)).collect());
    let any_marked = table.iter().flatten().any(|(_, m)| *m);
    for line in table {
        put(line);
    }
    if any_marked {
        out.push_str(LEGEND);
        out.push('\n');
    }
    out
}

fn markdown(envs: &[&str], rows: &[Row]) -> String {
    let escape = |s: &str| s.replace('|', "\\|");
    let mut out = format!("| service | {} |\n", envs.join(" | "));
    out.push_str(&format!("| --- |{}\n", " --- |".repeat(envs.len())));
    let mut any_marked = false;
    for r in rows {
        let cells: Vec<String> = r
            .cells
            .iter()
            .map(|c| {
                let (text, marked) = cell_text(c, usize::MAX);
                any_marked |= marked;
                match (marked, text.as_str()) {
                    (true, _) => format!("**`{}`** \\*", escape(text.trim_end_matches(" *"))),
                    (false, "-") => text,
                    (false, _) => format!("`{}`", escape(&text)),
                }
            })
            .collect();
        out.push_str(&format!("| {} | {} |\n", r.service, cells.join(" | ")));
    }
    if any_marked {
        out.push_str(&format!("\n\\{LEGEND}\n"));
    }
    out
}

fn json(envs: &[&str], rows: &[Row], history: &History) -> Result<Value, String> {
    let mut services = Vec::new();
    for r in rows {
        let mut versions = Vec::new();
        for (env, c) in envs.iter().zip(&r.cells) {
            let Some((pin, differs)) = c else { continue };
            let mut entry = json!({
                "environment": env,
                "tag": pin.as_ref().map(|p| &p.tag),
                "digest": pin.as_ref().and_then(|p| p.digest.as_ref()),
                "differs_from_previous": differs,
            });
            let runs = history.runs(r.file, env, Some(&r.declared));
            let current = runs.current().map_err(|e| format!("`{}` in `{env}`: {e}", r.file))?;
            if let Some(set) = current
                .filter(|run| Some(&run.pin) == pin.as_ref())
                .and_then(|run| run.set.as_ref())
            {
                entry["set_at"] = json!(image_history::utc(set.time));
                entry["set_by"] = json!(set.author);
                entry["commit"] = json!(set.commit);
            }
            versions.push(entry);
        }
        services.push(json!({ "service": r.service, "file": r.file, "versions": versions }));
    }
    Ok(json!({ "environments": envs, "services": services }))
}
