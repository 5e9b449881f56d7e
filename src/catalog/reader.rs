//! Typed reading of a YAML tree, collecting every problem with its position.

use crate::diagnostic::{Diagnostic, Pos};
use crate::yaml_tree::{Node, NodeKind};

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> Spanned<T> {
    pub fn new(value: T, pos: Pos) -> Spanned<T> {
        Spanned { value, pos }
    }
}

impl Spanned<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// Reads one file's tree into typed values; problems pile up in `diags`.
pub struct Reader<'a> {
    pub file: &'a str,
    pub diags: Vec<Diagnostic>,
}

/// The keys of a YAML map, already checked against the allowed set.
pub struct Fields<'n> {
    pub pos: Pos,
    entries: Vec<(&'n str, &'n Node)>,
    /// Allowed keys an unknown key was taken for; not reported again as missing.
    suggested: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }
}

impl<'a> Reader<'a> {
    pub fn new(file: &'a str) -> Reader<'a> {
        Reader {
            file,
            diags: Vec::new(),
        }
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(self.file, pos, message));
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    /// A map whose keys must all be in `allowed`; unknown keys get a did-you-mean.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&'static str]) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            if node.is_null() {
                return Some(Fields {
                    pos: node.pos,
                    entries: Vec::new(),
                    suggested: Vec::new(),
                });
            }
            self.error(node.pos, format!("{what} must be a map, found {}", node.kind_name()));
            return None;
        };
        let mut fields = Vec::new();
        let mut suggested = Vec::new();
        for (key, value) in entries {
            let name = key.scalar().unwrap_or_default();
            if allowed.contains(&name) {
                fields.push((name, value));
            } else {
                let d = Diagnostic::new(self.file, key.pos, format!("unknown key `{name}` in {what}"))
                    .suggest(name, allowed.iter().copied());
                if let Some(best) = crate::diagnostic::did_you_mean(name, allowed.iter().copied()) {
                    suggested.push(best);
                }
                let d = if d.hint.is_none() {
                    d.with_hint(format!("expected one of: {}", allowed.join(", ")))
                } else {
                    d
                };
                self.push(d);
            }
        }
        Some(Fields {
            pos: node.pos,
            entries: fields,
            suggested,
        })
    }

    /// A map with free-form keys (names of profiles, sizes, env variables ...).
    pub fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Vec<(Spanned<String>, &'n Node)> {
        match &node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, v)| (Spanned::new(k.scalar().unwrap_or_default().to_string(), k.pos), v))
                .collect(),
            _ if node.is_null() => Vec::new(),
            _ => {
                self.error(node.pos, format!("{what} must be a map, found {}", node.kind_name()));
                Vec::new()
            }
        }
    }

    pub fn require<'n>(&mut self, fields: &Fields<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let found = fields.get(key);
        if found.is_none() && !fields.suggested.contains(&key) {
            self.error(fields.pos, format!("{what} is missing the required key `{key}`"));
        }
        found
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match node.scalar() {
            Some(text) if !node.is_null() => Some(Spanned::new(text.to_string(), node.pos)),
            _ => {
                self.error(node.pos, format!("{what} must be a string, found {}", node.kind_name()));
                None
            }
        }
    }

    /// A DNS-1123 label: what Kubernetes accepts as a name and a namespace part.
    pub fn name(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let name = self.string(node, what)?;
        match dns_label_problem(&name.value) {
            None => Some(name),
            Some(problem) => {
                self.error(
                    node.pos,
                    format!("{what} `{}` is not a DNS-1123 label: {problem}", name.value),
                );
                None
            }
        }
    }

    pub fn int(&mut self, node: &Node, what: &str, min: i64, max: i64) -> Option<Spanned<i64>> {
        let parsed = match &node.kind {
            NodeKind::Scalar { text, plain: true } => text.parse::<i64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if (min..=max).contains(&n) => Some(Spanned::new(n, node.pos)),
            Some(n) => {
                self.error(node.pos, format!("{what} must be between {min} and {max}, found {n}"));
                None
            }
            None => {
                self.error(
                    node.pos,
                    format!("{what} must be a whole number, found {}", describe(node)),
                );
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Scalar { text, plain: true } if text == "true" => Some(true),
            NodeKind::Scalar { text, plain: true } if text == "false" => Some(false),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be true or false, found {}", describe(node)),
                );
                None
            }
        }
    }

    pub fn list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|item| self.string(item, what)).collect(),
            _ if node.is_null() => Vec::new(),
            _ => {
                self.error(node.pos, format!("{what} must be a list, found {}", node.kind_name()));
                Vec::new()
            }
        }
    }

    pub fn one_of(&mut self, node: &Node, what: &str, choices: &[&str]) -> Option<Spanned<String>> {
        let value = self.string(node, what)?;
        if choices.contains(&value.as_str()) {
            return Some(value);
        }
        let d = Diagnostic::new(
            self.file,
            node.pos,
            format!("{what} `{}` is not one of: {}", value.value, choices.join(", ")),
        )
        .suggest(&value.value, choices.iter().copied());
        self.push(d);
        None
    }
}

fn describe(node: &Node) -> String {
    match node.scalar() {
        Some(text) => format!("`{text}`"),
        None => node.kind_name().to_string(),
    }
}

/// Why `name` is not a DNS-1123 label, if it is not one.
pub fn dns_label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 63 {
        Some("it is longer than 63 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("use only lowercase letters, digits and `-`")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("it must start and end with a letter or digit")
    } else {
        None
    }
}

/// Converts a YAML node to JSON with YAML 1.2 core-schema typing of plain scalars.
pub fn node_to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        NodeKind::Scalar { text, plain: false } => Value::String(text.clone()),
        NodeKind::Scalar { text, plain: true } => {
            if node.is_null() {
                Value::Null
            } else if let Some(b) = match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            } {
                Value::Bool(b)
            } else if let Ok(n) = text.parse::<i64>() {
                Value::from(n)
            } else if let Some(f) = text.parse::<f64>().ok().filter(|f| f.is_finite() && text.contains('.')) {
                Value::from(f)
            } else {
                Value::String(text.clone())
            }
        }
        NodeKind::Seq(items) => Value::Array(items.iter().map(node_to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.scalar().unwrap_or_default().to_string(), node_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml_tree::parse;

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let node = parse("s.yaml", "name: a\nprofle: x\n").unwrap();
        let mut r = Reader::new("s.yaml");
        r.map(&node, "a service", &["name", "profile"]);
        assert_eq!(r.diags.len(), 1);
        assert_eq!(r.diags[0].pos, Pos::new(2, 1));
        assert_eq!(r.diags[0].message, "unknown key `profle` in a service");
        assert_eq!(r.diags[0].hint.as_deref(), Some("did you mean `profile`?"));
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label_problem("account-service"), None);
        assert!(dns_label_problem("Account").is_some());
        assert!(dns_label_problem("-a").is_some());
        assert!(dns_label_problem(&"a".repeat(64)).is_some());
    }
}
