//! One rule broken by one object of a target, and how it reads as a
//! diagnostic.

use crate::diagnostic::{Diagnostic, Pos};
use crate::load::Sources;
use crate::render::find_field_line;
use crate::resolve::{Origin, Target};

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
