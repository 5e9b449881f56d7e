//! A YAML emitter whose output reads the same under YAML 1.1 and 1.2.
//!
//! Kubernetes tooling reads YAML 1.1, where `NO`, `on`, `0755` and `1:30` are
//! not strings; libyaml-based emitters leave them unquoted. This one quotes
//! every string a 1.1 or 1.2 reader could take for something else, and writes
//! the stable block style reviewers are used to.

use serde_json::{Map, Value};

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            write_scalar(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Writes a map; with `inline_first` its first key follows a `- ` already written.
fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, inline_first: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        // A key is never a block scalar: plain when safe, else quoted.
        if is_plain_safe(key) {
            out.push_str(key);
        } else {
            write_double_quoted(out, key);
        }
        out.push(':');
        write_after_indicator(out, value, indent);
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                write_map(out, map, indent + 2, true);
            }
            _ => write_after_indicator(out, item, indent),
        }
    }
}

/// Writes what follows `key:` or `-`: a nested block, or a space and a scalar.
fn write_after_indicator(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2, false);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, indent + 2);
        }
        _ => {
            out.push(' ');
            write_scalar(out, value, indent + 2);
            out.push('\n');
        }
    }
}

fn write_scalar(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s, indent),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn write_string(out: &mut String, s: &str, indent: usize) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if let Some(chomp) = literal_chomping(s) {
        out.push('|');
        out.push_str(chomp);
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                pad(out, indent);
                out.push_str(line);
            }
        }
    } else {
        write_double_quoted(out, s);
    }
}

/// Characters a YAML 1.1 reader takes for line breaks, or that are not
/// printable; text holding one is double-quoted with escapes.
const NOT_IN_BLOCKS: [char; 5] = ['\u{2028}', '\u{2029}', '\u{feff}', '\u{fffe}', '\u{ffff}'];

/// Multi-line text goes in a literal block when it can round-trip there.
fn literal_chomping(s: &str) -> Option<&'static str> {
    let body = s.strip_suffix('\n');
    let simple = s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && !s
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || NOT_IN_BLOCKS.contains(&c))
        && !s.split('\n').any(|l| l.ends_with([' ', '\t']) || l.starts_with('\t'));
    simple.then_some(if body.is_some() { "" } else { "-" })
}

fn write_double_quoted(out: &mut String, s: &str) {
    write_flow_string(out, s);
}

/// Words YAML 1.1 reads as booleans or null (1.2 reads a subset of them).
const RESERVED: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on",
    "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "=", "<<",
];

/// Bytes that never appear in a plain scalar: flow indicators and control
/// characters (a table: this loop runs over every byte stamp writes).
const NEEDS_QUOTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[0x7f] = true;
    let flow = b"{}[],";
    let mut i = 0;
    while i < flow.len() {
        table[flow[i] as usize] = true;
        i += 1;
    }
    table
};

/// True when `s` written bare is read back as the same string by every reader.
pub fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    if first == b' ' || bytes[bytes.len() - 1] == b' ' || bytes[bytes.len() - 1] == b':' {
        return false;
    }
    // Anything that starts like a number may be an int, float, octal,
    // sexagesimal or timestamp in one YAML version or the other.
    let second = bytes.get(1).copied().unwrap_or(0);
    if first.is_ascii_digit() || (matches!(first, b'-' | b'+' | b'.') && (second.is_ascii_digit() || second == b'.')) {
        return false;
    }
    if s.len() <= 5
        && matches!(
            first,
            b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' | b'=' | b'<' | b'.'
        )
        && (RESERVED.contains(&s)
            || (first == b'.' && (s.eq_ignore_ascii_case(".inf") || s.eq_ignore_ascii_case(".nan"))))
    {
        return false;
    }
    // `-x` is a plain scalar; `-`, `- x` and `---` are not.
    let plain_dash = first == b'-' && bytes.len() > 1 && second != b' ' && !s.starts_with("---");
    if matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) && !plain_dash
    {
        return false;
    }
    let mut previous = 0u8;
    for &b in bytes {
        // `: ` and ` #` change meaning; flow indicators and control characters
        // need quotes.
        if NEEDS_QUOTES[b as usize] || (previous == b':' && b == b' ') || (previous == b' ' && b == b'#') {
            return false;
        }
        previous = b;
    }
    // Non-ASCII line breaks and the byte order mark.
    s.is_ascii() || !s.chars().any(|c| c.is_control() || NOT_IN_BLOCKS.contains(&c))
}

/// Writes `value` as one line of flow YAML (JSON syntax) that a YAML 1.1 or
/// 1.2 reader reads back as the same value: strings double-quoted, with every
/// character that could end a line or is not printable escaped. This is how
/// templates interpolate values, so a value can never become structure.
pub fn write_flow(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow_string(out, key);
                out.push_str(": ");
                write_flow(out, item);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(out, item);
            }
            out.push(']');
        }
        Value::String(s) => write_flow_string(out, s),
        scalar => write_scalar(out, scalar, 0),
    }
}

fn write_flow_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // YAML 1.1 line breaks, the byte order mark and whatever YAML
            // does not call printable.
            c if c.is_control() || NOT_IN_BLOCKS.contains(&c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_what_yaml_1_1_would_misread() {
        for s in [
            "NO",
            "no",
            "on",
            "Off",
            "y",
            "0755",
            "1:30",
            "2001-12-14",
            "1e3",
            "-1",
            ".5",
            "",
            "null",
            "~",
            "1.4.2",
            "100m",
        ] {
            assert!(!is_plain_safe(s), "{s} must be quoted");
        }
        for s in [
            "info",
            "account-service",
            "ghcr.io/acme/api",
            "app.kubernetes.io/name",
            "/healthz",
            "RuntimeDefault",
            "-Xmx1g",
        ] {
            assert!(is_plain_safe(s), "{s} can stay plain");
        }
    }

    #[test]
    fn round_trips_through_a_yaml_reader() {
        let value = json!({
            "a": "NO", "b": ["x", {"c": 1, "d": [true, null]}], "e": {}, "f": [],
            "g": "line one\nline two\n", "h": "tab\there", "i": "say \"hi\"", "j": "- x", "k": "a: b",
            "l": " padded", "m": "#comment", "n": "x\n\n", "o": "no-newline\nend"
        });
        let text = to_yaml(&value);
        let back: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(back, value, "{text}");
    }

    #[test]
    fn writes_kubernetes_block_style() {
        let value = json!({"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]}, "data": {"X": "yes"}});
        assert_eq!(
            to_yaml(&value),
            "spec:\n  containers:\n    - name: app\n      ports:\n        - containerPort: 8080\ndata:\n  X: \"yes\"\n"
        );
    }
}
