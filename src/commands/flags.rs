//! `stamp flags`: every feature flag of every service, per environment
//! (SPEC §4): `on`, a percentage, `off`, or `-` where the flag does not
//! exist. A listed team that always gets it shows as `+teams`; `--format
//! json` has the teams and descriptions themselves.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cli::{Format, Settings};
use crate::commands::session;
use crate::compile::Parsed;
use crate::diagnostic::did_you_mean;
use crate::error::{Error, ExitStatus};
use crate::report;
use crate::resolve::{self, Flag};

/// One service's flags: flag key → environment → the flag there.
type ServiceFlags<'a> = BTreeMap<&'a str, BTreeMap<&'a str, &'a Flag>>;

pub(crate) fn run(settings: &Settings, services: &[String], envs: &[String]) -> Result<ExitStatus, Error> {
    let (
        sources,
        Parsed {
            catalog,
            resolved,
            diags,
            ..
        },
    ) = session::resolve_repo(settings, resolve::Provenance::Skip)?;
    let known_services: Vec<&str> = session::service_names(&catalog).collect();
    let known_envs: Vec<&str> = catalog.environments.items.iter().map(|e| e.name.as_str()).collect();
    let unknown = unknown_names("service", services, &known_services) + unknown_names("environment", envs, &known_envs);
    if unknown > 0 {
        return Ok(ExitStatus::Errors);
    }
    let columns: Vec<&str> = known_envs
        .iter()
        .copied()
        .filter(|e| envs.is_empty() || envs.iter().any(|f| f == e))
        .collect();
    // Regions of an environment share its flags: the first target says it.
    let mut table: BTreeMap<&str, ServiceFlags> = BTreeMap::new();
    for target in resolved
        .targets
        .iter()
        .filter(|t| services.is_empty() || services.contains(&t.service))
    {
        for (key, flag) in &target.values.flags {
            table
                .entry(target.service.as_str())
                .or_default()
                .entry(key.as_str())
                .or_default()
                .entry(target.env.as_str())
                .or_insert(flag);
        }
    }
    let text = match settings.format {
        Format::Json => json_report(&table, &columns),
        Format::Markdown => markdown(&table, &columns),
        Format::Text | Format::GithubMatrix => text_table(&table, &columns),
    };
    report::stdout(&text);
    if diags.is_empty() {
        Ok(ExitStatus::Ok)
    } else {
        report::diagnostics(settings, &sources, &diags);
        Ok(ExitStatus::Errors)
    }
}

/// Reports each name not in `known`; returns how many.
fn unknown_names(what: &str, names: &[String], known: &[&str]) -> usize {
    let mut count = 0;
    for name in names.iter().filter(|n| !known.contains(&n.as_str())) {
        eprintln!("error: {what} `{name}` is not in the catalog");
        if let Some(best) = did_you_mean(name, known.iter().copied()) {
            eprintln!("hint: did you mean `{best}`?");
        }
        count += 1;
    }
    count
}

/// A flag in one environment, as a table cell.
fn cell(flag: Option<&&Flag>) -> String {
    let Some(flag) = flag else {
        return "-".into();
    };
    let teams = flag.enabled && flag.rollout_percentage < 100 && !flag.teams.is_empty();
    let share = match (flag.enabled, flag.rollout_percentage) {
        (false, _) => "off".to_string(),
        (true, 100) => "on".to_string(),
        (true, 0) if !teams => "off".to_string(),
        (true, p) => format!("{p}%"),
    };
    if teams { format!("{share} +teams") } else { share }
}

/// Rows of cells: a header, then one per service and flag.
fn rows(table: &BTreeMap<&str, ServiceFlags>, columns: &[&str]) -> Vec<Vec<String>> {
    let mut rows = vec![
        ["service", "flag"]
            .iter()
            .chain(columns)
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    ];
    for (service, flags) in table {
        for (key, by_env) in flags {
            let mut row = vec![service.to_string(), key.to_string()];
            row.extend(columns.iter().map(|env| cell(by_env.get(env))));
            rows.push(row);
        }
    }
    rows
}

fn text_table(table: &BTreeMap<&str, ServiceFlags>, columns: &[&str]) -> String {
    if table.is_empty() {
        return "no feature flags\n".into();
    }
    let rows = rows(table, columns);
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Service names, flag keys and environment names are identifiers, so no
/// cell needs escaping; descriptions and teams are only in the JSON.
fn markdown(table: &BTreeMap<&str, ServiceFlags>, columns: &[&str]) -> String {
    if table.is_empty() {
        return "No feature flags.\n".into();
    }
    let rows = rows(table, columns);
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
        if i == 0 {
            out.push_str(&format!("|{}\n", "---|".repeat(row.len())));
        }
    }
    out
}

fn json_report(table: &BTreeMap<&str, ServiceFlags>, columns: &[&str]) -> String {
    let mut flags = Vec::new();
    for (service, by_key) in table {
        for (key, by_env) in by_key {
            let environments: serde_json::Map<String, Value> = columns
                .iter()
                .map(|env| {
                    let value = by_env.get(env).map_or(Value::Null, |f| {
                        json!({
                            "state": cell(Some(f)),
                            "enabled": f.enabled,
                            "rollout_percentage": f.rollout_percentage,
                            "teams": f.teams,
                            "description": f.description,
                        })
                    });
                    (env.to_string(), value)
                })
                .collect();
            flags.push(json!({ "service": service, "flag": key, "environments": environments }));
        }
    }
    let report = json!({ "environments": columns, "flags": flags });
    serde_json::to_string_pretty(&report).expect("JSON serializes") + "\n"
}
