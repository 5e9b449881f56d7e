//! Custom resources, checked against their CRD's `openAPIV3Schema` the way
//! kube-apiserver applies strict field validation to a structural schema.
//!
//! A plain JSON-schema validator would accept almost anything here: CRDs
//! never say `additionalProperties: false`, the API server instead prunes
//! (and, with strict validation, refuses) every field a schema that lists
//! `properties` does not declare, unless the node sets
//! `x-kubernetes-preserve-unknown-fields`. So this is a small validator of
//! its own over the structural subset: `type`, `properties`,
//! `additionalProperties`, `items`, `required`, `enum`, `nullable`,
//! `x-kubernetes-int-or-string`, `x-kubernetes-embedded-resource`,
//! `x-kubernetes-list-type` (set / map uniqueness), `format` (int32, int64,
//! date-time), `pattern`, `minimum`/`maximum`, `minLength`/`maxLength` and
//! `minItems`/`maxItems`. The object's own `metadata` is checked as the
//! API server does, against ObjectMeta. CEL rules
//! (`x-kubernetes-validations`) are not evaluated.
//!
//! The schemas are compact JSON made by build.rs; each is parsed at most
//! once per process, when an object of its kind is first validated.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use regex::Regex;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::SchemaError;

/// `(apiVersion, kind, source, compact openAPIV3Schema)` of every vendored CRD.
const SCHEMAS: &[(&str, &str, &str, &str)] = include!(concat!(env!("OUT_DIR"), "/crds.rs"));

static PARSED: [OnceLock<Result<Schema, String>>; SCHEMAS.len()] = [const { OnceLock::new() }; SCHEMAS.len()];

/// Kinds checked against a vendored CRD, as `(apiVersion, kind)`.
pub(crate) fn kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    SCHEMAS.iter().map(|(v, k, _, _)| (*v, *k))
}

/// Where the schema of a CRD-checked kind comes from, e.g. "the Argo
/// Rollouts v1.9.1 CRD `rollouts.argoproj.io`".
pub(crate) fn source(api_version: &str, kind: &str) -> Option<&'static str> {
    SCHEMAS
        .iter()
        .find(|(v, k, _, _)| *v == api_version && *k == kind)
        .map(|(_, _, source, _)| *source)
}

/// The problems of `object` when a CRD covers its kind; `None` when none does.
pub(crate) fn validate(api_version: &str, kind: &str, object: &Value) -> Option<Vec<SchemaError>> {
    let index = SCHEMAS
        .iter()
        .position(|(v, k, _, _)| *v == api_version && *k == kind)?;
    let schema = PARSED[index].get_or_init(|| {
        serde_json::from_str(SCHEMAS[index].3).map_err(|e| format!("the vendored `{kind}` schema does not load: {e}"))
    });
    let mut errors = Vec::new();
    match schema {
        Ok(schema) => {
            let mut path = String::new();
            check_resource(schema, object, &mut path, &mut errors);
            if kind == "Rollout" {
                check_pod_template(object, &mut errors);
            }
        }
        Err(message) => errors.push(SchemaError {
            path: String::new(),
            message: message.clone(),
        }),
    }
    Some(errors)
}

/// One node of a structural schema; keywords validation does not read
/// (descriptions, defaults' values, CEL rules) are skipped when parsing.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Schema {
    #[serde(rename = "type")]
    ty: Option<Type>,
    properties: Option<BTreeMap<String, Schema>>,
    additional_properties: Option<Additional>,
    items: Option<Box<Schema>>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(rename = "enum")]
    allowed: Option<Vec<Value>>,
    #[serde(default)]
    nullable: bool,
    format: Option<String>,
    pattern: Option<String>,
    #[serde(skip)]
    regex: OnceLock<Option<Regex>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    default: Option<IgnoredAny>,
    #[serde(rename = "x-kubernetes-preserve-unknown-fields", default)]
    preserve_unknown_fields: bool,
    #[serde(rename = "x-kubernetes-int-or-string", default)]
    int_or_string: bool,
    #[serde(rename = "x-kubernetes-embedded-resource", default)]
    embedded_resource: bool,
    #[serde(rename = "x-kubernetes-list-type")]
    list_type: Option<String>,
    #[serde(rename = "x-kubernetes-list-map-keys", default)]
    list_map_keys: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

