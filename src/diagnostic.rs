//! Problems a user must fix: a message tied to a file, line and column.
//!
//! Every stage collects diagnostics instead of stopping at the first one, so a
//! run reports all of its errors; the exit code is decided once at the end.

use std::fmt::Write as _;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use anstyle::{AnsiColor, Effects, Style};

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
    /// How many characters from `pos` the problem covers; `None` means the
    /// token found there (see `token_len`), so call sites need not count.
    pub len: Option<u32>,
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
            len: None,
            message: message.into(),
            hint: None,
            targets: Vec::new(),
        }
    }

    pub(crate) fn for_target(mut self, target: String) -> Diagnostic {
        self.targets.push(target);
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Underlines `len` characters instead of the token at the position.
    pub fn with_len(mut self, len: u32) -> Diagnostic {
        self.len = Some(len);
        self
    }

    /// Adds a did-you-mean hint when a candidate is close enough.
    pub(crate) fn suggest<'a>(self, wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Diagnostic {
        match did_you_mean(wrong, candidates) {
            Some(best) => self.with_hint(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// The diagnostic for tools (`--format json`).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "line": self.pos.line,
            "column": self.pos.col,
            "message": self.message,
            "hint": self.hint,
            "targets": self.targets,
        })
    }

    /// Renders this diagnostic alone; see `render_file`.
    pub fn render(&self, source: Option<&str>, color: bool) -> String {
        render_file(&[self], source, color)
    }

    /// `error: file:line:col: message (targets)`: the line users and CI logs grep.
    fn title(&self, style: &Styles) -> String {
        let targets = match self.targets.as_slice() {
            [] => String::new(),
            [one] => format!(" (target `{one}`)"),
            [first, second] => format!(" (targets `{first}` and `{second}`)"),
            [first, second, rest @ ..] => format!(" (targets `{first}`, `{second}` and {} more)", rest.len()),
        };
        let (error, bold) = (style.error, style.bold);
        format!(
            "{error}error{error:#}{bold}: {}:{}:{}: {}{targets}{bold:#}\n",
            self.file, self.pos.line, self.pos.col, self.message
        )
    }

    /// The byte range in `source` this diagnostic underlines, kept on its
    /// line; `None` when the line is not in the source.
    fn span(&self, source: &str) -> Option<Range<usize>> {
        let line_index = self.pos.line.checked_sub(1)? as usize;
        let line_start: usize = source.split_inclusive('\n').take(line_index).map(str::len).sum();
        let line = source[line_start..].split_inclusive('\n').next()?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let skip = self.pos.col.saturating_sub(1) as usize;
        let start = line.char_indices().nth(skip).map_or(line.len(), |(i, _)| i);
        let rest = &line[start..];
        let len = self.len.map_or_else(|| token_len(rest), |len| len as usize);
        let end = rest.char_indices().nth(len).map_or(line.len(), |(i, _)| start + i);
        Some(line_start + start..line_start + end)
    }
}

/// Colours for messages; all plain when the terminal wants none.
struct Styles {
    error: Style,
    bold: Style,
    blue: Style,
}

impl Styles {
    fn new(color: bool) -> Styles {
        if !color {
            return Styles {
                error: Style::new(),
                bold: Style::new(),
                blue: Style::new(),
            };
        }
        Styles {
            error: AnsiColor::Red.on_default().effects(Effects::BOLD),
            bold: Style::new().effects(Effects::BOLD),
            blue: AnsiColor::Blue.on_default().effects(Effects::BOLD),
        }
    }
}

