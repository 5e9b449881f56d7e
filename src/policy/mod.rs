//! The policy stage: rules checked on every rendered target before it is
//! written (SPEC §5). Built-in rules are Rust functions over the parsed
//! objects (`builtin`); platform rules are `policies/*.rego` (`rego`). A
//! violation fails its target like a schema error, unless the service waives
//! the rule with an exception in force; a warning is printed.

mod builtin;
mod rego;
mod violation;

use std::collections::BTreeSet;

use crate::catalog::policy_exceptions::PolicyException;
use crate::diagnostic::Diagnostic;
use crate::load::Sources;
use crate::render::Object;
use crate::resolve::Target;

pub(crate) use builtin::RULES;
pub(crate) use rego::{POLICIES_DIR, RegoPolicy};
pub(crate) use violation::{Severity, Violation};

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
    if !policies.rego.is_empty() {
        // Converted once per target, shared by every policy.
        let input = rego::input(target, objects);
        for policy in &policies.rego {
            found.extend(policy.check(&input));
        }
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
