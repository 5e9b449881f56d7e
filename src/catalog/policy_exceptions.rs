//! `policy_exceptions:` in a service file (top level or under
//! `overrides.<env>`): a rule waived for a reason until a date.

use crate::catalog::reader::{Reader, Spanned};
use crate::yaml_tree::{Node, NodeKind};

/// The environment variable that pins today's date (`YYYY-MM-DD`, UTC), so
/// tests and reproducible CI runs do not depend on the clock.
pub const TODAY_VAR: &str = "STAMP_TODAY";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyException {
    pub rule: Spanned<String>,
    pub reason: Spanned<String>,
    /// `YYYY-MM-DD`; the exception is in force through this day (UTC).
    pub expires: Spanned<String>,
    /// The environment whose `overrides` holds it; `None` for every environment.
    pub env: Option<String>,
}

impl PolicyException {
    /// Whether the exception covers a target of `env`.
    pub fn applies_to(&self, env: &str) -> bool {
        self.env.as_deref().is_none_or(|e| e == env)
    }
}

/// Reads a `policy_exceptions` list; expired entries and bad dates are
/// errors at their line.
pub(crate) fn read(r: &mut Reader, node: &Node, env: Option<&str>, today: &str) -> Vec<PolicyException> {
    let NodeKind::Seq(items) = &node.kind else {
        if !node.is_null() {
            r.error(
                node.pos,
                format!("policy_exceptions must be a list, found {}", node.kind_name()),
            );
        }
        return Vec::new();
    };
    let what = "a policy exception";
    let mut out = Vec::new();
    for item in items {
        let Some(f) = r.map(item, what, &["rule", "reason", "expires"]) else {
            continue;
        };
        let field = |r: &mut Reader, key: &str| {
            r.require(&f, key, what)
                .and_then(|n| r.string(n, &format!("policy_exceptions.{key}")))
        };
        let (rule, reason, expires) = (field(r, "rule"), field(r, "reason"), field(r, "expires"));
        let (Some(rule), Some(reason), Some(expires)) = (rule, reason, expires) else {
            continue;
        };
        if reason.value.trim().is_empty() {
            r.error(
                reason.pos,
                "policy_exceptions.reason is empty: say why the rule is waived",
            );
            continue;
        }
        if !is_date(&expires.value) {
            r.error(
                expires.pos,
                format!(
                    "policy_exceptions.expires `{}` is not a date (YYYY-MM-DD)",
                    expires.value
                ),
            );
            continue;
        }
        if expires.value.as_str() < today {
            r.push(
                crate::diagnostic::Diagnostic::new(
                    r.file,
                    expires.pos,
                    format!(
                        "the exception for rule `{}` expired on {} (today is {today}, UTC)",
                        rule.value, expires.value
                    ),
                )
                .with_hint(
                    "fix what the rule finds and remove the exception, or agree a new date with the platform team",
                ),
            );
            continue;
        }
        out.push(PolicyException {
            rule,
            reason,
            expires,
            env: env.map(str::to_string),
        });
    }
    out
}

/// `YYYY-MM-DD` naming a real day.
fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return false };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=12).contains(&m) && d >= 1 && d <= days[m as usize - 1]
}

/// Today's date (UTC) as `YYYY-MM-DD`, or the one `STAMP_TODAY` pins.
pub fn today() -> String {
    if let Ok(pinned) = std::env::var(TODAY_VAR)
        && is_date(&pinned)
    {
        return pinned;
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date((secs / 86_400) as i64)
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_513), "2026-03-01");
        assert!(is_date("2028-02-29"));
        assert!(!is_date("2027-02-29"));
        assert!(!is_date("2027-3-31"));
        assert!(!is_date("tomorrow"));
    }
}
