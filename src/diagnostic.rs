//! Problems a user must fix: a message tied to a file, line and column.
//!
//! Every stage collects diagnostics instead of stopping at the first one, so a
//! run reports all of its errors; the exit code is decided once at the end.

use std::fmt::Write as _;

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, col: 1 };

    pub fn new(line: u32, col: u32) -> Pos {
        Pos { line, col }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Path relative to the repo root, with forward slashes.
    pub file: String,
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
    /// Targets that hit this same problem (`service/env/region`).
    pub targets: Vec<String>,
}

impl Diagnostic {
    pub fn new(file: impl Into<String>, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            pos,
            message: message.into(),
            hint: None,
            targets: Vec::new(),
        }
    }

    pub fn for_target(mut self, target: String) -> Diagnostic {
        self.targets.push(target);
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a did-you-mean hint when a candidate is close enough.
    pub fn suggest<'a>(self, wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Diagnostic {
        match did_you_mean(wrong, candidates) {
            Some(best) => self.with_hint(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// The diagnostic for tools (`--format json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "line": self.pos.line,
            "column": self.pos.col,
            "message": self.message,
            "hint": self.hint,
            "targets": self.targets,
        })
    }

    /// Renders `error: file:line:col: message`, the source line with a caret,
    /// and the hint, the way compilers do.
    pub fn render(&self, source: Option<&str>, color: bool) -> String {
        let (red, blue, bold, reset) = if color {
            ("\x1b[1;31m", "\x1b[1;34m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "", "")
        };
        let mut out = String::new();
        let targets = match self.targets.as_slice() {
            [] => String::new(),
            [one] => format!(" (target `{one}`)"),
            [first, second] => format!(" (targets `{first}` and `{second}`)"),
            [first, second, rest @ ..] => format!(" (targets `{first}`, `{second}` and {} more)", rest.len()),
        };
        let _ = writeln!(
            out,
            "{red}error{reset}{bold}: {}:{}:{}: {}{targets}{reset}",
            self.file, self.pos.line, self.pos.col, self.message
        );
        if let Some(line) = source.and_then(|s| s.lines().nth(self.pos.line.saturating_sub(1) as usize)) {
            let number = self.pos.line.to_string();
            let pad = " ".repeat(number.len());
            let caret = " ".repeat(self.pos.col.saturating_sub(1) as usize);
            let _ = writeln!(out, "{blue}{pad} |{reset}");
            let _ = writeln!(out, "{blue}{number} |{reset} {line}");
            let _ = writeln!(out, "{blue}{pad} |{reset} {caret}{red}^{reset}");
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{blue}hint{reset}: {hint}");
        }
        out
    }
}

/// Sorts by file and position and folds problems that differ only in their
/// target into one, so a broken archetype is one error, not thousands.
pub fn merge(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by(|a, b| (&a.file, a.pos, &a.message, &a.targets).cmp(&(&b.file, b.pos, &b.message, &b.targets)));
    let mut merged: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    for d in diags {
        match merged.last_mut() {
            Some(last)
                if last.file == d.file && last.pos == d.pos && last.message == d.message && last.hint == d.hint =>
            {
                for t in d.targets {
                    if !last.targets.contains(&t) {
                        last.targets.push(t);
                    }
                }
            }
            _ => merged.push(d),
        }
    }
    merged
}

/// The candidate nearest to `wrong`, if it is plausibly a typo of it.
pub fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(wrong, c), c))
        .filter(|(distance, c)| *distance <= (c.len().max(wrong.len()) / 3).max(1) || c.starts_with(wrong))
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["public-api", "internal-api", "worker", "batch"];
        assert_eq!(did_you_mean("publc-api", names), Some("public-api"));
        assert_eq!(did_you_mean("wroker", names), Some("worker"));
        assert_eq!(did_you_mean("database", names), None);
    }

    #[test]
    fn renders_file_line_column_and_caret() {
        let d =
            Diagnostic::new("catalog/services/a.yaml", Pos::new(2, 10), "bad profile").with_hint("did you mean `x`?");
        let text = d.render(Some("name: a\nprofile: publc-api\n"), false);
        assert_eq!(
            text,
            "error: catalog/services/a.yaml:2:10: bad profile\n  |\n2 | profile: publc-api\n  |          ^\nhint: did you mean `x`?\n"
        );
    }
}