/// `additionalProperties`: a schema for every value of a map, or `true`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Additional {
    Any(bool),
    Schema(Box<Schema>),
}

/// The root of a custom resource or an embedded one: `apiVersion`, `kind`
/// and `metadata` are the API server's (metadata is an ObjectMeta), the
/// rest is the schema's.
fn check_resource(schema: &Schema, value: &Value, path: &mut String, errors: &mut Vec<SchemaError>) {
    let Value::Object(map) = value else {
        check(schema, value, path, errors);
        return;
    };
    if let Some(metadata) = map.get("metadata").filter(|m| !m.is_null()) {
        let at = path.len();
        push_key(path, "metadata");
        check_metadata(metadata, path, errors);
        path.truncate(at);
    }
    check_object(schema, map, &["metadata"], path, errors);
}

/// The Rollout CRD leaves parts of the pod template open (`volumes`, the
/// resource quantities take anything), yet the Rollouts controller copies
/// the template into ReplicaSets: so it is also checked as a core
/// PodTemplateSpec, as strictly as a Deployment's. A path the CRD already
/// reported is not reported twice.
fn check_pod_template(object: &Value, errors: &mut Vec<SchemaError>) {
    let Some(template) = object.pointer("/spec/template").filter(|t| t.is_object()) else {
        return;
    };
    for mut error in crate::check::<PodTemplateSpec>(template) {
        error.path = if error.path.is_empty() {
            "spec.template".into()
        } else {
            format!("spec.template.{}", error.path)
        };
        if !errors.iter().any(|e| e.path == error.path) {
            errors.push(error);
        }
    }
}

fn check_metadata(metadata: &Value, path: &str, errors: &mut Vec<SchemaError>) {
    for mut error in crate::check::<ObjectMeta>(metadata) {
        error.path = if error.path.is_empty() {
            path.to_string()
        } else {
            format!("{path}.{}", error.path)
        };
        errors.push(error);
    }
}

fn check(schema: &Schema, value: &Value, path: &mut String, errors: &mut Vec<SchemaError>) {
    if value.is_null() {
        if !schema.nullable {
            error(
                errors,
                path,
                format!("invalid type: null, expected {}", expected(schema)),
            );
        }
        return;
    }
    if !type_matches(schema, value) {
        error(
            errors,
            path,
            format!("invalid type: {}, expected {}", describe(value), expected(schema)),
        );
        return;
    }
    if let Some(allowed) = &schema.allowed
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        error(
            errors,
            path,
            format!("unsupported value {value}, expected one of {}", list.join(", ")),
        );
    }
    match value {
        Value::Object(_) if schema.embedded_resource => check_resource(schema, value, path, errors),
        Value::Object(map) => check_object(schema, map, &[], path, errors),
        Value::Array(items) => check_array(schema, items, path, errors),
        Value::String(s) => check_string(schema, s, path, errors),
        Value::Number(n) => check_number(schema, n, path, errors),
        _ => {}
    }
}

fn type_matches(schema: &Schema, value: &Value) -> bool {
    if schema.int_or_string {
        return is_integer(value) || value.is_string();
    }
    match schema.ty {
        None => true,
        Some(Type::Object) => value.is_object(),
        Some(Type::Array) => value.is_array(),
        Some(Type::String) => value.is_string(),
        Some(Type::Integer) => is_integer(value),
        Some(Type::Number) => value.is_number(),
        Some(Type::Boolean) => value.is_boolean(),
    }
}

/// JSON has one number type: like the API server, `3.0` is an integer.
fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn expected(schema: &Schema) -> &'static str {
    if schema.int_or_string {
        return "integer or string";
    }
    match schema.ty {
        None => "any value",
        Some(Type::Object) => "object",
        Some(Type::Array) => "array",
        Some(Type::String) => "string",
        Some(Type::Integer) => "integer",
        Some(Type::Number) => "number",
        Some(Type::Boolean) => "boolean",
    }
}

/// How serde words a value in its `invalid type` errors.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", Value::String(s.clone())),
        Value::Array(_) => "sequence".into(),
        Value::Object(_) => "map".into(),
    }
}

