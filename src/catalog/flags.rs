//! The `flags` block (SPEC §4 "Feature flags"): flag key → its settings, in
//! a service file, a profile's `defaults` or `overrides.<env>`. Only what is
//! wrong within the block itself is checked here; whether its `environments`
//! are the service's is checked in `resolve::flags`.

use crate::catalog::reader::{Reader, Spanned};
use crate::diagnostic::Diagnostic;
use crate::yaml_tree::Node;

/// One flag as one layer writes it; unset settings come from lower layers.
#[derive(Clone, Debug)]
pub struct FlagSpec {
    pub key: Spanned<String>,
    pub description: Option<Spanned<String>>,
    pub enabled: Option<Spanned<bool>>,
    pub rollout_percentage: Option<Spanned<i64>>,
    /// Where the flag exists; `None`: every environment of the service.
    pub environments: Option<Vec<Spanned<String>>>,
    pub teams: Option<Vec<Spanned<String>>>,
}

const FLAG_KEYS: &[&str] = &["description", "enabled", "rollout_percentage", "environments", "teams"];
/// An override is one environment already: where a flag exists is set once,
/// in the service file or the profile.
const OVERRIDE_FLAG_KEYS: &[&str] = &["description", "enabled", "rollout_percentage", "teams"];

/// The longest flag key: far more than a readable name needs, and short
/// enough to show in a table.
pub const MAX_KEY: usize = 128;

/// Why `key` is not a flag key, if it is not one. Flag keys travel into
/// code (`client.getBooleanValue("new-checkout", false)`), flagd's bucketing
/// and `stamp flags` tables, so they are plain identifiers: ASCII letters and
/// digits, `_`, `.` and `-`, starting with a letter or digit.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("it is empty")
    } else if key.len() > MAX_KEY {
        Some("it is longer than 128 characters")
    } else if !key.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("it must start with a letter or digit")
    } else if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        Some("use only letters, digits, `_`, `.` and `-`")
    } else {
        None
    }
}

/// Reads a `flags:` map. `in_override` refuses `environments`.
pub fn read(r: &mut Reader, node: &Node, in_override: bool) -> Vec<FlagSpec> {
    let allowed = if in_override { OVERRIDE_FLAG_KEYS } else { FLAG_KEYS };
    let mut flags: Vec<FlagSpec> = Vec::new();
    for (key, node) in r.entries(node, "flags") {
        if let Some(problem) = key_problem(&key.value) {
            r.push(
                Diagnostic::new(
                    r.file,
                    key.pos,
                    format!("flag key `{}` is not valid: {problem}", key.value.escape_debug()),
                )
                .with_hint("a flag key is an identifier such as `new-checkout` or `search.v2_ranking`"),
            );
            continue;
        }
        if flags.iter().any(|f| f.key.value == key.value) {
            r.error(key.pos, format!("flag `{}` is set twice", key.value));
            continue;
        }
        let what = format!("flag `{}`", key.value);
        let before = r.diags.len();
        let Some(f) = r.map(node, &what, allowed) else {
            continue;
        };
        if in_override {
            let unknown = "unknown key `environments`";
            for d in r.diags[before..].iter_mut().filter(|d| d.message.starts_with(unknown)) {
                d.hint = Some(
                    "an override is one environment already: set `environments` on the flag outside `overrides`, or `enabled: false` here".into(),
                );
            }
        }
        let field = |name: &str| format!("flags.{}.{name}", key.value);
        let enabled = f.get("enabled").and_then(|n| {
            let value = r.bool(n, &field("enabled"))?;
            Some(Spanned::new(value, n.pos))
        });
        let flag = FlagSpec {
            description: f.get("description").and_then(|n| r.string(n, &field("description"))),
            enabled,
            rollout_percentage: f
                .get("rollout_percentage")
                .and_then(|n| r.int(n, &field("rollout_percentage"), 0, 100)),
            environments: f
                .get("environments")
                .map(|n| non_empty_list(r, n, &field("environments"))),
            teams: f.get("teams").map(|n| non_empty_list(r, n, &field("teams"))),
            key,
        };
        flags.push(flag);
    }
    flags
}

/// A list of strings, none of them empty (an empty team matches contexts
/// that set `team: ""`, which no one means).
fn non_empty_list(r: &mut Reader, node: &Node, what: &str) -> Vec<Spanned<String>> {
    let items = r.list(node, what);
    for item in items.iter().filter(|i| i.value.is_empty()) {
        r.error(item.pos, format!("{what} holds an empty string"));
    }
    items.into_iter().filter(|i| !i.value.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_keys_are_identifiers() {
        for ok in ["new-checkout", "search.v2_ranking", "A1", "1st"] {
            assert_eq!(key_problem(ok), None, "{ok}");
        }
        for bad in ["", "-x", ".x", "a b", "a\nb", "{{ x }}", "a/b", "ä", "\"q\""] {
            assert!(key_problem(bad).is_some(), "{bad:?}");
        }
        assert!(key_problem(&"a".repeat(129)).is_some());
        assert_eq!(key_problem(&"a".repeat(128)), None);
    }
}
