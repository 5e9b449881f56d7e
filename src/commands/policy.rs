//! `stamp policy`: the built-in rules, the repo's `policies/*.rego` and the
//! policy exceptions in force, with their expiry.

use serde_json::{Value, json};

use crate::cli::{Format, Settings};
use crate::commands::session;
use crate::error::{Error, ExitStatus};
use crate::{catalog, policy, report};

pub(crate) fn run(settings: &Settings) -> Result<ExitStatus, Error> {
    let sources = session::read_repo(settings)?;
    let (catalog, mut diags) = catalog::parse(&sources);
    let (policies, policy_diags) = policy::load(&sources);
    diags.extend(policy_diags);
    let listing = listing(&catalog, &policies);
    match settings.format {
        Format::Json => report::stdout(&(serde_json::to_string_pretty(&listing).expect("JSON serializes") + "\n")),
        Format::Text | Format::GithubMatrix | Format::Markdown => report::stdout(&text(&listing)),
    }
    if diags.is_empty() {
        return Ok(ExitStatus::Ok);
    }
    report::diagnostics(settings, &sources, &diags);
    Ok(ExitStatus::Errors)
}

fn listing(catalog: &catalog::Catalog, policies: &policy::Policies) -> Value {
    let rules: Vec<Value> = policy::RULES
        .iter()
        .map(|r| json!({"id": r.id, "description": r.description}))
        .collect();
    let rego: Vec<Value> = policies
        .rego
        .iter()
        .map(|p| json!({"id": p.id, "file": p.file}))
        .collect();
    let mut exceptions = Vec::new();
    for service in &catalog.services {
        for e in &service.policy_exceptions {
            exceptions.push(json!({
                "service": service.name.value,
                "rule": e.rule.value,
                "env": e.env,
                "reason": e.reason.value,
                "expires": e.expires.value,
            }));
        }
    }
    json!({"rules": rules, "policies": rego, "exceptions": exceptions})
}

/// Columns for people; the reason is quoted, so whatever it holds stays one line.
fn text(listing: &Value) -> String {
    let list = |key: &str| listing[key].as_array().cloned().unwrap_or_default();
    let s = |v: &Value, key: &str| v[key].as_str().unwrap_or("-").to_string();
    let mut out = String::from("built-in rules\n");
    for r in list("rules") {
        out.push_str(&format!("  {:22}  {}\n", s(&r, "id"), s(&r, "description")));
    }
    out.push_str("\npolicies\n");
    let rego = list("policies");
    if rego.is_empty() {
        out.push_str("  none (add `policies/<rule>.rego`)\n");
    }
    for p in rego {
        out.push_str(&format!("  {:22}  {}\n", s(&p, "id"), s(&p, "file")));
    }
    out.push_str("\nexceptions in force\n");
    let exceptions = list("exceptions");
    if exceptions.is_empty() {
        out.push_str("  none\n");
    }
    for e in exceptions {
        out.push_str(&format!(
            "  {}  {}  {}  until {}  {}\n",
            s(&e, "service"),
            s(&e, "rule"),
            e["env"]
                .as_str()
                .map_or("every environment".to_string(), |env| format!("in {env}")),
            s(&e, "expires"),
            e["reason"],
        ));
    }
    out
}
