//! The `migration` block (SPEC §4 "Migrations"): a command run as a Job
//! before the workloads on every sync, with a deadline.
//!
//! ```yaml
//! migration:
//!   command: [./migrate, up]
//!   timeout: 10m
//! ```
//!
//! Each layer (profile defaults, service, `overrides.<env>`) may set either
//! key; `resolve::migration` folds them key by key.

use crate::catalog::reader::{Reader, Spanned};
use crate::diagnostic::Pos;
use crate::yaml_tree::{Node, NodeKind};

pub(crate) const KEYS: &[&str] = &["command", "timeout"];

/// What one layer's `migration` block sets.
#[derive(Clone, Debug)]
pub struct MigrationLayer {
    /// Where the block is written.
    pub pos: Pos,
    /// The argv, replacing a lower layer's as a whole; its position is the list's.
    pub command: Option<Spanned<Vec<String>>>,
    /// The deadline in seconds, as written (`10m`) and parsed.
    pub timeout: Option<Spanned<Duration>>,
}

/// A duration as written and in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duration {
    pub text: String,
    pub seconds: u64,
}

/// Reads a `migration` block; `None` when it has an error (reported).
pub(crate) fn read(r: &mut Reader, node: &Node) -> Option<MigrationLayer> {
    let before = r.diags.len();
    let f = r.map(node, "migration", KEYS)?;
    let command = f.get("command").and_then(|n| read_command(r, n));
    let timeout = f
        .get("timeout")
        .and_then(|n| read_duration(r, n, "migration.timeout", false));
    (r.diags.len() == before).then_some(MigrationLayer {
        pos: node.pos,
        command,
        timeout,
    })
}

/// A non-empty list of strings whose first item, the program, is not empty.
fn read_command(r: &mut Reader, node: &Node) -> Option<Spanned<Vec<String>>> {
    let NodeKind::Seq(items) = &node.kind else {
        r.error(
            node.pos,
            format!(
                "migration.command must be a list of strings, found {}",
                node.kind_name()
            ),
        );
        return None;
    };
    if items.is_empty() {
        r.push(
            crate::diagnostic::Diagnostic::new(r.file, node.pos, "migration.command is empty")
                .with_hint("give the program and its arguments, e.g. `command: [./migrate, up]`"),
        );
        return None;
    }
    let mut argv = Vec::new();
    for item in items {
        // Arguments are text as written: `1.10` stays `1.10`, never a number.
        match item.scalar().filter(|_| !item.is_null()) {
            Some(text) => argv.push(text.to_string()),
            None => r.error(
                item.pos,
                format!("migration.command items must be strings, found {}", item.kind_name()),
            ),
        }
    }
    if argv.len() != items.len() {
        return None;
    }
    if argv[0].trim().is_empty() {
        r.error(items[0].pos, "migration.command starts with an empty program name");
        return None;
    }
    Some(Spanned::new(argv, node.pos))
}

/// A duration such as `90s`, `10m` or `1h30m`: whole hours, minutes and
/// seconds in that order. Zero is refused unless `zero_ok`.
pub(crate) fn read_duration(r: &mut Reader, node: &Node, what: &str, zero_ok: bool) -> Option<Spanned<Duration>> {
    let text = match &node.kind {
        NodeKind::Scalar { text, .. } if !node.is_null() => text.clone(),
        _ => {
            r.error(
                node.pos,
                format!("{what} must be a duration such as `10m`, found {}", node.kind_name()),
            );
            return None;
        }
    };
    match parse_duration(&text) {
        Ok(0) if !zero_ok => {
            r.error(node.pos, format!("{what} is `{text}`; it must be longer than zero"));
            None
        }
        Ok(seconds) => Some(Spanned::new(Duration { text, seconds }, node.pos)),
        Err(problem) => {
            r.push(
                crate::diagnostic::Diagnostic::new(
                    r.file,
                    node.pos,
                    format!("{what} `{text}` is not a duration: {problem}"),
                )
                .with_hint("write whole hours, minutes and seconds, e.g. `90s`, `10m` or `1h30m`"),
            );
            None
        }
    }
}

/// The longest duration accepted: a week, far beyond any deadline or alert
/// delay that can be meant, and far from overflowing anything.
const MAX_SECONDS: u64 = 7 * 24 * 3600;

/// Seconds in a duration of `h`, `m` and `s` parts, each at most once and
/// in that order; the reason it is not one, if it is not.
pub(crate) fn parse_duration(text: &str) -> Result<u64, &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    let mut rest = text;
    let mut seconds: u64 = 0;
    let mut units = ["h", "m", "s"].iter().zip([3600u64, 60, 1]).peekable();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err("expected a whole number before each unit");
        }
        let (number, after) = rest.split_at(digits);
        let unit = after
            .chars()
            .next()
            .ok_or("the last number has no unit (`s`, `m` or `h`)")?;
        // Skip units that are not written, refuse one out of order.
        let factor = loop {
            match units.next() {
                Some((u, factor)) if u.starts_with(unit) => break factor,
                Some(_) => continue,
                None if "hms".contains(unit) => return Err("units go from `h` to `m` to `s`, each at most once"),
                None => return Err("units are `s`, `m` and `h`"),
            }
        };
        let n: u64 = number.parse().map_err(|_| "the number is too large")?;
        seconds = n
            .checked_mul(factor)
            .and_then(|s| s.checked_add(seconds))
            .filter(|&s| s <= MAX_SECONDS)
            .ok_or("it is longer than a week")?;
        rest = &after[unit.len_utf8()..];
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("1h2m3s"), Ok(3723));
        assert_eq!(parse_duration("0m"), Ok(0));
        assert_eq!(parse_duration(""), Err("it is empty"));
        assert_eq!(
            parse_duration("10"),
            Err("the last number has no unit (`s`, `m` or `h`)")
        );
        assert_eq!(parse_duration("5d"), Err("units are `s`, `m` and `h`"));
        assert_eq!(parse_duration("m"), Err("expected a whole number before each unit"));
        assert_eq!(
            parse_duration("1m1h"),
            Err("units go from `h` to `m` to `s`, each at most once")
        );
        assert_eq!(
            parse_duration("1m1m"),
            Err("units go from `h` to `m` to `s`, each at most once")
        );
        assert_eq!(parse_duration("169h"), Err("it is longer than a week"));
        assert_eq!(
            parse_duration("99999999999999999999999s"),
            Err("the number is too large")
        );
        assert_eq!(parse_duration("10m "), Err("expected a whole number before each unit"));
        assert_eq!(parse_duration("10x"), Err("units are `s`, `m` and `h`"));
    }
}
