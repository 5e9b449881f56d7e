//! Strict validation of Kubernetes objects: core kinds against the
//! k8s-openapi types, custom resources against their vendored CRDs
//! (`crd`), and flagd flag definitions against flagd's schema (`flagd`).
//!
//! k8s-openapi alone is lenient: it drops unknown fields and fills missing
//! required ones with defaults. Here the typed object is written back and
//! its keys compared with the input's: a key it dropped is an unknown field,
//! a key it added is a missing required field. Type errors get their field
//! path from `serde_path_to_error`.
//!
//! This crate is separate so its slow-to-compile generic code stays cached.

mod crd;
pub mod flagd;

use k8s_openapi::api::{apps, autoscaling, batch, core, networking, policy, rbac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The Kubernetes version whose schema objects are checked against.
pub const KUBERNETES_VERSION: &str = "1.34";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// Dotted field path, `spec.template.spec.containers[0].name`; empty for the object itself.
    pub path: String,
    pub message: String,
}

impl SchemaError {
    /// The error as a message about `subject` (``Deployment `web` ``):
    /// ``Deployment `web` at `spec.replicas`: invalid type ...``.
    pub fn describe(&self, subject: &str) -> String {
        if self.path.is_empty() {
            format!("{subject}: {}", self.message)
        } else {
            format!("{subject} at `{}`: {}", self.path, self.message)
        }
    }
}

type Checker = fn(&Value) -> Vec<SchemaError>;

macro_rules! kinds {
    ($($api_version:literal $kind:literal => $ty:ty,)*) => {
        const KINDS: &[(&str, &str, Checker)] = &[$(($api_version, $kind, check::<$ty>)),*];
    };
}

kinds! {
    "v1" "Namespace" => core::v1::Namespace,
    "v1" "ServiceAccount" => core::v1::ServiceAccount,
    "v1" "ConfigMap" => core::v1::ConfigMap,
    "v1" "Secret" => core::v1::Secret,
    "v1" "Service" => core::v1::Service,
    "apps/v1" "Deployment" => apps::v1::Deployment,
    "apps/v1" "StatefulSet" => apps::v1::StatefulSet,
    "apps/v1" "DaemonSet" => apps::v1::DaemonSet,
    "batch/v1" "CronJob" => batch::v1::CronJob,
    "batch/v1" "Job" => batch::v1::Job,
    "autoscaling/v2" "HorizontalPodAutoscaler" => autoscaling::v2::HorizontalPodAutoscaler,
    "policy/v1" "PodDisruptionBudget" => policy::v1::PodDisruptionBudget,
    "networking.k8s.io/v1" "NetworkPolicy" => networking::v1::NetworkPolicy,
    "networking.k8s.io/v1" "Ingress" => networking::v1::Ingress,
    "rbac.authorization.k8s.io/v1" "Role" => rbac::v1::Role,
    "rbac.authorization.k8s.io/v1" "RoleBinding" => rbac::v1::RoleBinding,
}

/// Kinds stamp can check, as `apiVersion/kind`.
pub fn known_kinds() -> impl Iterator<Item = String> {
    let typed = KINDS.iter().map(|(v, k, _)| (*v, *k));
    typed.chain(crd::kinds()).map(|(v, k)| format!("{v}/{k}"))
}

/// What objects of a kind are checked against, for a hint under a schema
/// error: "the Kubernetes 1.34 schema" or "the Argo Rollouts v1.9.1 CRD
/// `rollouts.argoproj.io`".
pub fn schema_name(api_version: &str, kind: &str) -> String {
    match crd::source(api_version, kind) {
        Some(source) => source.to_string(),
        None => format!("the Kubernetes {KUBERNETES_VERSION} schema"),
    }
}

/// Kinds that live outside any namespace.
pub fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ClusterAnalysisTemplate"
            | "CustomResourceDefinition"
            | "PriorityClass"
            | "StorageClass"
    )
}

/// Every problem of one object; empty when it is valid.
pub fn validate(object: &Value) -> Vec<SchemaError> {
    let field = |name: &str| object.get(name).and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return vec![SchemaError {
            path: String::new(),
            message: "an object needs string `apiVersion` and `kind` fields".into(),
        }];
    };
    if let Some((_, _, checker)) = KINDS.iter().find(|(v, k, _)| *v == api_version && *k == kind) {
        return checker(object);
    }
    crd::validate(api_version, kind, object).unwrap_or_else(|| {
        vec![SchemaError {
            path: "kind".into(),
            message: format!("`{api_version}` `{kind}` is not a kind stamp can validate"),
        }]
    })
}

fn check<T: DeserializeOwned + Serialize>(input: &Value) -> Vec<SchemaError> {
    // The common case, a valid object, takes the plain (fast) path; only a
    // type error is deserialized again to learn its field path.
    let typed = match T::deserialize(input) {
        Ok(typed) => typed,
        Err(_) => return vec![type_error::<T>(input)],
    };
    let mut errors = Vec::new();
    match serde_json::to_value(&typed) {
        Ok(written) => compare_keys(input, &written, KeyPath::Root, &mut errors),
        Err(e) => errors.push(SchemaError {
            path: String::new(),
            message: e.to_string(),
        }),
    }
    errors
}

