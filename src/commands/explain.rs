//! `stamp explain SERVICE`: every resolved value of a target and where it
//! was set (archetype default, profile, size, service file, override).

use serde::Serialize;
use serde_json::Value;

use crate::cli::{Format, Settings};
use crate::commands::session;
use crate::compile::Parsed;
use crate::diagnostic::did_you_mean;
use crate::error::{Error, ExitStatus};
use crate::resolve::{Origin, Target};
use crate::{catalog, report, resolve};

#[derive(Serialize)]
struct Explained<'a> {
    target: String,
    values: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    key: String,
    value: Value,
    /// None for values stamp derives (namespace, image ref, selector).
    origin: Option<&'a Origin>,
}

pub(crate) fn run(
    settings: &Settings,
    service: &str,
    env: Option<&str>,
    region: Option<&str>,
) -> Result<ExitStatus, Error> {
    let (
        sources,
        Parsed {
            catalog,
            resolved,
            mut diags,
            ..
        },
    ) = session::resolve_repo(settings, resolve::Provenance::Record)?;
    let known = session::service_names(&catalog);
    if !known.clone().any(|s| s == service) {
        return Err(Error::Refused {
            message: format!("service `{service}` is not in `catalog/services/`"),
            hint: did_you_mean(service, known).map(|best| format!("did you mean `{best}`?")),
        });
    }
    if resolved.failed_services.contains(service) {
        let file = format!("{}{service}.yaml", catalog::SERVICES_DIR);
        diags.retain(|d| d.file == file || !d.file.starts_with(catalog::SERVICES_DIR));
        report::diagnostics(settings, &sources, &diags);
        return Ok(ExitStatus::Errors);
    }
    let targets: Vec<&Target> = resolved
        .targets
        .iter()
        .filter(|t| t.service == service && env.is_none_or(|e| t.env == e) && region.is_none_or(|r| t.region == r))
        .collect();
    if targets.is_empty() {
        return Err(Error::refused(format!(
            "service `{service}` has no target in environment `{}` and region `{}`",
            env.unwrap_or("*"),
            region.unwrap_or("*")
        )));
    }
    let explained: Vec<Explained> = targets.iter().map(|t| explain(t)).collect();
    match settings.format {
        Format::Json => {
            report::stdout(&(serde_json::to_string_pretty(&explained).expect("JSON values serialize") + "\n"))
        }
        Format::Text | Format::GithubMatrix | Format::Markdown => report::stdout(&text(&explained)),
    }
    Ok(ExitStatus::Ok)
}

fn explain(target: &Target) -> Explained<'_> {
    let values = serde_json::to_value(&*target.values).expect("values serialize");
    let mut flat = Vec::new();
    flatten("", &values, &mut flat);
    // A service without feature flags has none to explain.
    flat.retain(|(k, v)| !(k == "flags" && v.as_object().is_some_and(|m| m.is_empty())));
    // Components an override removed are worth seeing too.
    for key in target.origins.keys().filter(|k| k.starts_with("components.")) {
        if !flat.iter().any(|(k, _)| k == key) {
            flat.push((key.clone(), Value::Bool(false)));
        }
    }
    let values = flat
        .into_iter()
        .map(|(key, value)| {
            // `autoscaling.min` is explained by `autoscaling`, and so on.
            let origin = std::iter::successors(Some(key.as_str()), |k| k.rsplit_once('.').map(|(parent, _)| parent))
                .find_map(|k| target.origins.get(k));
            Entry { key, value, origin }
        })
        .collect();
    Explained {
        target: target.id(),
        values,
    }
}

/// Dotted keys for nested maps; lists of names become `components.<name>`.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() && prefix != "selector" => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        // A command is one value (its arguments in order), not a set of names.
        Value::Array(items)
            if items.iter().all(Value::is_string) && !items.is_empty() && prefix != "migration.command" =>
        {
            for item in items {
                out.push((key(item.as_str().unwrap_or_default()), Value::Bool(true)));
            }
        }
        _ => out.push((prefix.to_string(), value.clone())),
    }
}

fn text(explained: &[Explained]) -> String {
    let mut out = String::new();
    for (i, target) in explained.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}\n", target.target));
        let key_width = target.values.iter().map(|e| e.key.len()).max().unwrap_or(0);
        let shown: Vec<String> = target
            .values
            .iter()
            .map(|e| match &e.value {
                Value::String(s) => s.clone(),
                Value::Null if e.key == "replicas" => "unset (the hpa component scales it)".to_string(),
                Value::Null => "-".to_string(),
                other => other.to_string(),
            })
            .collect();
        let value_width = shown.iter().map(|v| v.chars().count()).max().unwrap_or(0).min(48);
        for (entry, value) in target.values.iter().zip(shown) {
            let origin = match entry.origin {
                Some(o) => format!("{}:{}  {}", o.file, o.line, o.level),
                None => "derived".to_string(),
            };
            out.push_str(&format!(
                "  {:key_width$}  {:value_width$}  {origin}\n",
                entry.key, value
            ));
        }
    }
    out
}
