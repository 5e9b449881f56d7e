//! What changes between two renderings of the repo: per target, added,
//! changed and removed, down to the objects. `diff` and `affected` are
//! built on this.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::catalog::reader::node_to_json;
use crate::emit::MANIFESTS_FILE;
use crate::yaml_tree;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Added,
    Changed,
    Removed,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Changed => "changed",
            Status::Removed => "removed",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ObjectChanges {
    pub(crate) added: Vec<String>,
    pub(crate) changed: Vec<String>,
    pub(crate) removed: Vec<String>,
}

/// One file that differs: its content before and after (None: absent).
#[derive(Clone, Debug)]
pub(crate) struct FileChange {
    pub(crate) path: String,
    pub(crate) old: Option<String>,
    pub(crate) new: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct TargetChange {
    pub(crate) service: String,
    pub(crate) env: String,
    pub(crate) region: String,
    pub(crate) status: Status,
    pub(crate) objects: ObjectChanges,
    pub(crate) files: Vec<FileChange>,
}

impl TargetChange {
    pub(crate) fn id(&self) -> String {
        format!("{}/{}/{}", self.service, self.env, self.region)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Changes {
    pub(crate) targets: Vec<TargetChange>,
    /// Files outside target folders: ApplicationSets, CODEOWNERS.
    pub(crate) other: Vec<FileChange>,
}

/// Compares two sets of generated files, path → content.
pub(crate) fn compare(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Changes {
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut by_target: BTreeMap<(String, String, String), Vec<FileChange>> = BTreeMap::new();
    let mut changes = Changes::default();
    for path in paths {
        let (before, after) = (old.get(path), new.get(path));
        if before == after {
            continue;
        }
        let change = FileChange {
            path: path.clone(),
            old: before.cloned(),
            new: after.cloned(),
        };
        match target_of(path) {
            Some(key) => by_target.entry(key).or_default().push(change),
            None => changes.other.push(change),
        }
    }
    for ((service, env, region), files) in by_target {
        let dir = format!("generated/{service}/{env}/{region}");
        let manifests = format!("{dir}/{MANIFESTS_FILE}");
        let had = old.contains_key(&manifests);
        let has = new.contains_key(&manifests);
        let status = match (had, has) {
            (false, true) => Status::Added,
            (true, false) => Status::Removed,
            _ => Status::Changed,
        };
        let objects = object_changes(
            &manifests,
            old.get(&manifests).map_or("", String::as_str),
            new.get(&manifests).map_or("", String::as_str),
        );
        // A target whose only difference is bookkeeping (its fingerprint) did not change.
        if status == Status::Changed && files.iter().all(|f| f.path.ends_with(crate::paths::FINGERPRINT_FILE)) {
            continue;
        }
        changes.targets.push(TargetChange {
            service,
            env,
            region,
            status,
            objects,
            files,
        });
    }
    changes
}

/// `generated/<service>/<env>/<region>/<file>` → (service, env, region).
fn target_of(path: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["generated", service, env, region, _file] if *service != "argocd" => {
            Some((service.to_string(), env.to_string(), region.to_string()))
        }
        _ => None,
    }
}

/// Objects of a manifests stream by `Kind/name`, each as its parsed value,
/// so only a change in content counts. The stream is read by the one YAML
/// reader; only when it does not parse (a hand edit) is it read document
/// by document, at the `---` lines the emitter starts each with, so a
/// broken document hides only itself.
fn objects(path: &str, manifests: &str) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    let mut add = |nodes: Vec<yaml_tree::Node>| {
        for value in nodes.iter().map(node_to_json) {
            let kind = value.get("kind").and_then(Value::as_str);
            let name = value.pointer("/metadata/name").and_then(Value::as_str);
            if let (Some(kind), Some(name)) = (kind, name) {
                found.insert(format!("{kind}/{name}"), value.clone());
            }
        }
    };
    match yaml_tree::parse_stream(path, manifests) {
        Ok(nodes) => add(nodes),
        Err(_) => {
            for document in manifests
                .split("\n---\n")
                .skip(1)
                .chain(manifests.strip_prefix("---\n"))
            {
                add(yaml_tree::parse_stream(path, document).unwrap_or_default());
            }
        }
    }
    found
}

/// One line per changed object, `Kind/name` and what moved in it
/// (`image 1.4.1 → 1.4.2`, `replicas 3 → 6`), from the parsed objects.
pub(crate) fn object_summaries(path: &str, old: &str, new: &str) -> Vec<(String, String)> {
    let (before, after) = (objects(path, old), objects(path, new));
    let mut lines = Vec::new();
    for (key, value) in &after {
        let Some(was) = before.get(key) else { continue };
        let mut leaves = Vec::new();
        leaf_changes(&mut String::new(), was, value, &mut leaves);
        // The version label follows the image: the image says it.
        let image_moves = leaves.iter().any(|(f, _, _)| f.ends_with(".image"));
        leaves.retain(|(f, _, _)| !(image_moves && f.ends_with(".app.kubernetes.io/version")));
        // The image and the replicas first: what a reviewer looks for.
        leaves.sort_by_key(|(f, _, _)| !(f.ends_with(".image") || f == "spec.replicas"));
        let mut parts: Vec<String> = Vec::new();
        for (field, from, to) in &leaves {
            let part = field_summary(field, from, to);
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
        if parts.is_empty() {
            continue;
        }
        let more = parts.len().saturating_sub(MAX_PARTS);
        parts.truncate(MAX_PARTS);
        let mut line = parts.join("; ");
        if more > 0 {
            line.push_str(&format!("; and {more} more"));
        }
        lines.push((key.clone(), line));
    }
    lines
}

/// Fields named per changed object; the rest are counted.
const MAX_PARTS: usize = 3;
/// Longest value shown in a summary.
const MAX_VALUE: usize = 60;

/// Every leaf that differs between two values, by dotted path.
fn leaf_changes(path: &mut String, old: &Value, new: &Value, out: &mut Vec<(String, Value, Value)>) {
    let len = path.len();
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for key in keys {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let (x, y) = (a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null));
                leaf_changes(path, x, y, out);
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                path.push_str(&format!("[{i}]"));
                leaf_changes(path, x, y, out);
                path.truncate(len);
            }
        }
        _ if old != new => out.push((path.clone(), old.clone(), new.clone())),
        _ => {}
    }
}

