//! Stages three and four: render a target's templates, parse what they
//! produce, stamp the common metadata on every object and validate it.

use serde_json::{Map, Value};

use crate::blueprint::{Blueprints, template_error};
use crate::catalog::reader::node_to_json;
use crate::diagnostic::{Diagnostic, Pos};
use crate::load::Sources;
use crate::resolve::Target;

pub const MANAGED_BY: &str = "stamp";
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// One rendered, validated object and the template it came from.
#[derive(Clone, Debug)]
pub struct Object {
    pub value: Value,
    pub template: String,
    pub wave: i64,
    kind: String,
    name: String,
}

impl Object {
    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Namespace first, then by sync wave, kind and name.
    fn sort_key(&self) -> (bool, i64, &str, &str) {
        (self.kind != "Namespace", self.wave, &self.kind, &self.name)
    }
}

/// The sync wave of a kind: namespace 0, identity and config 1, workloads 2,
/// services and policies 3.
pub fn default_wave(kind: &str) -> i64 {
    match kind {
        "Namespace" => 0,
        "ServiceAccount" | "ConfigMap" | "Secret" | "Role" | "RoleBinding" => 1,
        "Deployment" | "StatefulSet" | "DaemonSet" | "CronJob" | "Job" => 2,
        _ => 3,
    }
}

/// Renders every template of the target; all problems are returned together.
pub fn render_target(
    blueprints: &Blueprints,
    sources: &Sources,
    target: &Target,
) -> Result<Vec<Object>, Vec<Diagnostic>> {
    let archetype = &blueprints.archetypes[&target.archetype];
    let templates = archetype.templates.iter().chain(
        target
            .components
            .iter()
            .flat_map(|c| &blueprints.components[c].templates),
    );
    let context = minijinja::Value::from(minijinja::value::Serde(&target.values));
    let mut objects = Vec::new();
    let mut diags = Vec::new();
    for template in templates {
        let rendered = blueprints.env.get_template(template).and_then(|t| t.render(&context));
        let text = match rendered {
            Ok(text) => text,
            Err(e) => {
                diags.push(template_error(&e, template).for_target(target.id()));
                continue;
            }
        };
        let documents = match crate::yaml_tree::parse_stream(template, &text) {
            Ok(documents) => documents,
            Err(d) => {
                diags.push(
                    Diagnostic::new(
                        template.as_str(),
                        d.pos,
                        format!(
                            "the template rendered invalid YAML (line {} of its output): {}",
                            d.pos.line, d.message
                        ),
                    )
                    .for_target(target.id()),
                );
                continue;
            }
        };
        for document in documents {
            let value = node_to_json(&document);
            match decorate(value, target, template) {
                Ok(object) => objects.push(object),
                Err(d) => diags.push(d),
            }
        }
    }
    for object in &objects {
        for error in stamp_kube::validate(&object.value) {
            let source = sources.get(&object.template).unwrap_or_default();
            let pos = find_field_line(source, &error.path);
            let field = if error.path.is_empty() {
                String::new()
            } else {
                format!(" at `{}`", error.path)
            };
            diags.push(
                Diagnostic::new(
                    object.template.as_str(),
                    pos,
                    format!("{} `{}`{field}: {}", object.kind(), object.name(), error.message),
                )
                .for_target(target.id())
                .with_hint(format!(
                    "objects are checked against the Kubernetes {} schema",
                    stamp_kube::KUBERNETES_VERSION
                )),
            );
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for object in &objects {
        if !seen.insert((object.kind().to_string(), object.name().to_string())) {
            diags.push(Diagnostic::new(
                object.template.as_str(),
                Pos::START,
                format!(
                    "{} `{}` is rendered twice for target `{}`",
                    object.kind(),
                    object.name(),
                    target.id()
                ),
            ));
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    objects.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(objects)
}

/// The line of the template that most likely wrote the field at `path`:
/// each path segment is looked for below and indented deeper than the last.
/// A missing field ends the walk at its parent.
pub fn find_field_line(source: &str, path: &str) -> Pos {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Pos::START;
    let (mut from, mut indent) = (0, None::<usize>);
    for segment in path.split('.').map(|s| s.split('[').next().unwrap_or(s)) {
        let needle = format!("{segment}:");
        let hit = lines.iter().enumerate().skip(from).find_map(|(i, line)| {
            let trimmed = line.trim_start();
            let item = trimmed.trim_start_matches("- ");
            let col = line.len() - item.len();
            let deeper = indent.is_none_or(|parent| col > parent);
            (deeper && item.starts_with(&needle)).then_some((i, col))
        });
        let Some((i, col)) = hit else { break };
        found = Pos::new(i as u32 + 1, col as u32 + 1);
        (from, indent) = (i + 1, Some(col));
    }
    found
}

/// Adds the labels, namespace and sync wave every object carries, with
/// metadata keys in a fixed order.
fn decorate(value: Value, target: &Target, template: &str) -> Result<Object, Diagnostic> {
    let error =
        |message: String| Diagnostic::new(template, Pos::START, format!("{message} (target `{}`)", target.id()));
    let Value::Object(mut object) = value else {
        return Err(error("a rendered document must be a Kubernetes object (a map)".into()));
    };
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(Value::Object(mut metadata)) = object.remove("metadata") else {
        return Err(error(format!("`{kind}` has no `metadata` map")));
    };
    let Some(name) = metadata.remove("name").filter(Value::is_string) else {
        return Err(error(format!("`{kind}` has no `metadata.name`")));
    };
    let name_text = name.as_str().unwrap_or_default().to_string();
    let namespace = metadata.remove("namespace");
    let cluster_scoped = stamp_kube::is_cluster_scoped(&kind);
    if let Some(ns) = &namespace
        && (cluster_scoped || ns.as_str() != Some(target.values.namespace.as_str()))
    {
        return Err(error(format!(
            "`{kind}` `{}` sets namespace {ns}; objects of a target live in `{}`",
            name.as_str().unwrap_or_default(),
            target.values.namespace
        )));
    }
    let mut labels = take_string_map(&mut metadata, "labels");
    labels.insert("app.kubernetes.io/name".into(), Value::from(target.service.as_str()));
    labels.insert("app.kubernetes.io/managed-by".into(), Value::from(MANAGED_BY));
    let mut annotations = take_string_map(&mut metadata, "annotations");
    let wave = match annotations.get(SYNC_WAVE).and_then(Value::as_str) {
        Some(w) => w
            .parse()
            .map_err(|_| error(format!("annotation `{SYNC_WAVE}` must be a whole number, found `{w}`")))?,
        None => default_wave(&kind),
    };
    annotations.insert(SYNC_WAVE.into(), Value::from(wave.to_string()));

    let mut ordered = Map::new();
    ordered.insert("name".into(), name);
    if !cluster_scoped {
        ordered.insert("namespace".into(), Value::from(target.values.namespace.as_str()));
    }
    ordered.insert("labels".into(), Value::Object(sorted(labels)));
    ordered.insert("annotations".into(), Value::Object(sorted(annotations)));
    ordered.extend(metadata);

    let mut result = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = object.remove(key) {
            result.insert(key.into(), v);
        }
    }
    result.insert("metadata".into(), Value::Object(ordered));
    result.extend(object);
    Ok(Object {
        value: Value::Object(result),
        template: template.to_string(),
        wave,
        name: name_text,
        kind,
    })
}

fn take_string_map(metadata: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match metadata.remove(key) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn sorted(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}
