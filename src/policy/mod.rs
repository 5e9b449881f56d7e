//! The policy stage: rules checked on every rendered target before it is
//! written (SPEC §5). Built-in rules are Rust functions over the parsed
//! objects (`builtin`); platform rules are `policies/*.rego` (`rego`). A
//! violation fails its target like a schema error, unless the service waives
//! the rule with an exception in force; a warning is printed.

mod builtin;
mod rego;

use std::collections::BTreeSet;

use crate::catalog::policy_exceptions::PolicyException;
use crate::diagnostic::{Diagnostic, Pos};
use crate::load::Sources;
use crate::render::{Object, find_field_line};
use crate::resolve::{Origin, Target};

pub(crate) use builtin::RULES;
pub(crate) use rego::{POLICIES_DIR, RegoPolicy};

/// Whether a finding fails the target or is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    Deny,
    Warn,
}

/// One rule broken by one object of a target.
#[derive(Clone, Debug)]
pub(crate) struct Violation {
    pub(crate) rule: String,
    pub(crate) severity: Severity,
    /// The object's kind and name; empty for a Rego message.
    pub(crate) kind: String,
    pub(crate) name: String,
    /// The file to point at when no catalog line set the value: the
    /// template that rendered the object, or the `.rego` file.
    pub(crate) file: String,
    /// Where in the object (`spec.template.spec.containers[0].image`), or
    /// the Rego rule's line.
    pub(crate) field: Field,
    pub(crate) message: String,
    pub(crate) fix: String,
    /// The resolved value (`image.tag`, `size`) whose catalog line caused it.
    pub(crate) value: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum Field {
    Path(String),
    Line(Pos),
}

/// Every policy of the repo, compiled once per build.
#[derive(Default)]
pub(crate) struct Policies {
    pub(crate) rego: Vec<RegoPolicy>,
    /// The `.rego` files' paths and text: an input of every target.
    hash: Option<blake3::Hash>,
}

/// Reads and compiles `policies/*.rego`; a file that does not compile is a
/// diagnostic naming it (a shared input: the build fails closed).
pub(crate) fn load(sources: &Sources) -> (Policies, Vec<Diagnostic>) {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"stamp-policy v1");
    for id in RULES.iter().map(|r| r.id) {
        hasher.update(id.as_bytes());
    }
    let mut policies = Policies::default();
    let mut diags = Vec::new();
    for (path, text) in sources.files_under(POLICIES_DIR) {
        hasher.update(&(path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
        match rego::compile(path, text) {
            Ok(Some(policy)) => policies.rego.push(policy),
            Ok(None) => {}
            Err(d) => diags.push(d),
        }
    }
    policies.hash = Some(hasher.finalize());
    (policies, diags)
}

impl Policies {
    /// What a target's policy outcome depends on besides its objects: the
    /// policies and the service's exceptions that cover its environment.
    pub(crate) fn inputs(&self, exceptions: &[PolicyException], env: &str) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.hash.unwrap_or(blake3::Hash::from_bytes([0; 32])).as_bytes());
        for e in exceptions.iter().filter(|e| e.applies_to(env)) {
            for part in [&e.rule.value, &e.reason.value, &e.expires.value] {
                hasher.update(&(part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        }
        hasher.finalize()
    }

    /// Every rule id: the built-ins and one per `.rego` file.
    pub(crate) fn rule_ids(&self) -> impl Iterator<Item = &str> {
        RULES
            .iter()
            .map(|r| r.id)
            .chain(self.rego.iter().map(|p| p.id.as_str()))
    }
}

/// A target's policy outcome: what fails it, what is printed, and which of
/// the service's exceptions (by index) waived something.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) denied: Vec<Violation>,
    pub(crate) warned: Vec<Violation>,
    pub(crate) used: BTreeSet<usize>,
}

/// Runs every rule on a rendered target.
pub(crate) fn check(
    policies: &Policies,
    target: &Target,
    objects: &[Object],
    exceptions: &[PolicyException],
) -> Checked {
    let mut found = builtin::check(target, objects);
    for policy in &policies.rego {
        found.extend(policy.check(target, objects));
    }
    let mut checked = Checked::default();
    for violation in found {
        let waiver = exceptions
            .iter()
            .position(|e| e.rule.value == violation.rule && e.applies_to(&target.env));
        match (waiver, violation.severity) {
            (Some(i), _) => {
                checked.used.insert(i);
            }
            (None, Severity::Deny) => checked.denied.push(violation),
            (None, Severity::Warn) => checked.warned.push(violation),
        }
    }
    checked
}

impl Violation {
    /// The diagnostic for this violation of `target`: at the catalog line
    /// that set the value when `origin` is one, else at the object's field
    /// in the template (or the `.rego` rule).
    pub(crate) fn diagnostic(&self, sources: &Sources, target: &Target, origin: Option<&Origin>) -> Diagnostic {
        let object = if self.kind.is_empty() {
            String::new()
        } else {
            format!("{} `{}`: ", self.kind, self.name)
        };
        let message = format!("policy `{}`: {object}{}", self.rule, self.message);
        let in_template = || match &self.field {
            Field::Path(path) => find_field_line(sources.get(&self.file).unwrap_or_default(), path),
            Field::Line(pos) => *pos,
        };
        let catalog = origin.filter(|o| o.file.starts_with("catalog/"));
        let (file, pos, hint) = match catalog {
            Some(o) => {
                let line = sources
                    .get(&o.file)
                    .and_then(|s| s.lines().nth(o.line.saturating_sub(1) as usize))
                    .unwrap_or_default();
                let col = line.len() - line.trim_start().len() + 1;
                let rendered = in_template();
                (
                    o.file.clone(),
                    Pos::new(o.line, col as u32),
                    format!(
                        "{}; the value is set here ({}) and rendered by `{}:{}`",
                        self.fix, o.level, self.file, rendered.line
                    ),
                )
            }
            None => (self.file.clone(), in_template(), self.fix.clone()),
        };
        Diagnostic::new(file, pos, message)
            .for_target(target.id())
            .with_hint(hint)
    }
}