fn type_error<T: DeserializeOwned>(input: &Value) -> SchemaError {
    match serde_path_to_error::deserialize::<_, T>(input) {
        Ok(_) => SchemaError {
            path: String::new(),
            message: "the object does not deserialize".into(),
        },
        Err(e) => {
            let mut path = e.path().to_string().trim_start_matches('.').to_string();
            let message = e.into_inner().to_string();
            // serde reports a missing field at its parent: point at the field.
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                path = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
            }
            SchemaError { path, message }
        }
    }
}

/// Where a key sits in an object; spelled out only for an error (building
/// a path string per key was a tenth of all validation).
#[derive(Clone, Copy)]
enum KeyPath<'a> {
    Root,
    Key(&'a KeyPath<'a>, &'a str),
    Index(&'a KeyPath<'a>, usize),
}

impl KeyPath<'_> {
    fn spelled(&self) -> String {
        match self {
            KeyPath::Root => String::new(),
            KeyPath::Key(KeyPath::Root, key) => key.to_string(),
            KeyPath::Key(parent, key) => format!("{}.{key}", parent.spelled()),
            KeyPath::Index(parent, i) => format!("{}[{i}]", parent.spelled()),
        }
    }
}

/// Compares the keys of the input with what the typed object writes back:
/// a key the typed object dropped is unknown to the schema; a key it added
/// is a required field serde filled with a default.
fn compare_keys(input: &Value, written: &Value, path: KeyPath, errors: &mut Vec<SchemaError>) {
    match (input, written) {
        (Value::Object(given), Value::Object(full)) => {
            let mut found = 0;
            for (key, value) in given {
                let child = KeyPath::Key(&path, key);
                match full.get(key) {
                    Some(written_value) => {
                        found += 1;
                        compare_keys(value, written_value, child, errors);
                    }
                    // An explicit null is the same as leaving an optional field out.
                    None if value.is_null() => {}
                    None => errors.push(SchemaError {
                        path: child.spelled(),
                        message: format!("unknown field `{key}`"),
                    }),
                }
            }
            // Every written key was given: nothing was filled in.
            if found == full.len() {
                return;
            }
            for key in full.keys().filter(|k| !given.contains_key(*k)) {
                errors.push(SchemaError {
                    path: KeyPath::Key(&path, key).spelled(),
                    message: format!("missing required field `{key}`"),
                });
            }
        }
        (Value::Array(given), Value::Array(full)) => {
            for (i, (g, w)) in given.iter().zip(full).enumerate() {
                compare_keys(g, w, KeyPath::Index(&path, i), errors);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(container: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [container]}}}
        })
    }

    #[test]
    fn accepts_a_valid_deployment() {
        assert_eq!(validate(&deployment(json!({"name": "app", "image": "x:1"}))), vec![]);
    }

    #[test]
    fn reports_unknown_fields_with_their_path() {
        let mut d = deployment(json!({"name": "app"}));
        d["spec"]["template"]["spec"]["containres"] = json!([]);
        assert_eq!(
            validate(&d),
            vec![SchemaError {
                path: "spec.template.spec.containres".into(),
                message: "unknown field `containres`".into()
            }]
        );
    }

    #[test]
    fn reports_missing_required_fields() {
        let errors = validate(&deployment(json!({"image": "x:1"})));
        assert_eq!(errors[0].path, "spec.template.spec.containers[0].name");
        let mut d = deployment(json!({"name": "app"}));
        d["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(validate(&d)[0].path, "spec.selector");
    }

    #[test]
    fn reports_wrong_types_with_their_path() {
        let errors = validate(&deployment(
            json!({"name": "app", "ports": [{"containerPort": "http"}]}),
        ));
        assert_eq!(
            errors[0].path,
            "spec.template.spec.containers[0].ports[0].containerPort"
        );
        assert!(errors[0].message.contains("invalid type"), "{}", errors[0].message);
    }

    #[test]
    fn checks_service_monitors_strictly() {
        let sm = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "a"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"port": "http", "intervall": "30s"}]}});
        assert_eq!(validate(&sm)[0].path, "spec.endpoints[0].intervall");
        let sm = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "a"},
            "spec": {"endpoints": []}});
        assert_eq!(validate(&sm)[0].path, "spec.selector");
    }

    #[test]
    fn names_the_schema_of_a_kind() {
        assert_eq!(schema_name("apps/v1", "Deployment"), "the Kubernetes 1.34 schema");
        assert_eq!(
            schema_name("argoproj.io/v1alpha1", "Rollout"),
            "the Argo Rollouts v1.9.1 CRD `rollouts.argoproj.io`"
        );
        assert_eq!(
            schema_name("monitoring.coreos.com/v1", "PrometheusRule"),
            "the prometheus-operator v0.93.0 CRD `prometheusrules.monitoring.coreos.com`"
        );
    }

    #[test]
    fn refuses_unknown_kinds() {
        let errors = validate(&json!({"apiVersion": "v1", "kind": "Pod"}));
        assert!(errors[0].message.contains("not a kind"));
    }
}
