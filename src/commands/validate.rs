use serde::Deserialize;
use serde_json::Value;

use crate::cli::{Format, Settings};
use crate::commands::{ERRORS, OK};
use crate::diagnostic::{Diagnostic, Pos};
use crate::emit::MANIFESTS_FILE;
use crate::load::{ReadProblem, Sources, kind_name, read_regular};
use crate::render::find_field_line;
use crate::report;

/// Re-validates the committed output, whoever wrote it.
pub fn run(settings: &Settings, only: &[String]) -> i32 {
    let mut files = 0;
    let mut objects = 0;
    // Paths may be given relative to the repo root, with or without a trailing `/`.
    let wanted = |path: &str| {
        only.is_empty()
            || only.iter().any(|prefix| {
                let prefix = prefix.trim_end_matches('/');
                path == prefix || path.starts_with(&format!("{prefix}/"))
            })
    };
    let (found, mut diags) = manifest_files(&settings.root);
    diags.retain(|d| wanted(&d.file));
    let selected: Vec<String> = found.into_iter().filter(|p| wanted(p)).collect();
    if selected.is_empty() && !only.is_empty() {
        eprintln!("error: no `manifests.yaml` under {}", only.join(", "));
        return ERRORS;
    }
    for path in selected {
        files += 1;
        // Whoever wrote it, the file is read under the loader's bounds.
        let text = match read_regular(&settings.root.join(&path), MAX_MANIFEST_BYTES) {
            Ok(text) => text,
            Err(problem) => {
                diags.push(problem.diagnostic(&path, None));
                continue;
            }
        };
        for (start_line, document) in split_documents(&text) {
            let value = match Value::deserialize(serde_norway::Deserializer::from_str(document)) {
                Ok(value) => value,
                Err(e) => {
                    let line = start_line + e.location().map_or(0, |l| l.line() as u32 - 1);
                    diags.push(Diagnostic::new(&path, Pos::new(line, 1), format!("invalid YAML: {e}")));
                    continue;
                }
            };
            if value.is_null() {
                continue;
            }
            objects += 1;
            for error in stamp_kube::validate(&value) {
                let field = find_field_line(document, &error.path);
                let kind = value.get("kind").and_then(Value::as_str).unwrap_or("object");
                let name = value
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let at = if error.path.is_empty() {
                    String::new()
                } else {
                    format!(" at `{}`", error.path)
                };
                diags.push(Diagnostic::new(
                    &path,
                    Pos::new(start_line + field.line - 1, field.col),
                    format!("{kind} `{name}`{at}: {}", error.message),
                ));
            }
        }
    }
    if settings.format == Format::Json {
        report::json_result(serde_json::json!({"files": files, "objects": objects}), &diags);
    }
    report::diagnostics(settings, &Sources::default(), &diags);
    report::status(settings, &format!("validated {objects} objects in {files} files"));
    if diags.is_empty() { OK } else { ERRORS }
}

/// Largest manifest read: a target's objects are tens of KB; anything near
/// this was not written by stamp.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// `generated/<service>/<env>/<region>/manifests.yaml`, sorted, and a
/// diagnostic for every symlink or special file on the way: stamp writes
/// none, and following one could read outside the repo.
fn manifest_files(root: &std::path::Path) -> (Vec<String>, Vec<Diagnostic>) {
    let mut found = Vec::new();
    let mut diags = Vec::new();
    let pattern_depth = 3;
    let mut dirs = vec![(String::from("generated"), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{dir}/{name}");
            // `file_type` does not follow symlinks.
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_symlink() {
                if depth < pattern_depth || name == MANIFESTS_FILE {
                    diags.push(
                        Diagnostic::new(&path, Pos::START, format!("`{path}` is a symlink; stamp does not follow it"))
                            .with_hint("stamp writes only regular files and folders under `generated/`; remove the link and run `stamp build`"),
                    );
                }
            } else if depth < pattern_depth && kind.is_dir() {
                dirs.push((path, depth + 1));
            } else if depth == pattern_depth && name == MANIFESTS_FILE {
                if kind.is_file() {
                    found.push(path);
                } else {
                    let d = ReadProblem::NotRegular(kind_name(kind));
                    diags.push(d.diagnostic(&path, None));
                }
            }
        }
    }
    found.sort();
    (found, diags)
}

/// The documents of a YAML stream with the line each starts on.
fn split_documents(text: &str) -> Vec<(u32, &str)> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "---" {
            documents.push((start_line, &text[start..offset]));
            start = offset + line.len();
            start_line = i as u32 + 2;
        }
        offset += line.len();
    }
    documents.push((start_line, &text[start..]));
    documents
}
