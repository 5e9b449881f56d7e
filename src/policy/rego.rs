//! Platform rules: `policies/*.rego`, Rego v1 evaluated in-process by
//! regorus, with conftest's conventions (`package main`, `deny contains msg`
//! fails the target, `warn contains msg` is printed). Each file is compiled
//! once per build; each target evaluates a clone of the compiled engine.

use std::collections::BTreeMap;
use std::sync::Mutex;

use regorus::Engine;
use serde_json::Value;

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
    /// The conventions' rules the file defines, each with its line: a
    /// rule it does not define is never evaluated.
    rules: Vec<Rule>,
}

struct Rule {
    path: &'static str,
    severity: Severity,
    line: Pos,
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

/// What went wrong, from a regorus error: it ends its report with
/// `error: <what>`, after the location and an excerpt.
fn what(message: &str) -> &str {
    let last = message.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim();
    last.strip_prefix("error: ").unwrap_or(last)
}

/// Compiles one policy file; `Ok(None)` for files that are not `.rego`.
pub(super) fn compile(path: &str, text: &str) -> Result<Option<RegoPolicy>, Diagnostic> {
    let Some(id) = path.strip_prefix(POLICIES_DIR).and_then(|p| p.strip_suffix(".rego")) else {
        return Ok(None);
    };
    let error = |e: &dyn std::fmt::Display| {
        let message = e.to_string();
        Diagnostic::new(
            path,
            error_pos(path, &message),
            format!("the policy does not compile: {}", what(&message)),
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
    let mut rules = Vec::new();
    for (name, path, severity) in [
        ("deny", "data.main.deny", Severity::Deny),
        ("warn", "data.main.warn", Severity::Warn),
    ] {
        engine.eval_query(path.to_string(), false).map_err(|e| error(&e))?;
        // regorus refuses a path no rule defines before evaluating anything;
        // any other answer keeps the rule (it is judged per target).
        if let Err(e) = engine.eval_rule(path.to_string())
            && e.to_string() == "not a valid rule path"
        {
            continue;
        }
        rules.push(Rule {
            path,
            severity,
            line: rule_line(text, name),
        });
    }
    Ok(Some(RegoPolicy {
        id: id.to_string(),
        file: path.to_string(),
        engine: Mutex::new(engine),
        rules,
    }))
}

/// The input document of SPEC §5, built as a regorus value directly: the
/// round trip through serde cost as much as evaluating the rules.
pub(crate) fn input(target: &Target, objects: &[Object]) -> regorus::Value {
    let text = |s: &str| regorus::Value::from(s);
    let target = BTreeMap::from([
        (text("service"), text(&target.service)),
        (text("env"), text(&target.env)),
        (text("region"), text(&target.region)),
        (text("team"), text(&target.values.owners.team)),
        (text("approval"), text(target.approval.as_str())),
    ]);
    let objects: Vec<regorus::Value> = objects.iter().map(|o| to_rego(&o.value)).collect();
    regorus::Value::from(BTreeMap::from([
        (text("target"), regorus::Value::from(target)),
        (text("objects"), regorus::Value::from(objects)),
    ]))
}

/// What `regorus::Value::from(value.clone())` gives, without the clone
/// and serde's visitor: whole numbers stay integers, others are floats.
fn to_rego(value: &Value) -> regorus::Value {
    match value {
        Value::Null => regorus::Value::Null,
        Value::Bool(b) => regorus::Value::from(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => regorus::Value::from(u),
            (None, Some(i), _) => regorus::Value::from(i),
            (None, None, Some(f)) => regorus::Value::from(f),
            (None, None, None) => regorus::Value::Undefined,
        },
        Value::String(s) => regorus::Value::from(s.as_str()),
        Value::Array(items) => regorus::Value::from(items.iter().map(to_rego).collect::<Vec<_>>()),
        Value::Object(fields) => regorus::Value::from(
            fields
                .iter()
                .map(|(k, v)| (regorus::Value::from(k.as_str()), to_rego(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
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
        for rule in &self.rules {
            match engine.eval_rule(rule.path.to_string()) {
                Ok(value) => {
                    for message in messages(&value) {
                        found.push(violation(rule.severity, rule.line, message));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    let at = match error_pos(&self.file, &message) {
                        Pos::START => rule.line,
                        at => at,
                    };
                    let name = rule.path.trim_start_matches("data.main.");
                    found.push(violation(
                        Severity::Deny,
                        at,
                        format!("`{name}` failed to evaluate: {}", what(&message)),
                    ));
                }
            }
        }
        found
    }
}

/// The messages of a `deny`/`warn` set: strings, or objects with a `msg`
/// (conftest accepts both); nothing when the rule is undefined.
fn messages(value: &regorus::Value) -> Vec<String> {
    let items: Vec<&regorus::Value> = match value {
        regorus::Value::Set(set) => set.iter().collect(),
        regorus::Value::Array(items) => items.iter().collect(),
        _ => Vec::new(),
    };
    let mut out: Vec<String> = items.into_iter().map(message).collect();
    out.sort();
    out
}

fn message(item: &regorus::Value) -> String {
    if let regorus::Value::String(s) = item {
        return s.to_string();
    }
    let json: Value = item
        .to_json_str()
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    match json.get("msg").and_then(Value::as_str) {
        Some(msg) => msg.to_string(),
        None => json.to_string(),
    }
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
        let input = regorus::Value::from(serde_json::json!({"objects": [{"kind": "Pod"}]}));
        let found = p.check(&input);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].message, "Pod is bad");
        assert_eq!(p.rules.len(), 1, "no `warn` rule to evaluate");
    }

    #[test]
    fn the_input_is_what_serde_would_build() {
        let value = serde_json::json!({
            "kind": "Deployment",
            "spec": {"replicas": 3, "ratio": 0.5, "offset": -2, "big": u64::MAX, "on": true, "none": null,
                "items": ["a", {"b": [1, 2.0]}]},
        });
        assert_eq!(to_rego(&value), regorus::Value::from(value.clone()));
    }

    #[test]
    fn messages_are_strings_or_msg_fields_sorted() {
        let set = regorus::Value::from(serde_json::json!(["b", {"msg": "a"}, {"other": 1}]));
        assert_eq!(messages(&set), vec!["a", "b", "{\"other\":1}"]);
        assert!(messages(&regorus::Value::Undefined).is_empty());
    }
}