/// Renders the problems of one file as one report: each problem's
/// `error: file:line:col: message` line, then the source once with every
/// problem's value underlined (labelled when there are several), then the
/// hints, the way compilers do.
pub(crate) fn render_file(diags: &[&Diagnostic], source: Option<&str>, color: bool) -> String {
    let style = Styles::new(color);
    let mut out: String = diags.iter().map(|d| d.title(&style)).collect();
    if let Some(source) = source {
        let several = diags.len() > 1;
        let annotations: Vec<_> = diags
            .iter()
            .filter_map(|d| {
                let span = AnnotationKind::Primary.span(d.span(source)?);
                Some(if several { span.label(d.message.as_str()) } else { span })
            })
            .collect();
        if !annotations.is_empty() {
            let renderer = if color {
                Renderer::styled()
                    .error(style.error)
                    .line_num(style.blue)
                    .context(style.blue)
            } else {
                Renderer::plain()
            };
            let snippet = Snippet::source(source).annotations(annotations);
            let _ = writeln!(
                out,
                "{}",
                renderer.render(&[Group::with_level(Level::ERROR).element(snippet)])
            );
        }
    }
    let mut hints: Vec<&str> = Vec::new();
    for hint in diags.iter().filter_map(|d| d.hint.as_deref()) {
        // Problems of one kind share their hint: say it once.
        if hints.contains(&hint) {
            continue;
        }
        hints.push(hint);
        let blue = style.blue;
        let _ = writeln!(out, "{blue}hint{blue:#}: {hint}");
    }
    out
}

/// The length in characters of the token `rest` starts with: a quoted
/// string with its quotes, else a YAML scalar or KDL word up to the next
/// space, bracket, comma or `: `; at least one, so a caret always shows.
fn token_len(rest: &str) -> usize {
    let mut chars = rest.chars();
    let len = match chars.next() {
        None => 0,
        Some(quote @ ('"' | '\'')) => {
            let mut escaped = false;
            let closing = chars.position(|c| {
                let end = c == quote && !escaped;
                escaped = quote == '"' && c == '\\' && !escaped;
                end
            });
            closing.map_or(rest.chars().count(), |i| i + 2)
        }
        Some(_) => {
            let mut len = 0;
            let mut peek = rest.chars().peekable();
            while let Some(c) = peek.next() {
                let key_end = c == ':' && peek.peek().is_none_or(|n| n.is_whitespace());
                if c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}' | '(' | ')' | ';') || key_end {
                    break;
                }
                len += 1;
            }
            len
        }
    };
    len.max(1)
}

/// Sorts by file and position and folds problems that differ only in their
/// target into one, so a broken archetype is one error, not thousands.
pub(crate) fn merge(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by(|a, b| (&a.file, a.pos, &a.message, &a.targets).cmp(&(&b.file, b.pos, &b.message, &b.targets)));
    let mut merged: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    for d in diags {
        match merged.last_mut() {
            Some(last)
                if last.file == d.file
                    && last.pos == d.pos
                    && last.len == d.len
                    && last.message == d.message
                    && last.hint == d.hint =>
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
pub(crate) fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
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
            "error: catalog/services/a.yaml:2:10: bad profile\n  |\n2 | profile: publc-api\n  |          ^^^^^^^^^\nhint: did you mean `x`?\n"
        );
    }

    #[test]
    fn two_problems_in_one_file_are_one_report() {
        let source = "name: a\nprofile: publc-api\nsize: \"hug e\"\n";
        let profile = Diagnostic::new("a.yaml", Pos::new(2, 10), "bad profile").with_hint("did you mean `public-api`?");
        let size = Diagnostic::new("a.yaml", Pos::new(3, 7), "bad size");
        assert_eq!(
            render_file(&[&profile, &size], Some(source), false),
            "error: a.yaml:2:10: bad profile\nerror: a.yaml:3:7: bad size\n  |\n2 | profile: publc-api\n  |          ^^^^^^^^^ bad profile\n3 | size: \"hug e\"\n  |       ^^^^^^^ bad size\nhint: did you mean `public-api`?\n"
        );
    }

    #[test]
    fn underlines_the_token_at_the_position() {
        let at = |line: &str, col: u32| {
            let span = Diagnostic::new("f", Pos::new(1, col), "m").span(line).unwrap();
            line[span].to_string()
        };
        assert_eq!(at("    requests: { cpu: 100x, memory: 128Mi }", 22), "100x");
        assert_eq!(at("      containres:", 7), "containres");
        assert_eq!(at("image: repo:1.2 # tag", 8), "repo:1.2");
        assert_eq!(at("param \"a \\\" b\" x", 7), "\"a \\\" b\"");
        assert_eq!(at("components: [servce-monitor]", 13), "[");
        assert_eq!(at("image:", 7), "");
        let long = Diagnostic::new("f", Pos::new(1, 1), "m")
            .with_len(40)
            .span("ab\ncd")
            .unwrap();
        assert_eq!(long, 0..2);
    }
}
