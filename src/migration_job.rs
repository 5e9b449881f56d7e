//! The migration Job (SPEC §4 "Migrations"), derived from the target's
//! rendered workload so it can never drift from it: the same pod template
//! (image, env and envFrom, volumes, security contexts, service account),
//! with the migration's command, no probes or ports, no retries and the
//! timeout as its deadline.
//!
//! It is an Argo CD `Sync` hook in sync wave 1, the wave of identity and
//! configuration. Within one wave Argo CD (gitops-engine
//! `pkg/sync/sync_tasks.go` and `sync_context.go`) sorts resources and hooks
//! together by kind, ServiceAccount and ConfigMap well before Job, and
//! applies one kind at a time, waiting for each before the next; it starts
//! the next wave only when the hook has completed. So the Job always runs
//! with the ServiceAccount and ConfigMap of this sync, and before the
//! workloads of wave 2; a failed Job fails the sync. `BeforeHookCreation`
//! deletes the last run's Job first, so its logs stay until the next sync.
//!
//! Its pods keep the workload's pod labels except the selector's, and get
//! `app.kubernetes.io/component: migration` and `app.kubernetes.io/part-of`;
//! no Service, disruption budget or workload of the target may select them
//! (checked here on the rendered objects).

use serde_json::{Map, Value, json};

use crate::resolve::{JOB_SUFFIX, Migration, Target, WORKLOAD_KINDS};

/// A rendered object and the template it came from (what `render` holds,
/// without this module depending on it).
pub(crate) struct Rendered<'a> {
    pub(crate) template: &'a str,
    pub(crate) value: &'a Value,
}

impl Rendered<'_> {
    fn field(&self, pointer: &str) -> &str {
        self.value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
    }

    fn kind(&self) -> &str {
        self.field("/kind")
    }

    fn name(&self) -> &str {
        self.field("/metadata/name")
    }
}

/// The sync wave of identity and configuration (see `render::default_wave`).
pub(crate) const WAVE: i64 = 1;

/// Container fields a run-to-completion command has no use for.
const DROPPED_CONTAINER_FIELDS: [&str; 6] = [
    "args",
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
];

/// The Job's name for a service.
pub(crate) fn job_name(service: &str) -> String {
    format!("{service}{JOB_SUFFIX}")
}

/// The Job for `migration`, built from the target's workload among `objects`,
/// and the template it came from; an error message when there is no workload
/// to copy or a selector of the target would select the Job's pods, with the
/// workload's template when there is one.
pub(crate) fn derive(
    target: &Target,
    migration: &Migration,
    objects: &[Rendered],
) -> Result<(Value, String), (Option<String>, String)> {
    let workloads: Vec<&Rendered> = objects.iter().filter(|o| WORKLOAD_KINDS.contains(&o.kind())).collect();
    let workload = match workloads.as_slice() {
        [one] => *one,
        [] => {
            return Err((None, format!(
                "`migration` needs a workload ({}) to copy its pod template from, and archetype `{}` rendered none",
                WORKLOAD_KINDS.join(", "),
                target.archetype
            )));
        }
        many => many.iter().find(|o| o.name() == target.service).copied().ok_or_else(|| {
            (None, format!(
                "`migration` copies the pod template of the workload named `{}`, and archetype `{}` rendered {} workloads, none of that name",
                target.service,
                target.archetype,
                many.len()
            ))
        })?,
    };
    let at_workload = |message: String| (Some(workload.template.to_string()), message);
    let Some(Value::Object(template)) = workload.value.pointer("/spec/template").cloned() else {
        return Err(at_workload(format!(
            "`migration` copies the pod template of `{}` `{}`, which has none at `spec.template`",
            workload.kind(),
            workload.name()
        )));
    };
    let pod = pod_template(target, workload, migration, template).map_err(at_workload)?;
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(&target.service),
            "labels": { "app.kubernetes.io/component": "migration" },
            "annotations": {
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
                "argocd.argoproj.io/sync-wave": WAVE.to_string(),
            },
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": migration.timeout_seconds,
            "template": pod,
        },
    });
    check_unselected(&job, objects).map_err(at_workload)?;
    Ok((job, workload.template.to_string()))
}