/// `image 1.4.1 → 1.4.2`, `replicas 3 → 6`, else `field: old → new`.
fn field_summary(field: &str, from: &Value, to: &Value) -> String {
    let shown = |v: &Value| -> String {
        let text = match v {
            Value::Null => "(none)".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match text.char_indices().nth(MAX_VALUE) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text,
        }
    };
    let (from_text, to_text) = (shown(from), shown(to));
    if field.ends_with(".image") || field == "image" {
        let (a, b) = match (from, to) {
            (Value::String(a), Value::String(b)) if repository(a) == repository(b) => (
                shown(&Value::String(a[repository(a).len()..].trim_start_matches(':').into())),
                shown(&Value::String(b[repository(b).len()..].trim_start_matches(':').into())),
            ),
            _ => (from_text, to_text),
        };
        return format!("image {a} → {b}");
    }
    if field == "spec.replicas" {
        return format!("replicas {from_text} → {to_text}");
    }
    format!("{field}: {from_text} → {to_text}")
}

/// `ghcr.io/acme/web` of `ghcr.io/acme/web:1.0@sha256:…`.
fn repository(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].find(':') {
        Some(colon) => &name[..slash + colon],
        None => name,
    }
}

fn object_changes(path: &str, old: &str, new: &str) -> ObjectChanges {
    let (before, after) = (objects(path, old), objects(path, new));
    let mut changes = ObjectChanges::default();
    for (key, text) in &after {
        match before.get(key) {
            None => changes.added.push(key.clone()),
            Some(old_text) if old_text != text => changes.changed.push(key.clone()),
            Some(_) => {}
        }
    }
    changes.removed = before.keys().filter(|k| !after.contains_key(*k)).cloned().collect();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect()
    }

    const A: &str = "# header\n---\nkind: Deployment\nmetadata:\n  name: web\nspec: 1\n---\nkind: Service\nmetadata:\n  name: web\n";

    #[test]
    fn classifies_targets_and_objects() {
        let old = files(&[
            ("generated/web/prod/eu/manifests.yaml", A),
            ("generated/gone/prod/eu/manifests.yaml", A),
            ("generated/argocd/prod.yaml", "x"),
        ]);
        let changed = A.replace("spec: 1", "spec: 2").replace(
            "kind: Service\nmetadata:\n  name: web\n",
            "kind: ConfigMap\nmetadata:\n  name: web-env\n",
        );
        let new = files(&[
            ("generated/web/prod/eu/manifests.yaml", &changed),
            ("generated/new/prod/eu/manifests.yaml", A),
            ("generated/argocd/prod.yaml", "x"),
        ]);
        let changes = compare(&old, &new);
        let summary: Vec<(String, Status)> = changes.targets.iter().map(|t| (t.id(), t.status)).collect();
        assert_eq!(
            summary,
            vec![
                ("gone/prod/eu".to_string(), Status::Removed),
                ("new/prod/eu".to_string(), Status::Added),
                ("web/prod/eu".to_string(), Status::Changed)
            ]
        );
        let web = &changes.targets[2].objects;
        assert_eq!(web.changed, vec!["Deployment/web"]);
        assert_eq!(web.added, vec!["ConfigMap/web-env"]);
        assert_eq!(web.removed, vec!["Service/web"]);
        assert!(changes.other.is_empty());
    }

    #[test]
    fn a_broken_document_hides_only_itself() {
        let broken = A.replace("kind: Service", "kind: [Service");
        let changes = compare(
            &files(&[("generated/web/prod/eu/manifests.yaml", A)]),
            &files(&[("generated/web/prod/eu/manifests.yaml", &broken)]),
        );
        assert_eq!(changes.targets[0].objects.removed, vec!["Service/web"]);
        assert!(changes.targets[0].objects.changed.is_empty());
    }

    #[test]
    fn summaries_name_the_image_and_replicas() {
        let old = "---\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - image: ghcr.io/a/web:1.4.1\n";
        let new = old
            .replace("replicas: 3", "replicas: 6")
            .replace("web:1.4.1", "web:1.4.2");
        let lines = object_summaries("m.yaml", old, &new);
        assert_eq!(
            lines,
            vec![(
                "Deployment/web".to_string(),
                "replicas 3 → 6; image 1.4.1 → 1.4.2".to_string()
            )]
        );
    }

    #[test]
    fn objects_compare_by_content_not_by_text() {
        let old = files(&[("generated/web/prod/eu/manifests.yaml", A)]);
        // Quoting and a comment change the text, not the objects.
        let requoted = A.replace("name: web\nspec: 1", "name: \"web\" # the app\nspec: 1");
        let new = files(&[("generated/web/prod/eu/manifests.yaml", &requoted)]);
        let changes = compare(&old, &new);
        assert_eq!(changes.targets.len(), 1);
        let web = &changes.targets[0].objects;
        assert!(
            web.added.is_empty() && web.changed.is_empty() && web.removed.is_empty(),
            "{web:?}"
        );
    }
}
