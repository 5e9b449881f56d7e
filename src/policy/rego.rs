//! Platform rules: `policies/*.rego`, Rego v1 evaluated in-process by
//! regorus, with conftest's conventions (`package main`, `deny contains msg`
//! fails the target, `warn contains msg` is printed). Each file is compiled
//! once per build; each target evaluates a clone of the compiled engine.

use std::sync::Mutex;

use regorus::Engine;
use serde_json::{Value, json};

use super::violation::{Field, Severity, Violation};
use crate::diagnostic::{Diagnostic, Pos};
use crate::render::Object;
use crate::resolve::Target;

pub(crate) const POLICIES_DIR: &str = "policies/";

pub(crate) struct RegoPolicy {
    /// The file stem: the rule id exceptions and messages use.
    pub(crate) id: String,
    pub(crate) file: String,
    /// Compiled and prepared once; cloned per evaluation (a clone keeps the
    /// prepared state, so no target compiles the module again).
    engine: Mutex<Engine>,
    deny_line: Pos,
    warn_line: Pos,
}

/// The 1-based line of the first rule named `name` in `text`.
fn rule_line(text: &str, name: &str) -> Pos {
    text.lines()
        .position(|l| {
            l.trim_start().starts_with(name) && l.trim_start()[name.len()..].starts_with([' ', '\t', '[', '{'])
        })
        .map_or(Pos::START, |i| Pos::new(i as u32 + 1, 1))
}

/// The first `line:col` after `file:` in a regorus error, if it names one.
fn error_pos(file: &str, message: &str) -> Pos {
    let Some(at) = message.find(&format!("{file}:")) else {
        return Pos::START;
    };
    let mut numbers = message[at + file.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .map(|n| n.parse::<u32>().unwrap_or(1));
    match (numbers.next(), numbers.next()) {
        (Some(line), Some(col)) => Pos::new(line.max(1), col.max(1)),
        _ => Pos::START,
    }
}

/// Compiles one policy file; `Ok(None)` for files that are not `.rego`.
pub(super) fn compile(path: &str, text: &str) -> Result<Option<RegoPolicy>, Diagnostic> {
    let Some(id) = path.strip_prefix(POLICIES_DIR).and_then(|p| p.strip_suffix(".rego")) else {
        return Ok(None);
    };
    let error = |e: &dyn std::fmt::Display| {
        let message = e.to_string();
        // regorus ends its report with `error: <what>`, after the location
        // and an excerpt the diagnostic shows anyway.
        let last = message.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let what = last.strip_prefix("error: ").unwrap_or(last);
        Diagnostic::new(
            path,
            error_pos(path, &message),
            format!("the policy does not compile: {what}"),
        )
        .with_hint("policies are Rego v1 (`deny contains msg if { ... }`), checked before any target is written")
    };
    if id.contains('/') {
        return Err(
            Diagnostic::new(path, Pos::START, "policies sit directly in `policies/`")
                .with_hint("move the file up: its name is its rule id"),
        );
    }
    let mut engine = Engine::new();
    engine
        .add_policy(path.to_string(), text.to_string())
        .map_err(|e| error(&e))?;
    let packages = engine.get_packages().map_err(|e| error(&e))?;
    if packages.iter().any(|p| p != "data.main") {
        return Err(
            Diagnostic::new(path, rule_line(text, "package"), "a policy must be `package main`").with_hint(
                "stamp follows conftest's conventions: `package main`, `deny contains msg`, `warn contains msg`",
            ),
        );
    }
    // Prepares the engine (analysis, scheduling), so that every clone is
    // ready to evaluate, and fails here on errors only preparation finds.
    engine.set_input(regorus::Value::new_object());
    for rule in ["deny", "warn"] {
        engine
            .eval_query(format!("data.main.{rule}"), false)
            .map_err(|e| error(&e))?;
    }
    Ok(Some(RegoPolicy {
        id: id.to_string(),
        file: path.to_string(),
        engine: Mutex::new(engine),
        deny_line: rule_line(text, "deny"),
        warn_line: rule_line(text, "warn"),
    }))
}

/// The input document of SPEC §5.
pub(crate) fn input(target: &Target, objects: &[Object]) -> Value {
    json!({
        "target": {
            "service": target.service,
            "env": target.env,
            "region": target.region,
            "team": target.values.owners.team,
            "approval": target.approval.as_str(),
        },
        "objects": objects.iter().map(|o| &o.value).collect::<Vec<_>>(),
    })
}

impl RegoPolicy {
    /// Evaluates `deny` and `warn` for one target; an evaluation error
    /// denies the target (a policy that cannot decide never passes it).
    pub(super) fn check(&self, input: &regorus::Value) -> Vec<Violation> {
        let mut engine = self.engine.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let violation = |severity, line, message: String| Violation {
            rule: self.id.clone(),
            severity,
            kind: String::new(),
            name: String::new(),
            file: self.file.clone(),
            field: Field::Line(line),
            message,
            fix: format!("the platform rule in `{}` says so", self.file),
            value: None,
        };
        engine.set_input(input.clone());
        let mut found = Vec::new();
        for (rule, severity, line) in [
            ("deny", Severity::Deny, self.deny_line),
            ("warn", Severity::Warn, self.warn_line),
        ] {
            match engine.eval_query(format!("data.main.{rule}"), false) {
                Ok(results) => {
                    for message in messages(&results) {
                        found.push(violation(severity, line, message));
                    }
                }
                Err(e) => found.push(violation(
                    Severity::Deny,
                    line,
                    format!(
                        "`{rule}` failed to evaluate: {}",
                        e.to_string().lines().next().unwrap_or_default()
                    ),
                )),
            }
        }
        found
    }
}

/// The messages of a `deny`/`warn` set: strings, or objects with a `msg`
/// (conftest accepts both).
fn messages(results: &regorus::QueryResults) -> Vec<String> {
    let mut out = Vec::new();
    for result in &results.result {
        for expression in &result.expressions {
            let json: Value = expression
                .value
                .to_json_str()
                .ok()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null);
            for item in json.as_array().map_or(&[][..], Vec::as_slice) {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => out.push(
                        other
                            .get("msg")
                            .and_then(Value::as_str)
                            .map_or_else(|| other.to_string(), str::to_string),
                    ),
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_lines_and_error_positions() {
        let text = "package main\n\ndeny contains msg if {\n  false\n}\nwarn contains \"x\" if { true }\n";
        assert_eq!(rule_line(text, "deny"), Pos::new(3, 1));
        assert_eq!(rule_line(text, "warn"), Pos::new(6, 1));
        assert_eq!(
            error_pos("policies/a.rego", "--> policies/a.rego:4:7\n"),
            Pos::new(4, 7)
        );
    }

    #[test]
    fn a_policy_in_another_package_is_refused() {
        let d = compile("policies/x.rego", "package other\n\ndeny contains \"x\" if { true }\n")
            .err()
            .unwrap();
        assert_eq!(d.message, "a policy must be `package main`");
    }

    #[test]
    fn compiles_and_evaluates() {
        let p = compile(
            "policies/x.rego",
            "package main\n\ndeny contains msg if {\n  some o in input.objects\n  msg := sprintf(\"%s is bad\", [o.kind])\n}\n",
        )
        .unwrap()
        .unwrap();
        let mut engine = p.engine.lock().unwrap().clone();
        engine.set_input(regorus::Value::from(json!({"objects": [{"kind": "Pod"}]})));
        let results = engine.eval_query("data.main.deny".into(), false).unwrap();
        assert_eq!(messages(&results), vec!["Pod is bad".to_string()]);
    }
}