/// The workload's pod template, turned into the migration's. Keys keep
/// their order (`shift_remove`), so the Job reads like the workload.
fn pod_template(
    target: &Target,
    workload: &Rendered,
    migration: &Migration,
    mut template: Map<String, Value>,
) -> Result<Value, String> {
    let selector = selector_of(workload.value).unwrap_or_default();
    let mut metadata = match template.shift_remove("metadata") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let labels = match metadata.get_mut("labels") {
        Some(Value::Object(labels)) => labels,
        _ => {
            metadata.insert("labels".into(), Value::Object(Map::new()));
            metadata["labels"].as_object_mut().expect("just inserted")
        }
    };
    labels.retain(|key, _| !selector.contains_key(key));
    labels.insert("app.kubernetes.io/component".into(), Value::from("migration"));
    labels.insert("app.kubernetes.io/part-of".into(), Value::from(target.service.as_str()));
    let Some(Value::Object(mut spec)) = template.shift_remove("spec") else {
        return Err(format!("`{}` `{}` has no pod spec", workload.kind(), workload.name()));
    };
    let containers = match spec.get("containers") {
        Some(Value::Array(containers)) => containers.as_slice(),
        _ => &[],
    };
    // The service's own container; sidecars would keep the Job from completing.
    let main = containers
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(target.service.as_str()))
        .or(containers.first());
    let Some(Value::Object(main)) = main else {
        return Err(format!("`{}` `{}` has no container", workload.kind(), workload.name()));
    };
    let command = Value::Array(migration.command.iter().map(|a| Value::from(a.as_str())).collect());
    let mut container = Map::new();
    for (key, value) in main {
        if DROPPED_CONTAINER_FIELDS.contains(&key.as_str()) || key == "command" {
            continue;
        }
        container.insert(key.clone(), value.clone());
        if key == "image" {
            container.insert("command".into(), command.clone());
        }
    }
    if !container.contains_key("command") {
        container.insert("command".into(), command);
    }
    spec.insert("containers".into(), Value::Array(vec![Value::Object(container)]));
    // A failed run is final: no restart in the pod, no retry in the Job.
    spec.insert("restartPolicy".into(), Value::from("Never"));
    let mut pod = Map::new();
    pod.insert("metadata".into(), Value::Object(metadata));
    pod.insert("spec".into(), Value::Object(spec));
    pod.extend(template);
    Ok(Value::Object(pod))
}

/// The labels an object selects pods by: a Service's `spec.selector`, or
/// `spec.selector.matchLabels` of a workload or disruption budget.
fn selector_of(object: &Value) -> Option<Map<String, Value>> {
    let selector = object.pointer("/spec/selector")?.as_object()?;
    // Expressions are not evaluated here; such a selector is not checked.
    if selector
        .get("matchExpressions")
        .is_some_and(|e| e.as_array().is_some_and(|e| !e.is_empty()))
    {
        return None;
    }
    match selector.get("matchLabels") {
        Some(Value::Object(labels)) => Some(labels.clone()),
        _ if object.get("kind").and_then(Value::as_str) == Some("Service") => Some(selector.clone()),
        _ => Some(Map::new()),
    }
}

/// No Service, disruption budget or workload of the target selects the Job's
/// pods: a Service would send them requests, a budget would count them, a
/// workload could claim them.
fn check_unselected(job: &Value, objects: &[Rendered]) -> Result<(), String> {
    let empty = Map::new();
    let labels = job
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for object in objects {
        let kind = object.kind();
        let selects = match kind {
            "Service" => selector_of(object.value).is_some_and(|s| !s.is_empty() && is_subset(&s, labels)),
            // An empty budget selector selects every pod of the namespace.
            "PodDisruptionBudget" => selector_of(object.value).is_some_and(|s| is_subset(&s, labels)),
            k if WORKLOAD_KINDS.contains(&k) => {
                selector_of(object.value).is_some_and(|s| !s.is_empty() && is_subset(&s, labels))
            }
            _ => false,
        };
        if selects {
            return Err(format!(
                "`{kind}` `{}` selects the migration Job's pods (labels {}); its selector must use a label the workload's pods carry and the Job's do not",
                object.name(),
                Value::Object(labels.clone())
            ));
        }
    }
    Ok(())
}

fn is_subset(selector: &Map<String, Value>, labels: &Map<String, Value>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}
