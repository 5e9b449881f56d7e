//! The built-in rules of SPEC §5, one small function per rule id, over the
//! parsed objects of a target (so they hold for platform templates too).

use serde_json::Value;

use super::violation::{Field, Severity, Violation};
use crate::render::Object;
use crate::resolve::Target;

pub(crate) struct Rule {
    pub(crate) id: &'static str,
    pub(crate) description: &'static str,
}

pub(crate) const RULES: &[Rule] = &[
    Rule {
        id: "image-tag",
        description: "images name a version tag (or digest), never `latest` or none",
    },
    Rule {
        id: "run-as-high-uid",
        description: "containers run with runAsUser and runAsGroup at or above 10000",
    },
    Rule {
        id: "writable-tmp",
        description: "a read-only root file system gets a writable emptyDir at /tmp",
    },
    Rule {
        id: "probes",
        description: "long-running containers that serve a port have readiness and liveness probes (a worker without any probe is a warning)",
    },
    Rule {
        id: "resources",
        description: "every container sets resource requests and limits",
    },
    Rule {
        id: "image-digest",
        description: "images carry a digest where `require_digest` is set",
    },
    Rule {
        id: "pdb-allows-disruption",
        description: "a PodDisruptionBudget allows at least one pod to be disrupted",
    },
];

/// The lowest user and group id a container may run as: ids below it may
/// collide with users of the node.
const MIN_ID: i64 = 10_000;

/// One container of a pod spec, with the JSON path of the container.
struct Container<'a> {
    object: &'a Object,
    pod: &'a Value,
    value: &'a Value,
    path: String,
    long_running: bool,
}

impl Container<'_> {
    fn name(&self) -> &str {
        self.value.get("name").and_then(Value::as_str).unwrap_or_default()
    }

    fn violation(&self, rule: &str, severity: Severity, field: &str, message: String, fix: &str) -> Violation {
        Violation {
            rule: rule.into(),
            severity,
            kind: self.object.kind().into(),
            name: self.object.name().into(),
            file: self.object.template.clone(),
            field: Field::Path(format!("{}.{field}", self.path)),
            message: format!("container `{}` {message}", self.name()),
            fix: fix.into(),
            value: None,
        }
    }

    fn security(&self, key: &str) -> Option<&Value> {
        self.value
            .pointer(&format!("/securityContext/{key}"))
            .or_else(|| self.pod.pointer(&format!("/securityContext/{key}")))
    }
}

/// The pod spec inside a workload object and its path, if it has one.
fn pod_spec(object: &Object) -> Option<(&Value, &'static str, bool)> {
    let v = &object.value;
    match object.kind() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Rollout" => {
            Some((v.pointer("/spec/template/spec")?, "spec.template.spec", true))
        }
        "Job" => Some((v.pointer("/spec/template/spec")?, "spec.template.spec", false)),
        "CronJob" => Some((
            v.pointer("/spec/jobTemplate/spec/template/spec")?,
            "spec.jobTemplate.spec.template.spec",
            false,
        )),
        "Pod" => Some((v.pointer("/spec")?, "spec", true)),
        _ => None,
    }
}

fn containers(objects: &[Object]) -> Vec<Container<'_>> {
    let mut out = Vec::new();
    for object in objects {
        let Some((pod, base, long_running)) = pod_spec(object) else {
            continue;
        };
        for key in ["initContainers", "containers"] {
            let items = pod.get(key).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            for (i, value) in items.iter().enumerate() {
                out.push(Container {
                    object,
                    pod,
                    value,
                    path: format!("{base}.{key}[{i}]"),
                    long_running: long_running && key == "containers",
                });
            }
        }
    }
    out
}

