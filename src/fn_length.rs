//! A test that no function in `src/` runs over `MAX_LINES` lines unless the
//! comment block above it says why, with `long:` and a reason. It walks
//! `src/` as `layering` does, finds every `fn` item and counts the lines
//! from its signature to the brace that closes its body.

use std::path::Path;

const MAX_LINES: usize = 80;

/// A function found in a file: its name, the line of `fn` (0-based) and its
/// length in lines.
#[derive(Debug, PartialEq)]
struct Function {
    name: String,
    line: usize,
    lines: usize,
}

/// Every `fn` item with a body. Braces in strings, chars and comments do
/// not count; a signature's own text has none in this code base.
fn functions(text: &str) -> Vec<Function> {
    let bytes = text.as_bytes();
    let line_of = |at: usize| bytes[..at].iter().filter(|b| **b == b'\n').count();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = find_fn(&text[at..]) {
        let start = at + offset;
        let name_start = start + "fn ".len();
        let name: String = text[name_start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        at = name_start + name.len();
        // The body opens at the first `{` before a `;` (a declaration without
        // a body, in a trait, ends at the `;`).
        let Some(open) = text[at..].find(['{', ';']).map(|i| at + i) else {
            break;
        };
        if bytes[open] == b';' {
            continue;
        }
        let Some(close) = matching_brace(bytes, open) else {
            break;
        };
        found.push(Function {
            name,
            line: line_of(start),
            lines: line_of(close) - line_of(start) + 1,
        });
        // Nested functions are counted on their own.
        at = open + 1;
    }
    found
}

/// The next `fn NAME` outside comments and strings, as an offset.
fn find_fn(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match skip_literal(bytes, i) {
            Some(next) => i = next,
            None => {
                let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
                if word_start && text[i..].starts_with("fn ") {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

/// When a comment, string or char literal starts at `i`, the offset just
/// past it.
fn skip_literal(bytes: &[u8], i: usize) -> Option<usize> {
    let rest = &bytes[i..];
    if rest.starts_with(b"//") {
        return Some(rest.iter().position(|b| *b == b'\n').map_or(bytes.len(), |n| i + n));
    }
    if rest.starts_with(b"/*") {
        return Some(find(bytes, i + 2, b"*/").map_or(bytes.len(), |n| n + 2));
    }
    let ident_before = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
    if rest.starts_with(b"r#") || rest.starts_with(b"r\"") {
        if ident_before {
            return None;
        }
        let hashes = rest[1..].iter().take_while(|b| **b == b'#').count();
        if rest.get(1 + hashes) != Some(&b'"') {
            return None;
        }
        let end: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
        return Some(find(bytes, i + 2 + hashes, &end).map_or(bytes.len(), |n| n + end.len()));
    }
    match rest.first() {
        Some(b'"') => {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            Some(j + 1)
        }
        // A char literal, not a lifetime: `'{'`, `'\''`, `'\u{7b}'`.
        Some(b'\'') if rest.get(1) == Some(&b'\\') => find(bytes, i + 3, b"'").map(|n| n + 1),
        Some(b'\'') => {
            let len = std::str::from_utf8(&rest[1..rest.len().min(5)])
                .ok()
                .or_else(|| std::str::from_utf8(&rest[1..rest.len().min(2)]).ok())
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
            (rest.get(1 + len) == Some(&b'\'')).then_some(i + 2 + len)
        }
        _ => None,
    }
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| from + n)
}

/// The offset of the `}` closing the `{` at `open`.
fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        if let Some(next) = skip_literal(bytes, i) {
            i = next;
            continue;
        }
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether the comment and attribute lines right above line `line` give a
/// reason (`long: …`).
fn says_why(lines: &[&str], line: usize) -> bool {
    lines[..line]
        .iter()
        .rev()
        .map(|l| l.trim_start())
        .take_while(|l| l.starts_with("//") || l.starts_with("#["))
        .any(|l| l.contains("long:"))
}

/// `path::function` for every function over the limit without a reason.
fn offenders(src: &Path) -> Vec<String> {
    let mut offenders = Vec::new();
    for entry in walkdir::WalkDir::new(src).sort_by_file_name() {
        let entry = entry.expect("src is readable");
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("a source file");
        let lines: Vec<&str> = text.lines().collect();
        let rel = entry
            .path()
            .strip_prefix(src.parent().expect("src has a parent"))
            .expect("under src");
        for f in functions(&text) {
            if f.lines > MAX_LINES && !says_why(&lines, f.line) {
                offenders.push(format!("{}::{} ({} lines)", rel.display(), f.name, f.lines));
            }
        }
    }
    offenders
}

#[test]
fn no_function_runs_over_80_lines_without_saying_why() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = offenders(&src);
    assert!(
        found.is_empty(),
        "functions over {MAX_LINES} lines; split them, or say why above the signature with `long:`:\n{}",
        found.join("\n")
    );
}

#[test]
fn counts_bodies_not_braces_in_strings() {
    let text = "/// doc\nfn a() {\n    let s = \"}\";\n    let c = '{';\n    let l: &'static str = r#\"{\"#;\n}\ntrait T {\n    fn b(&self);\n}\nfn c<'a>(x: &'a str) -> &'a str {\n    x\n}\n";
    let found = functions(text);
    assert_eq!(
        found,
        [
            Function {
                name: "a".into(),
                line: 1,
                lines: 5
            },
            Function {
                name: "c".into(),
                line: 9,
                lines: 3
            },
        ]
    );
    let lines: Vec<&str> = "// long: one pass over the input\n#[inline]\nfn x() {}"
        .lines()
        .collect();
    assert!(says_why(&lines, 2));
    assert!(!says_why(&lines, 0));
}
