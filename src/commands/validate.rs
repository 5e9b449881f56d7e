use serde_json::Value;
use walkdir::WalkDir;

use crate::catalog::reader::node_to_json;
use crate::cli::{Format, Settings};
use crate::diagnostic::{Diagnostic, Pos};
use crate::emit::MANIFESTS_FILE;
use crate::error::{Error, ExitStatus};
use crate::load::{ReadProblem, Sources, kind_name, read_regular};
use crate::paths::GENERATED_DIR;
use crate::report;
use crate::yaml_tree::{self, Node, NodeKind};

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
        // The catalog's reader: one YAML reading for stamp's input and output,
        // so a `---` inside a block scalar is text, not a document break.
        // Documents holding nothing (or only `null`) are left out.
        let documents = match yaml_tree::parse_stream(&path, &text) {
            Ok(documents) => documents,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        for document in documents {
            objects += 1;
            diags.extend(schema_errors(&path, &document));
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

/// One diagnostic per schema error of a document, at the key of the
/// deepest field of the error's path the document has.
fn schema_errors(path: &str, document: &Node) -> Vec<Diagnostic> {
    let value = node_to_json(document);
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("object");
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let subject = format!("{kind} `{name}`");
    let diagnostic = |error: stamp_kube::SchemaError| {
        Diagnostic::new(path, field_pos(document, &error.path), error.describe(&subject))
    };
    stamp_kube::validate(&value).into_iter().map(diagnostic).collect()
}

/// Where the field at `path` (`spec.containers[0].image`) is written: its
/// key, or the key of the deepest parent present; the document itself for
/// an empty path.
fn field_pos(document: &Node, path: &str) -> Pos {
    let mut node = document;
    let mut found = document.pos;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let mut parts = segment.split('[');
        let key = parts.next().unwrap_or_default();
        let NodeKind::Map(entries) = &node.kind else {
            break;
        };
        let Some((k, value)) = entries.iter().find(|(k, _)| k.scalar() == Some(key)) else {
            break;
        };
        (found, node) = (k.pos, value);
        for index in parts.filter_map(|p| p.trim_end_matches(']').parse::<usize>().ok()) {
            match &node.kind {
                NodeKind::Seq(items) if index < items.len() => node = &items[index],
                _ => return found,
            }
        }
    }
    found
}
