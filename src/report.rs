//! How diagnostics and summaries reach the user: data on stdout, messages
//! on stderr, all errors of a run sorted by file and position.

use std::io::Write as _;

use anstyle::AnsiColor;

use crate::cli::Settings;
use crate::diagnostic::Diagnostic;
use crate::load::Sources;

pub(crate) fn diagnostics(settings: &Settings, sources: &Sources, diags: &[Diagnostic]) {
    let sorted = crate::diagnostic::merge(diags.to_vec());
    let mut out = std::io::stderr().lock();
    // Problems in one file read as one report, its source quoted once.
    for same_file in sorted.chunk_by(|a, b| a.file == b.file) {
        let file = &same_file[0].file;
        let on_disk;
        let source = match sources.get(file) {
            Some(text) => Some(text),
            // Only a regular file inside the repo is quoted: never what a
            // symlink points at, never a FIFO or a device.
            None => {
                on_disk = sources.read_for_display(&settings.root, file);
                on_disk.as_deref()
            }
        };
        let same_file: Vec<&Diagnostic> = same_file.iter().collect();
        let _ = write!(
            out,
            "{}",
            crate::diagnostic::render_file(&same_file, source, settings.color)
        );
    }
    if !sorted.is_empty() {
        let noun = if sorted.len() == 1 { "error" } else { "errors" };
        let _ = writeln!(out, "{} {noun}", sorted.len());
    }
}

/// Says once why a run left the committed output alone: a shared input
/// (anything but a service file) has errors, so the run failed closed.
pub(crate) fn shared_inputs_broken(outcome: &str) {
    eprintln!(
        "error: shared inputs have errors; {outcome}\nhint: the committed output is left as it was until the errors above are fixed"
    );
}

/// A command's result for tools (`--format json`): `fields` plus the merged
/// diagnostics under `errors`, as one JSON object on stdout.
pub(crate) fn json_result(mut fields: serde_json::Value, diags: &[Diagnostic]) {
    let errors: Vec<serde_json::Value> = crate::diagnostic::merge(diags.to_vec())
        .iter()
        .map(Diagnostic::to_json)
        .collect();
    fields["errors"] = serde_json::Value::Array(errors);
    stdout(&(serde_json::to_string_pretty(&fields).expect("JSON serializes") + "\n"));
}

/// Writes data to stdout; a reader that went away (`stamp ... | head`) is not an error.
pub(crate) fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// A progress or summary line, unless `-q`.
/// Policy warnings, one report each; `-q` prints only errors.
pub(crate) fn warnings(settings: &Settings, warnings: &[String]) {
    if !settings.quiet {
        for warning in warnings {
            eprintln!("{warning}");
        }
    }
}

pub(crate) fn status(settings: &Settings, line: &str) {
    if !settings.quiet {
        eprintln!("{line}");
    }
}

/// A unified diff of one file, colored when the terminal wants it.
pub(crate) fn unified_diff(path: &str, old: &str, new: &str, color: bool) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    if !color {
        return text;
    }
    let style = |color: AnsiColor| color.on_default();
    text.lines()
        .map(|line| {
            let color = match line.as_bytes().first() {
                Some(b'+') => style(AnsiColor::Green),
                Some(b'-') => style(AnsiColor::Red),
                Some(b'@') => style(AnsiColor::Cyan),
                _ => return format!("{line}\n"),
            };
            format!("{color}{line}{color:#}\n")
        })
        .collect()
}