/// An object: declared properties are checked against their schema, map
/// values against `additionalProperties`, anything else is an unknown field
/// unless the node preserves unknown fields. `skip` names fields checked
/// elsewhere (an embedded resource's metadata).
fn check_object(
    schema: &Schema,
    map: &serde_json::Map<String, Value>,
    skip: &[&str],
    path: &mut String,
    errors: &mut Vec<SchemaError>,
) {
    let at = path.len();
    let resource = skip.contains(&"metadata");
    for (key, value) in map {
        if skip.contains(&key.as_str()) {
            continue;
        }
        push_key(path, key);
        let declared = schema.properties.as_ref().and_then(|p| p.get(key));
        match (declared, &schema.additional_properties) {
            // The API server drops a null it may not keep: like leaving the field out.
            (Some(child), _) if value.is_null() && !child.nullable => {}
            (Some(child), _) => check(child, value, path, errors),
            (None, Some(Additional::Schema(child))) if value.is_null() && !child.nullable => {}
            (None, Some(Additional::Schema(child))) => check(child, value, path, errors),
            (None, Some(Additional::Any(true))) => {}
            (None, _) if schema.preserve_unknown_fields => {}
            (None, _) if resource && (key == "apiVersion" || key == "kind") => {
                if !value.is_string() {
                    error(
                        errors,
                        path,
                        format!("invalid type: {}, expected string", describe(value)),
                    );
                }
            }
            (None, _) if value.is_null() => {}
            (None, _) => error(errors, path, format!("unknown field `{key}`")),
        }
        path.truncate(at);
    }
    for key in &schema.required {
        let present = map.get(key).is_some_and(|v| {
            !v.is_null()
                || schema
                    .properties
                    .as_ref()
                    .and_then(|p| p.get(key))
                    .is_some_and(|c| c.nullable)
        });
        let defaulted = schema
            .properties
            .as_ref()
            .and_then(|p| p.get(key))
            .is_some_and(|c| c.default.is_some());
        if !present && !defaulted {
            push_key(path, key);
            error(errors, path, format!("missing required field `{key}`"));
            path.truncate(at);
        }
    }
}

fn check_array(schema: &Schema, items: &[Value], path: &mut String, errors: &mut Vec<SchemaError>) {
    if let Some(min) = schema.min_items
        && items.len() < min
    {
        error(
            errors,
            path,
            format!("has {} items, at least {min} expected", items.len()),
        );
    }
    if let Some(max) = schema.max_items
        && items.len() > max
    {
        error(
            errors,
            path,
            format!("has {} items, at most {max} expected", items.len()),
        );
    }
    let at = path.len();
    if let Some(item_schema) = &schema.items {
        for (i, item) in items.iter().enumerate() {
            path.push_str(&format!("[{i}]"));
            check(item_schema, item, path, errors);
            path.truncate(at);
        }
    }
    match schema.list_type.as_deref() {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    path.push_str(&format!("[{i}]"));
                    error(errors, path, format!("duplicate value {item}"));
                    path.truncate(at);
                }
            }
        }
        Some("map") if !schema.list_map_keys.is_empty() => {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let key: Vec<&Value> = schema.list_map_keys.iter().map(|k| &item[k.as_str()]).collect();
                if !seen.insert(key.iter().map(|v| v.to_string()).collect::<Vec<_>>()) {
                    path.push_str(&format!("[{i}]"));
                    let names = schema.list_map_keys.join("`, `");
                    error(
                        errors,
                        path,
                        format!("duplicate entry: another item has the same `{names}`"),
                    );
                    path.truncate(at);
                }
            }
        }
        _ => {}
    }
}