pub(super) fn check(target: &Target, objects: &[Object]) -> Vec<Violation> {
    let mut found = Vec::new();
    for c in containers(objects) {
        let from_catalog = c.value.get("image").and_then(Value::as_str) == Some(target.values.image.reference.as_str());
        let first = found.len();
        image_tag(&c, &mut found);
        run_as_high_uid(&c, &mut found);
        writable_tmp(&c, &mut found);
        probes(&c, &mut found);
        resources(&c, &mut found);
        image_digest(&c, require_digest(target), &mut found);
        // A catalog line is to blame only for the image the catalog set,
        // and for resources the target's size leaves unset.
        for v in &mut found[first..] {
            let blame = match v.value.as_deref() {
                Some("image.tag") => from_catalog,
                Some("size") => {
                    target.values.resources.requests.is_empty() || target.values.resources.limits.is_empty()
                }
                _ => true,
            };
            if !blame {
                v.value = None;
            }
        }
    }
    pdb_allows_disruption(objects, &mut found);
    found
}

/// Whether the target must pin images by digest: its environment's
/// `require_digest`, or a platform archetype's `params.require_digest`.
fn require_digest(target: &Target) -> bool {
    target.require_digest || target.values.params.get("require_digest") == Some(&Value::Bool(true))
}

/// Splits an image reference into its tag and digest, if any.
fn tag_and_digest(image: &str) -> (Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    let last = rest.rsplit('/').next().unwrap_or(rest);
    (last.split_once(':').map(|(_, tag)| tag), digest)
}

fn image_tag(c: &Container, found: &mut Vec<Violation>) {
    let image = c.value.get("image").and_then(Value::as_str).unwrap_or_default();
    let (tag, digest) = tag_and_digest(image);
    let problem = match (tag, digest) {
        (Some("latest"), _) => "uses the tag `latest`",
        (None, None) => "has no tag",
        _ => return,
    };
    let mut v = c.violation(
        "image-tag",
        Severity::Deny,
        "image",
        format!("image `{image}` {problem}"),
        "pin a version tag (`image.tag: \"1.4.2\"`): `latest` moves under a running deployment",
    );
    v.value = Some("image.tag".into());
    found.push(v);
}

fn run_as_high_uid(c: &Container, found: &mut Vec<Violation>) {
    for key in ["runAsUser", "runAsGroup"] {
        let id = c.security(key).and_then(Value::as_i64);
        if id.is_some_and(|id| id >= MIN_ID) {
            continue;
        }
        let shown = id.map_or("unset".to_string(), |id| id.to_string());
        found.push(c.violation(
            "run-as-high-uid",
            Severity::Deny,
            "securityContext",
            format!("runs with `{key}` {shown}"),
            &format!("set `securityContext.{key}` to {MIN_ID} or more, in the pod or the container"),
        ));
    }
}

fn writable_tmp(c: &Container, found: &mut Vec<Violation>) {
    if c.value.pointer("/securityContext/readOnlyRootFilesystem") != Some(&Value::Bool(true)) {
        return;
    }
    let mounts = c.value.get("volumeMounts").and_then(Value::as_array);
    let volumes = c.pod.get("volumes").and_then(Value::as_array);
    let tmp_is_empty_dir = mounts.into_iter().flatten().any(|m| {
        m.get("mountPath").and_then(Value::as_str) == Some("/tmp")
            && m.get("readOnly") != Some(&Value::Bool(true))
            && volumes
                .into_iter()
                .flatten()
                .any(|v| v.get("name") == m.get("name") && v.get("emptyDir").is_some())
    });
    if !tmp_is_empty_dir {
        found.push(c.violation(
            "writable-tmp",
            Severity::Deny,
            "securityContext",
            "has a read-only root file system and no writable emptyDir at `/tmp`".into(),
            "mount an `emptyDir` volume at `/tmp`: most runtimes write temporary files there",
        ));
    }
}

fn probes(c: &Container, found: &mut Vec<Violation>) {
    if !c.long_running {
        return;
    }
    let has = |key: &str| c.value.get(key).is_some();
    let serves = c
        .value
        .get("ports")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    if serves {
        for key in ["readinessProbe", "livenessProbe"] {
            if !has(key) {
                found.push(c.violation(
                    "probes",
                    Severity::Deny,
                    "ports",
                    format!("serves a port and has no `{key}`"),
                    "give the container readiness and liveness probes, so traffic and restarts follow its health",
                ));
            }
        }
    } else if !has("readinessProbe") && !has("livenessProbe") && !has("startupProbe") {
        let mut v = c.violation(
            "probes",
            Severity::Warn,
            "name",
            "has no probe: a hung process is never restarted".into(),
            "the built-in `worker` archetype takes `params.probe_command` (a command run as an exec probe)",
        );
        v.value = Some("params.probe_command".into());
        found.push(v);
    }
}

