use serde_json::Value;
use walkdir::WalkDir;

use crate::catalog::reader::node_to_json;
use crate::cli::{Format, Settings};
use crate::diagnostic::{Diagnostic, Pos};
use crate::emit::MANIFESTS_FILE;
use crate::error::{Error, ExitStatus};
use crate::load::{ReadProblem, Sources, kind_name, read_regular};
use crate::paths::GENERATED_DIR;
use crate::render::find_field_line;
use crate::report;
use crate::yaml_tree;

/// Re-validates the committed output, whoever wrote it.
pub(crate) fn run(settings: &Settings, only: &[String]) -> Result<ExitStatus, Error> {
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
        return Err(Error::refused(format!("no `manifests.yaml` under {}", only.join(", "))));
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
            // The catalog's reader: one YAML reading for stamp's input and output.
            let value = match yaml_tree::parse_stream(&path, document) {
                // A document holding nothing (or only `null`) is left out.
                Ok(nodes) => match nodes.first() {
                    Some(node) => node_to_json(node),
                    None => continue,
                },
                Err(d) => {
                    let line = start_line + d.pos.line.saturating_sub(1);
                    diags.push(Diagnostic {
                        pos: Pos::new(line, d.pos.col),
                        ..d
                    });
                    continue;
                }
            };
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
    Ok(ExitStatus::from_errors(!diags.is_empty()))
}

/// Largest manifest read: a target's objects are tens of KB; anything near
/// this was not written by stamp.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// `generated/<service>/<env>/<region>/manifests.yaml`, sorted, and a
/// diagnostic for every symlink or special file on the way: stamp writes
/// none, and following one could read outside the repo.
fn manifest_files(root: &std::path::Path) -> (Vec<String>, Vec<Diagnostic>) {
    let mut found = Vec::new();
    let mut diags = Vec::new();
    // service / env / region / manifests.yaml
    let file_depth = 4;
    let top = root.join(GENERATED_DIR);
    // walkdir does not follow symlinks below `top` unless asked; a folder it
    // cannot read holds nothing to validate.
    let entries = WalkDir::new(&top)
        .min_depth(1)
        .max_depth(file_depth)
        .sort_by_file_name();
    for entry in entries.into_iter().flatten() {
        let Ok(rel) = entry.path().strip_prefix(&top) else {
            continue;
        };
        let path = format!("{GENERATED_DIR}/{}", rel.to_string_lossy());
        let name = entry.file_name();
        let kind = entry.file_type();
        let at_file_depth = entry.depth() == file_depth;
        if kind.is_symlink() {
            if !at_file_depth || name == MANIFESTS_FILE {
                diags.push(
                    Diagnostic::new(&path, Pos::START, format!("`{path}` is a symlink; stamp does not follow it"))
                        .with_hint("stamp writes only regular files and folders under `generated/`; remove the link and run `stamp build`"),
                );
            }
        } else if at_file_depth && name == MANIFESTS_FILE {
            if kind.is_file() {
                found.push(path);
            } else {
                let d = ReadProblem::NotRegular(kind_name(kind));
                diags.push(d.diagnostic(&path, None));
            }
        }
    }
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