fn check_string(schema: &Schema, s: &str, path: &str, errors: &mut Vec<SchemaError>) {
    let length = s.chars().count();
    if let Some(min) = schema.min_length
        && length < min
    {
        error(
            errors,
            path,
            format!("is {length} characters long, at least {min} expected"),
        );
    }
    if let Some(max) = schema.max_length
        && length > max
    {
        error(
            errors,
            path,
            format!("is {length} characters long, at most {max} expected"),
        );
    }
    if let Some(pattern) = &schema.pattern {
        // An invalid pattern in a vendored CRD is skipped, not a user's error.
        let regex = schema.regex.get_or_init(|| Regex::new(pattern).ok());
        if let Some(regex) = regex
            && !regex.is_match(s)
        {
            error(
                errors,
                path,
                format!("{} does not match the pattern `{pattern}`", Value::String(s.into())),
            );
        }
    }
    if schema.format.as_deref() == Some("date-time") && !is_date_time(s) {
        error(
            errors,
            path,
            format!("{} is not an RFC 3339 date-time", Value::String(s.into())),
        );
    }
}

fn check_number(schema: &Schema, n: &serde_json::Number, path: &str, errors: &mut Vec<SchemaError>) {
    let Some(f) = n.as_f64() else { return };
    let range = match schema.format.as_deref() {
        Some("int32") => Some((i32::MIN as f64, i32::MAX as f64)),
        Some("int64") => Some((i64::MIN as f64, i64::MAX as f64)),
        _ => None,
    };
    if let (Some((low, high)), Some(format)) = (range, &schema.format)
        && !(low..=high).contains(&f)
    {
        error(errors, path, format!("{n} is out of range for {format}"));
    }
    if let Some(min) = schema.minimum
        && f < min
    {
        error(errors, path, format!("{n} is less than the minimum {min}"));
    }
    if let Some(max) = schema.maximum
        && f > max
    {
        error(errors, path, format!("{n} is greater than the maximum {max}"));
    }
}