fn resources(c: &Container, found: &mut Vec<Violation>) {
    for key in ["requests", "limits"] {
        let set = c
            .value
            .pointer(&format!("/resources/{key}"))
            .and_then(Value::as_object)
            .is_some_and(|m| m.contains_key("cpu") && m.contains_key("memory"));
        if !set {
            let mut v = c.violation(
                "resources",
                Severity::Deny,
                "resources",
                format!("has no cpu and memory `{key}`"),
                "set requests and limits from the target's size (`resources.requests`, `resources.limits`)",
            );
            v.value = Some("size".into());
            found.push(v);
        }
    }
}

fn image_digest(c: &Container, required: bool, found: &mut Vec<Violation>) {
    let image = c.value.get("image").and_then(Value::as_str).unwrap_or_default();
    if required && tag_and_digest(image).1.is_none() {
        let mut v = c.violation(
            "image-digest",
            Severity::Deny,
            "image",
            format!("image `{image}` has no digest"),
            "pin the image by digest (`repository:tag@sha256:...`): a tag can be pushed again",
        );
        v.value = Some("image.tag".into());
        found.push(v);
    }
}

/// The replica floor of the workload a PDB protects: the HPA's minimum when
/// one scales it, else its `replicas`.
fn replica_floor(objects: &[Object]) -> Option<i64> {
    let hpa = objects
        .iter()
        .find(|o| o.kind() == "HorizontalPodAutoscaler")
        .and_then(|o| o.value.pointer("/spec/minReplicas")?.as_i64());
    hpa.or_else(|| {
        objects
            .iter()
            .filter(|o| pod_spec(o).is_some_and(|(_, _, long)| long))
            .find_map(|o| o.value.pointer("/spec/replicas")?.as_i64())
    })
}

fn pdb_allows_disruption(objects: &[Object], found: &mut Vec<Violation>) {
    let floor = replica_floor(objects);
    for pdb in objects.iter().filter(|o| o.kind() == "PodDisruptionBudget") {
        let spec = pdb.value.get("spec");
        let get = |key: &str| spec.and_then(|s| s.get(key));
        let is_zero = |v: &Value| v.as_i64() == Some(0) || v.as_str().is_some_and(|s| s.trim_end_matches('%') == "0");
        let (field, problem, value) = match (get("maxUnavailable"), get("minAvailable")) {
            (Some(max), _) if is_zero(max) => (
                "maxUnavailable",
                format!("`maxUnavailable: {max}`"),
                "params.max_unavailable",
            ),
            (_, Some(min)) if min.as_str() == Some("100%") => (
                "minAvailable",
                "`minAvailable: 100%`".to_string(),
                "params.min_available",
            ),
            (_, Some(min)) if min.as_i64().zip(floor).is_some_and(|(m, f)| m >= f) => (
                "minAvailable",
                format!("`minAvailable: {min}` with {} replicas", floor.unwrap_or_default()),
                "params.min_available",
            ),
            _ => continue,
        };
        found.push(Violation {
            rule: "pdb-allows-disruption".into(),
            severity: Severity::Deny,
            kind: pdb.kind().into(),
            name: pdb.name().into(),
            file: pdb.template.clone(),
            field: Field::Path(format!("spec.{field}")),
            message: format!("{problem} allows no disruption: node drains block forever"),
            fix: "let at least one pod go (`maxUnavailable: 1`)".into(),
            value: Some(value.into()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests() {
        assert_eq!(tag_and_digest("ghcr.io/a/b:1.2"), (Some("1.2"), None));
        assert_eq!(tag_and_digest("localhost:5000/a/b"), (None, None));
        assert_eq!(tag_and_digest("a/b:1@sha256:ab"), (Some("1"), Some("sha256:ab")));
        assert_eq!(tag_and_digest("b:latest"), (Some("latest"), None));
    }
}
