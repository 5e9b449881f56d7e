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
/// so only a change in content counts. Each document is parsed on its own:
/// one broken by hand hides only itself.
fn objects(path: &str, manifests: &str) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    for document in manifests
        .split("\n---\n")
        .skip(1)
        .chain(manifests.strip_prefix("---\n"))
    {
        let Ok(nodes) = yaml_tree::parse_stream(path, document) else {
            continue;
        };
        for value in nodes.iter().map(node_to_json) {
            let kind = value.get("kind").and_then(Value::as_str);
            let name = value.pointer("/metadata/name").and_then(Value::as_str);
            if let (Some(kind), Some(name)) = (kind, name) {
                found.insert(format!("{kind}/{name}"), value.clone());
            }
        }
    }
    found
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