/// RFC 3339 `2006-01-02T15:04:05Z` with optional fraction and offset: the
/// shape only, like the API server's `strfmt` check.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        || !matches!(b[10], b'T' | b't' | b' ')
        || !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19))
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn error(errors: &mut Vec<SchemaError>, path: &str, message: String) {
    errors.push(SchemaError {
        path: path.to_string(),
        message,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate;
    use serde_json::json;

    fn example(name: &str) -> Value {
        let text = match name {
            "rollout-canary" => include_str!("../testdata/rollout-canary.yaml"),
            "rollout-bluegreen" => include_str!("../testdata/rollout-bluegreen.yaml"),
            "rollout-workload-ref" => include_str!("../testdata/rollout-workload-ref.yaml"),
            "analysis-template" => include_str!("../testdata/analysis-template.yaml"),
            "prometheus-rule" => include_str!("../testdata/prometheus-rule.yaml"),
            "app-project" => include_str!("../testdata/app-project.yaml"),
            "application" => include_str!("../testdata/application.yaml"),
            _ => unreachable!("no example {name}"),
        };
        serde_norway::from_str(text).unwrap()
    }

    fn errors(value: &Value) -> Vec<(String, String)> {
        validate(value).into_iter().map(|e| (e.path, e.message)).collect()
    }

    fn one(path: &str, message: &str) -> Vec<(String, String)> {
        vec![(path.into(), message.into())]
    }

    #[test]
    fn accepts_the_documented_examples() {
        for name in [
            "rollout-canary",
            "rollout-bluegreen",
            "rollout-workload-ref",
            "analysis-template",
            "prometheus-rule",
            "app-project",
            "application",
        ] {
            assert_eq!(errors(&example(name)), vec![], "{name}");
        }
    }

    #[test]
    fn refuses_an_unknown_field_at_depth() {
        let mut rollout = example("rollout-canary");
        rollout["spec"]["strategy"]["canary"]["trafficRouting"]["nginx"]["stableIngres"] = json!("x");
        assert_eq!(
            errors(&rollout),
            one(
                "spec.strategy.canary.trafficRouting.nginx.stableIngres",
                "unknown field `stableIngres`"
            )
        );
        let mut rollout = example("rollout-canary");
        rollout["spec"]["template"]["metadata"]["name"] = json!("x");
        assert_eq!(
            errors(&rollout),
            one("spec.template.metadata.name", "unknown field `name`")
        );
    }

    #[test]
    fn refuses_a_wrong_type() {
        let mut rollout = example("rollout-canary");
        rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = json!("20");
        assert_eq!(
            errors(&rollout),
            one(
                "spec.strategy.canary.steps[0].setWeight",
                r#"invalid type: string "20", expected integer"#
            )
        );
        let mut rule = example("prometheus-rule");
        rule["spec"]["groups"][0]["rules"][1]["labels"]["severity"] = json!(true);
        assert_eq!(
            errors(&rule),
            one(
                "spec.groups[0].rules[1].labels.severity",
                "invalid type: boolean `true`, expected string"
            )
        );
    }

    #[test]
    fn refuses_a_missing_required_field() {
        let mut template = example("analysis-template");
        template["spec"]["metrics"][0]
            .as_object_mut()
            .unwrap()
            .remove("provider");
        assert_eq!(
            errors(&template),
            one("spec.metrics[0].provider", "missing required field `provider`")
        );
        let mut rollout = example("rollout-canary");
        rollout["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("name");
        assert_eq!(
            errors(&rollout),
            one("spec.template.spec.containers[0].name", "missing required field `name`")
        );
        // A null is what the API server prunes: the same as leaving it out.
        let mut rule = example("prometheus-rule");
        rule["spec"]["groups"][0]["name"] = Value::Null;
        assert_eq!(
            errors(&rule),
            one("spec.groups[0].name", "missing required field `name`")
        );
    }

    #[test]
    fn takes_an_int_or_a_string_where_the_crd_says_so() {
        let mut rollout = example("rollout-canary");
        let canary = &mut rollout["spec"]["strategy"]["canary"];
        canary["maxSurge"] = json!(1);
        canary["maxUnavailable"] = json!("10%");
        assert_eq!(errors(&rollout), vec![]);
        rollout["spec"]["strategy"]["canary"]["maxSurge"] = json!(true);
        assert_eq!(
            errors(&rollout),
            one(
                "spec.strategy.canary.maxSurge",
                "invalid type: boolean `true`, expected integer or string"
            )
        );
    }

    #[test]
    fn a_preserved_subtree_takes_anything() {
        let mut rollout = example("rollout-canary");
        rollout["spec"]["strategy"]["canary"]["trafficRouting"]["plugins"] =
            json!({"argoproj-labs/gatewayAPI": {"httpRoute": "x", "any": [1, {"deep": null}]}});
        assert_eq!(errors(&rollout), vec![]);
    }

    #[test]
    fn checks_enums_formats_and_list_keys() {
        let appset = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "a"}, "spec": {"generators": [], "template": {"metadata": {},
                "spec": {"project": "p", "destination": {}}}, "syncPolicy": {"applicationsSync": "never"}}});
        assert_eq!(
            errors(&appset),
            one(
                "spec.syncPolicy.applicationsSync",
                r#"unsupported value "never", expected one of "create-only", "create-update", "create-delete", "sync""#
            )
        );
        let mut rollout = example("rollout-canary");
        rollout["spec"]["replicas"] = json!(1u64 << 40);
        assert_eq!(
            errors(&rollout),
            one("spec.replicas", "1099511627776 is out of range for int32")
        );
        let mut rollout = example("rollout-canary");
        let containers = &mut rollout["spec"]["template"]["spec"]["containers"];
        let twin = containers[0].clone();
        containers.as_array_mut().unwrap().push(twin);
        assert_eq!(
            errors(&rollout),
            one(
                "spec.template.spec.containers[1]",
                "duplicate entry: another item has the same `name`"
            )
        );
    }

    #[test]
    fn checks_a_rollouts_pod_template_like_a_deployments() {
        let mut rollout = example("rollout-canary");
        rollout["spec"]["template"]["spec"]["volumes"][0]["emptyDirr"] = json!({});
        assert_eq!(
            errors(&rollout),
            one("spec.template.spec.volumes[0].emptyDirr", "unknown field `emptyDirr`")
        );
        let mut rollout = example("rollout-canary");
        rollout["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = json!(["64Mi"]);
        let found = errors(&rollout);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "spec.template.spec.containers[0].resources.limits.memory");
    }

    #[test]
    fn checks_service_monitors_by_their_crd() {
        let monitor = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "a"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "endpoints": [{"port": "http", "relabelings": [{"action": "replace", "sourceLabel": ["x"]}]}]}});
        assert_eq!(
            errors(&monitor),
            one(
                "spec.endpoints[0].relabelings[0].sourceLabel",
                "unknown field `sourceLabel`"
            )
        );
    }

    #[test]
    fn checks_the_object_metadata_as_object_meta() {
        let mut rule = example("prometheus-rule");
        rule["metadata"]["lables"] = json!({});
        assert_eq!(errors(&rule), one("metadata.lables", "unknown field `lables`"));
    }

    /// The one-time cost of a schema and the cost per object; run alone
    /// (the schema is parsed once per process) and in release:
    /// `cargo test -p stamp-kube --release crd::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn timing() {
        for (name, kind) in [
            ("rollout-canary", "Rollout"),
            ("analysis-template", "AnalysisTemplate"),
            ("prometheus-rule", "PrometheusRule"),
            ("application-set", "ApplicationSet"),
        ] {
            let object = match name {
                "application-set" => json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                    "metadata": {"name": "a"}, "spec": {"generators": [], "template": {"metadata": {},
                        "spec": {"project": "p", "destination": {}}}}}),
                _ => example(name),
            };
            let start = std::time::Instant::now();
            assert_eq!(validate(&object), vec![]);
            let first = start.elapsed();
            let rounds = 2000;
            let start = std::time::Instant::now();
            for _ in 0..rounds {
                assert!(validate(&object).is_empty());
            }
            let each = start.elapsed() / rounds;
            eprintln!("{kind}: first object (schema parsed) {first:?}, then {each:?} per object");
        }
    }

    /// Keywords the vendored CRDs use rarely or not at all, on a schema of
    /// our own.
    #[test]
    fn checks_the_rest_of_the_structural_subset() {
        let schema: Schema = serde_json::from_value(json!({"type": "object", "properties": {
            "embedded": {"type": "object", "x-kubernetes-embedded-resource": true,
                "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            "maybe": {"type": "string", "nullable": true},
            "open": {"type": "object", "additionalProperties": true},
            "closed": {"type": "object", "additionalProperties": false},
            "count": {"type": "integer", "minimum": 1, "maximum": 3},
            "name": {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^[a-z]+$"},
            "tags": {"type": "array", "minItems": 1, "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "when": {"type": "string", "format": "date-time"}
        }}))
        .unwrap();
        let run = |value: Value| {
            let mut errors = Vec::new();
            check(&schema, &value, &mut String::new(), &mut errors);
            errors.into_iter().map(|e| (e.path, e.message)).collect::<Vec<_>>()
        };
        let valid = json!({"embedded": {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": {"a": "b"}},
            "maybe": null, "open": {"any": [1]}, "count": 2, "name": "abc", "tags": ["a", "b"],
            "when": "2026-11-29T21:33:05Z"});
        assert_eq!(run(valid), vec![]);
        let invalid = json!({"embedded": {"kind": 1, "metadata": {"nam": "x"}, "spec": {"b": 1}},
            "closed": {"x": 1}, "count": 4, "name": "ABCD", "tags": ["a", "a"], "when": "yesterday"});
        let expected = [
            ("embedded.metadata.nam", "unknown field `nam`"),
            ("embedded.kind", "invalid type: number 1, expected string"),
            ("embedded.spec.b", "unknown field `b`"),
            ("closed.x", "unknown field `x`"),
            ("count", "4 is greater than the maximum 3"),
            ("name", "is 4 characters long, at most 3 expected"),
            ("name", r#""ABCD" does not match the pattern `^[a-z]+$`"#),
            ("tags[1]", r#"duplicate value "a""#),
            ("when", r#""yesterday" is not an RFC 3339 date-time"#),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(p, m)| (p.to_string(), m.to_string())).collect();
        assert_eq!(run(invalid), expected);
        assert_eq!(
            run(json!({"tags": []})),
            vec![("tags".to_string(), "has 0 items, at least 1 expected".to_string())]
        );
    }

    #[test]
    fn dates_have_the_rfc_3339_shape() {
        assert!(is_date_time("2026-11-29T21:33:05Z"));
        assert!(is_date_time("2026-11-29T21:33:05.123+01:00"));
        assert!(!is_date_time("2026-11-29 21:33"));
        assert!(!is_date_time("2026-11-29T21:33:05"));
    }
}
