//! Stages three and four: render a target's templates, parse what they
//! produce, stamp the common metadata on every object and validate it.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::blueprint::{Blueprint, Blueprints, Declared, template_error};
use crate::catalog::reader::node_to_json;
use crate::diagnostic::{Diagnostic, Pos};
use crate::load::Sources;
use crate::resolve::{Rollout, Target};
use crate::rollout;

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

/// Bytes one template may render for one target. A Kubernetes object is at
/// most about 1.5 MiB (etcd's request limit), so more than a few of them from
/// one template is a runaway loop, not a manifest.
pub const MAX_TEMPLATE_OUTPUT: usize = 8 << 20;

/// Bytes all templates of one target may render together.
pub const MAX_TARGET_OUTPUT: usize = 32 << 20;

/// The annotation on pod templates that holds [`config_hash`].
pub const CONFIG_HASH: &str = "stamp.dev/config-hash";

/// A hash of exactly the data the env ConfigMap holds (the target's `env`
/// map, which the config-map component writes as it is); `None` when the
/// target has no env, and so no ConfigMap.
pub fn config_hash(env: &std::collections::BTreeMap<String, String>) -> Option<String> {
    if env.is_empty() {
        return None;
    }
    let mut hasher = blake3::Hasher::new();
    for (key, value) in env {
        // Length-prefixed, so no two maps hash the same bytes.
        for part in [key, value] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    Some(hasher.finalize().to_hex()[..16].to_string())
}

/// Collects rendered bytes and refuses to grow past a bound, which stops
/// the render at once instead of after the memory is spent.
struct Bounded {
    text: Vec<u8>,
    limit: usize,
    hit: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > self.limit {
            self.hit = true;
            return Err(std::io::Error::other("output bound"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders one template within the output bound.
fn render_one(
    blueprints: &Blueprints,
    template: &str,
    context: &minijinja::Value,
    limit: usize,
) -> Result<String, Diagnostic> {
    let mut out = Bounded {
        text: Vec::new(),
        limit,
        hit: false,
    };
    let rendered = blueprints
        .env
        .get_template(template)
        .and_then(|t| t.render_captured_to(context.clone(), &mut out).map(|_| ()));
    match rendered {
        Ok(()) => String::from_utf8(out.text).map_err(|_| {
            Diagnostic::new(template, Pos::START, "the template rendered text that is not UTF-8")
        }),
        Err(_) if out.hit => Err(Diagnostic::new(
            template,
            Pos::START,
            format!("the template rendered more than {} MiB", limit >> 20),
        )
        .with_hint(format!(
            "a template may render {} MiB per target, all templates of a target {} MiB together; look for a loop that never ends",
            MAX_TEMPLATE_OUTPUT >> 20,
            MAX_TARGET_OUTPUT >> 20
        ))),
        Err(e) => {
            let mut d = template_error(&e, template);
            if e.kind() == minijinja::ErrorKind::OutOfFuel {
                d = d.with_hint(format!(
                    "a template may run {} instructions per render; look for a loop that never ends",
                    crate::blueprint::TEMPLATE_FUEL
                ));
            }
            Err(d)
        }
    }
}

/// Renders every template of the target; all problems are returned together.
pub fn render_target(
    blueprints: &Blueprints,
    sources: &Sources,
    target: &Target,
) -> Result<Vec<Object>, Vec<Diagnostic>> {
    let archetype = &blueprints.archetypes[&target.archetype];
    let blueprints_used: Vec<&Blueprint> = std::iter::once(archetype)
        .chain(target.components.iter().map(|c| &blueprints.components[c]))
        .collect();
    let mut diags = Vec::new();
    let mut objects = render_templates(blueprints, sources, target, &blueprints_used, &mut diags);
    let mut features = Vec::new();
    if diags.is_empty() {
        add_migration(blueprints, target, &mut objects, &mut features, &mut diags);
    }
    check_declared(&blueprints_used, &features, sources, target, &objects, &mut diags);
    check_flags_mounted(archetype, target, &objects, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    // The Deployment a Rollout replaces is not checked on its own: the
    // Rollout's CRD holds its pod template as strictly, and one mistake is
    // then one error.
    if let Err(d) = apply_rollout(archetype, target, &mut objects) {
        return Err(vec![d.for_target(target.id())]);
    }
    check_schemas(sources, target, &objects, &mut diags);
    check_flagd(sources, target, &objects, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    objects.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(objects)
}

/// The objects the templates of `used` render, parsed and decorated, in
/// template order; each failing template adds its problem and no objects.
fn render_templates(
    blueprints: &Blueprints,
    sources: &Sources,
    target: &Target,
    used: &[&Blueprint],
    diags: &mut Vec<Diagnostic>,
) -> Vec<Object> {
    let context = minijinja::context! {
        config_hash => config_hash(&target.values.env),
        flags_json => crate::flags::document_text(&target.values.flags),
        ..minijinja::Value::from(minijinja::value::Serde(&*target.values))
    };
    let mut objects = Vec::new();
    let mut budget = MAX_TARGET_OUTPUT;
    for template in used.iter().flat_map(|b| &b.templates) {
        let text = match render_one(blueprints, template, &context, budget.min(MAX_TEMPLATE_OUTPUT)) {
            Ok(text) => text,
            Err(d) => {
                diags.push(d.for_target(target.id()));
                continue;
            }
        };
        budget -= text.len();
        let values = match parsed(&target.service, template, &text) {
            Ok(values) => values,
            Err(d) => {
                let source = sources.get(template).unwrap_or_default();
                diags.push(invalid_yaml(template, source, &text, &d).for_target(target.id()));
                continue;
            }
        };
        for value in values {
            match decorate(value, target, template) {
                Ok(object) => objects.push(object),
                Err(d) => diags.push(d.for_target(target.id())),
            }
        }
    }
    objects
}

thread_local! {
    /// The documents this thread last parsed, by template and text, for one
    /// service: its targets mostly render the same text (a Service, a
    /// NetworkPolicy differ by nothing but the environment's values), and
    /// parsing was a third of rendering. Kept to one service to bound memory.
    static PARSED: RefCell<(String, HashMap<blake3::Hash, Vec<Value>>)> = RefCell::default();
}

/// The documents of a template's output, as JSON, parsed once per service
/// and thread.
fn parsed(service: &str, template: &str, text: &str) -> Result<Vec<Value>, Diagnostic> {
    let mut key = blake3::Hasher::new();
    key.update(template.as_bytes()).update(b"\0").update(text.as_bytes());
    let key = key.finalize();
    PARSED.with_borrow_mut(|(cached_for, documents)| {
        if cached_for != service {
            service.clone_into(cached_for);
            documents.clear();
        }
        if let Some(values) = documents.get(&key) {
            return Ok(values.clone());
        }
        let values: Vec<Value> = crate::yaml_tree::parse_stream(template, text)?
            .iter()
            .map(node_to_json)
            .collect();
        documents.insert(key, values.clone());
        Ok(values)
    })
}

/// Every object against its kind's schema: Kubernetes' own, or the CRD
/// stamp vendors for a custom resource.
fn check_schemas(sources: &Sources, target: &Target, objects: &[Object], diags: &mut Vec<Diagnostic>) {
    for object in objects {
        let errors = stamp_kube::validate(&object.value);
        if errors.is_empty() {
            continue;
        }
        let api_version = object.value["apiVersion"].as_str().unwrap_or_default();
        let schema = stamp_kube::schema_name(api_version, object.kind());
        let subject = format!("{} `{}`", object.kind(), object.name());
        let hint = format!("objects are checked against {schema}");
        diags.extend(schema_errors(sources, target, object, errors, &subject, None, &hint));
    }
}

/// One diagnostic per schema error of `object`, at the template line that
/// most likely wrote `field`, else the error's own path.
fn schema_errors(
    sources: &Sources,
    target: &Target,
    object: &Object,
    errors: Vec<stamp_kube::SchemaError>,
    subject: &str,
    field: Option<&str>,
    hint: &str,
) -> Vec<Diagnostic> {
    let source = sources.get(&object.template).unwrap_or_default();
    let diagnostic = |error: stamp_kube::SchemaError| {
        let pos = find_field_line(source, field.unwrap_or(&error.path));
        Diagnostic::new(object.template.as_str(), pos, error.describe(subject))
            .for_target(target.id())
            .with_hint(hint)
    };
    errors.into_iter().map(diagnostic).collect()
}

/// The migration Job of a target with `migration`, derived from its rendered
/// workload (`migration_job`), and its declaration among the objects of the
/// delivery features: the Job from the workload's template.
fn add_migration(
    blueprints: &Blueprints,
    target: &Target,
    objects: &mut Vec<Object>,
    features: &mut Vec<Declared>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(migration) = &target.values.migration else {
        return;
    };
    let rendered: Vec<_> = objects
        .iter()
        .map(|o| crate::migration_job::Rendered {
            template: &o.template,
            value: &o.value,
        })
        .collect();
    match crate::migration_job::derive(target, migration, &rendered) {
        Ok((job, template)) => {
            features.push(Declared {
                template: template.clone(),
                kind: "Job".into(),
                name: crate::migration_job::job_name("{service}"),
                pos: Pos::START,
            });
            match decorate(job, target, &template) {
                Ok(object) => objects.push(object),
                Err(d) => diags.push(d.for_target(target.id())),
            }
        }
        Err((template, message)) => {
            let file = template.unwrap_or_else(|| blueprints.archetypes[&target.archetype].decl_file.clone());
            diags.push(
                Diagnostic::new(file, Pos::START, message)
                    .for_target(target.id())
                    .with_hint(format!("`migration` is set in `{}`", target.service_file)),
            );
        }
    }
}

/// Delivery (SPEC §4): marks the archetype's workload so that Argo CD prunes
/// it last, then applies the target's rollout to the parsed objects (see
/// `crate::rollout`): the objects are derived in the order they depend on
/// each other (Services, analysis, autoscaler, Rollout last).
fn apply_rollout(archetype: &Blueprint, target: &Target, objects: &mut Vec<Object>) -> Result<(), Diagnostic> {
    let Some(index) = mark_workload(archetype, target, objects) else {
        return Ok(());
    };
    let Some(spec) = &target.values.rollout else {
        return Ok(());
    };
    if !spec.replaces_workload() {
        rollout::set_rolling_update(&mut objects[index].value, spec);
        return Ok(());
    }
    let deployment = objects.remove(index);
    let stable = objects
        .iter()
        .find(|o| o.kind == "Service" && archetype.templates.contains(&o.template))
        .cloned();
    let routing = routing(spec, stable.as_ref(), objects);
    let mut derived = derived_objects(target, spec, stable.as_ref(), &deployment.template)?;
    for object in objects.iter_mut().filter(|o| o.kind == "HorizontalPodAutoscaler") {
        rollout::retarget_autoscaler(&mut object.value, &deployment.name);
    }
    check_not_rendered(objects, &derived)?;
    objects.append(&mut derived);
    // After every other object: Rollouts marks a Rollout whose Services or
    // stable Ingress are missing invalid, and a paused one holds back later waves.
    let wave = objects.iter().map(|o| o.wave).max().unwrap_or(0) + 1;
    let mut value = rollout::to_rollout(&deployment.value, spec, &target.service, &routing);
    rollout::annotate(&mut value, SYNC_WAVE, &wave.to_string());
    objects.push(Object {
        value,
        template: deployment.template.clone(),
        wave,
        kind: "Rollout".into(),
        name: deployment.name,
    });
    Ok(())
}

/// The index of the archetype's rendered workload, marked to be pruned
/// last; `None` when the archetype declares none or did not render it.
fn mark_workload(archetype: &Blueprint, target: &Target, objects: &mut [Object]) -> Option<usize> {
    let workload = archetype.rollout_workload.as_ref()?;
    let values = &target.values;
    let name = workload.name_for(&target.service, &values.namespace, &target.env, &target.region);
    let index = objects
        .iter()
        .position(|o| o.kind == "Deployment" && o.name == name && o.template == workload.template)?;
    rollout::annotate(&mut objects[index].value, rollout::SYNC_OPTIONS, rollout::PRUNE_LAST);
    Some(index)
}

/// What the Rollout routes: the archetype's stable Service, and for a
/// canary the Ingresses that send traffic to it.
fn routing(spec: &Rollout, stable: Option<&Object>, objects: &[Object]) -> rollout::Routing {
    rollout::Routing {
        service: stable.map(|s| s.name.clone()),
        ingresses: match stable {
            Some(s) if spec.strategy == "canary" => objects
                .iter()
                .filter(|o| o.kind == "Ingress" && routes_to(&o.value, &s.name))
                .map(|o| o.name.clone())
                .collect(),
            _ => Vec::new(),
        },
    }
}

/// The objects the rollout adds: the canary's or preview's Service beside
/// the stable one, and the analysis template.
fn derived_objects(
    target: &Target,
    spec: &Rollout,
    stable: Option<&Object>,
    workload_template: &str,
) -> Result<Vec<Object>, Diagnostic> {
    let mut derived = Vec::new();
    if let Some(stable) = stable {
        let suffix = if spec.strategy == "canary" { "canary" } else { "preview" };
        let name = format!("{}-{suffix}", stable.name);
        derived.push(Object {
            value: rollout::derived_service(&stable.value, &name),
            template: stable.template.clone(),
            wave: stable.wave,
            kind: "Service".into(),
            name,
        });
    }
    if let Some(analysis) = &spec.analysis {
        let value = rollout::analysis_template(
            &target.service,
            &target.values.namespace,
            analysis,
            spec.strategy == "blue-green",
        );
        derived.push(decorate(value, target, workload_template)?);
    }
    Ok(derived)
}

/// A derived object a template renders too is an error at that template.
fn check_not_rendered(objects: &[Object], derived: &[Object]) -> Result<(), Diagnostic> {
    for object in derived {
        if objects.iter().any(|o| o.kind == object.kind && o.name == object.name) {
            return Err(Diagnostic::new(
                object.template.as_str(),
                Pos::START,
                format!(
                    "`{}` `{}` is rendered by a template and derived by the rollout",
                    object.kind, object.name
                ),
            )
            .with_hint("rename the template's object; the rollout derives this one"));
        }
    }
    Ok(())
}

/// Whether an Ingress sends traffic to Service `service`.
fn routes_to(ingress: &Value, service: &str) -> bool {
    match ingress {
        Value::Object(map) => {
            map.get("service").and_then(|s| s.get("name")).and_then(Value::as_str) == Some(service)
                || map.values().any(|v| routes_to(v, service))
        }
        Value::Array(items) => items.iter().any(|v| routes_to(v, service)),
        _ => false,
    }
}

/// A YAML error in rendered output, placed at the template line that wrote
/// the bad output line (output line numbers differ between targets, so the
/// same mistake is one error for all of them).
fn invalid_yaml(template: &str, source: &str, output: &str, d: &Diagnostic) -> Diagnostic {
    let message = match d.message.find(" (first set on line") {
        Some(cut) => &d.message[..cut],
        None => d.message.as_str(),
    };
    let message = message.strip_prefix("invalid YAML: ").unwrap_or(message);
    let index = d.pos.line.saturating_sub(1) as usize;
    let written = output.lines().nth(index).unwrap_or_default();
    let copy = output.lines().take(index).filter(|l| *l == written).count();
    match template_line_of(source, written, copy) {
        Some(pos) => Diagnostic::new(template, pos, format!("the template rendered invalid YAML: {message}")),
        None => Diagnostic::new(
            template,
            Pos::START,
            format!("the template rendered invalid YAML: {message}"),
        )
        .with_hint(format!("the output line was: {}", written.trim())),
    }
}

/// The template line that most likely wrote an output line: the same text,
/// else the same key at the same indentation.
fn template_line_of(source: &str, written: &str, copy: usize) -> Option<Pos> {
    let at = |i: usize, line: &str| Pos::new(i as u32 + 1, (line.len() - line.trim_start().len()) as u32 + 1);
    let trimmed = written.trim();
    if trimmed.is_empty() {
        return None;
    }
    // The same text: the as-many-th copy of it, for a duplicated line.
    let same: Vec<(usize, &str)> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_end() == written.trim_end())
        .collect();
    if let Some(&(i, line)) = same.get(copy.min(same.len().saturating_sub(1))) {
        return Some(at(i, line));
    }
    let key = trimmed.split_once(':')?.0;
    let indent = written.len() - written.trim_start().len();
    source
        .lines()
        .enumerate()
        .find(|(_, l)| {
            l.len() - l.trim_start().len() == indent && l.trim_start().split_once(':').is_some_and(|(k, _)| k == key)
        })
        .map(|(i, line)| at(i, line))
}

/// A target holds exactly the objects its archetype and components declare,
/// each namespaced one in the target's namespace (checked in `decorate`), and
/// no cluster-scoped object but its own Namespace. Anything else is a value
/// that broke out of its quotes or a template writing what it must not.
fn check_declared(
    blueprints: &[&Blueprint],
    features: &[Declared],
    sources: &Sources,
    target: &Target,
    objects: &[Object],
    diags: &mut Vec<Diagnostic>,
) {
    let values = &target.values;
    let mut seen = std::collections::BTreeSet::new();
    for object in objects {
        let source = sources.get(&object.template).unwrap_or_default();
        let pos = kind_line(source, object.kind());
        let owner = blueprints.iter().find(|b| b.templates.contains(&object.template));
        let decl_file = owner.map_or("", |b| b.decl_file.as_str());
        let breakout_hint = format!(
            "if `{}` did not mean to write it, a value from `{}` broke out of its quotes; \
             objects a template may render are declared in `{decl_file}`",
            object.template, target.service_file
        );
        let problem = if stamp_kube::is_cluster_scoped(object.kind())
            && !(object.kind() == "Namespace" && object.name() == values.namespace)
        {
            Some(format!(
                "cluster-scoped `{}` `{}`: the only cluster-scoped object a target may hold is its Namespace `{}`",
                object.kind(),
                object.name(),
                values.namespace
            ))
        } else if !owner
            .map_or(&[][..], |b| b.objects.as_slice())
            .iter()
            .chain(features)
            .any(|d| {
                d.template == object.template
                    && d.kind == object.kind()
                    && d.name_for(&target.service, &values.namespace, &target.env, &target.region) == object.name()
            })
        {
            Some(format!(
                "the template rendered `{}` `{}`, which it does not declare",
                object.kind(),
                object.name()
            ))
        } else if !seen.insert((object.kind().to_string(), object.name().to_string())) {
            Some(format!("`{}` `{}` is rendered twice", object.kind(), object.name()))
        } else {
            None
        };
        if let Some(message) = problem {
            diags.push(
                Diagnostic::new(object.template.as_str(), pos, message)
                    .for_target(target.id())
                    .with_hint(breakout_hint),
            );
        }
    }
}

/// A target with feature flags needs a workload that mounts them: an
/// archetype that does not use `workload.pod_volumes` would otherwise ship a
/// flags ConfigMap nobody reads.
fn check_flags_mounted(archetype: &Blueprint, target: &Target, objects: &[Object], diags: &mut Vec<Diagnostic>) {
    let config_map = format!("{}-flags", target.service);
    if target.values.flags.is_empty() || objects.iter().any(|o| crate::flags::mounts(&o.value, &config_map)) {
        return;
    }
    let template = archetype
        .templates
        .first()
        .map_or(archetype.decl_file.as_str(), String::as_str);
    diags.push(
        Diagnostic::new(
            template,
            Pos::START,
            format!(
                "the target has feature flags, but no workload of archetype `{}` mounts the ConfigMap `{config_map}`",
                archetype.name
            ),
        )
        .for_target(target.id())
        .with_hint(
            "render the pod's volumes with `workload.pod_volumes(service, flags)` and its container with `workload.container(..., flags=flags)` from `archetypes/workload.j2`",
        ),
    );
}

/// The target's `flags.json` against flagd's schema: the document stamp
/// builds, as the template placed it.
fn check_flagd(sources: &Sources, target: &Target, objects: &[Object], diags: &mut Vec<Diagnostic>) {
    let name = format!("{}-flags", target.service);
    let Some(object) = objects.iter().find(|o| o.kind() == "ConfigMap" && o.name() == name) else {
        return;
    };
    let text = object.value["data"]["flags.json"].as_str().unwrap_or_default();
    let errors = match serde_json::from_str::<Value>(text) {
        Ok(document) => stamp_kube::flagd::validate(&document),
        Err(e) => vec![stamp_kube::SchemaError {
            path: String::new(),
            message: format!("`flags.json` is not JSON: {e}"),
        }],
    };
    let hint = format!(
        "flag files are checked against the flagd schema {}",
        stamp_kube::flagd::SCHEMA_VERSION
    );
    let subject = format!("ConfigMap `{name}` flags.json");
    diags.extend(schema_errors(
        sources,
        target,
        object,
        errors,
        &subject,
        Some("data"),
        &hint,
    ));
}

/// The line of the template that writes `kind: <kind>`, else its first line.
fn kind_line(source: &str, kind: &str) -> Pos {
    source
        .lines()
        .position(|l| l.trim() == format!("kind: {kind}"))
        .map_or(Pos::START, |i| Pos::new(i as u32 + 1, 1))
}

/// The line of the template that most likely wrote the field at `path`:
/// each path segment is looked for below and indented deeper than the last,
/// an index (`containers[1]`) at that item of the list below its key when
/// the template writes the items out. A missing field ends the walk at its
/// parent.
pub fn find_field_line(source: &str, path: &str) -> Pos {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Pos::START;
    let (mut from, mut indent) = (0, None::<usize>);
    for segment in path.split('.') {
        let mut parts = segment.split('[');
        let key = parts.next().unwrap_or(segment);
        let needle = format!("{key}:");
        let hit = lines.iter().enumerate().skip(from).find_map(|(i, line)| {
            let (col, item) = item_text(line);
            let deeper = indent.is_none_or(|parent| col > parent);
            (deeper && item.starts_with(&needle)).then_some((i, col))
        });
        let Some((i, col)) = hit else { break };
        found = Pos::new(i as u32 + 1, col as u32 + 1);
        (from, indent) = (i + 1, Some(col));
        for index in parts.filter_map(|p| p.trim_end_matches(']').parse::<usize>().ok()) {
            if let Some((line, dash)) = list_item(&lines, i, col, index) {
                (from, indent) = (line, Some(dash));
            }
        }
    }
    found
}

/// A line's text after its indentation and any `- ` list markers, and the
/// column (0-based) where that text starts.
fn item_text(line: &str) -> (usize, &str) {
    let item = line.trim_start().trim_start_matches("- ");
    (line.len() - item.len(), item)
}

/// The line and the dash's column (0-based) of item `index` of the block
/// list under the key at line `key_line`, column `key_col`; `None` when the
/// template does not write that many items out (a loop renders them).
fn list_item(lines: &[&str], key_line: usize, key_col: usize, index: usize) -> Option<(usize, usize)> {
    let mut dash = None;
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate().skip(key_line + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("{%") {
            continue;
        }
        let col = line.len() - trimmed.len();
        if !trimmed.starts_with("- ") {
            if col <= key_col {
                return None;
            }
            continue;
        }
        match dash {
            None if col >= key_col => dash = Some(col),
            Some(d) if col == d => {}
            Some(d) if col > d => continue,
            _ => return None,
        }
        if seen == index {
            return Some((i, col));
        }
        seen += 1;
    }
    None
}

/// Adds the labels, namespace and sync wave every object carries, with
/// metadata keys in a fixed order.
fn decorate(value: Value, target: &Target, template: &str) -> Result<Object, Diagnostic> {
    let error = |message: String| Diagnostic::new(template, Pos::START, message);
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Every object rendered from the repo's catalog and built-in blueprints
    /// with only the services `examples` names (`(file, name)`: a repo
    /// service file renamed), by target, kind and name.
    fn render_all(examples: &[(&str, &str)]) -> BTreeMap<String, Value> {
        let repo = Sources::from_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut sources = Sources::default();
        for (path, text) in repo.iter().filter(|(p, _)| !p.starts_with("catalog/services/")) {
            sources.insert(path, text);
        }
        for (file, name) in examples {
            let text = repo.get(&format!("catalog/services/{file}.yaml")).unwrap();
            let text = text
                .replace(file, name)
                .replacen(&format!("name: {name}"), &format!("name: \"{name}\""), 1);
            sources.insert(format!("catalog/services/{name}.yaml"), text);
        }
        let (catalog, mut diags) = crate::catalog::parse(&sources);
        let (blueprints, blueprint_diags) = crate::blueprint::parse(&sources);
        diags.extend(blueprint_diags);
        let (resolved, resolve_diags) =
            crate::resolve::resolve(&catalog, &blueprints, crate::resolve::Provenance::Skip, &|_| false);
        diags.extend(resolve_diags);
        assert!(diags.is_empty(), "{diags:?}");
        let mut rendered = BTreeMap::new();
        for target in &resolved.targets {
            // Keyed by target, kind and name: the order of objects depends on names.
            for object in render_target(&blueprints, &sources, target).unwrap_or_else(|d| panic!("{d:?}")) {
                let key = format!("{} {} {}", target.id(), object.kind(), object.name());
                rendered.insert(key, object.value);
            }
        }
        rendered
    }

    /// Every string (keys too) with `from` replaced by `to`; other values as they are.
    fn renamed(value: &Value, from: &str, to: &str) -> Value {
        match value {
            Value::String(s) => Value::from(s.replace(from, to)),
            Value::Array(items) => Value::Array(items.iter().map(|v| renamed(v, from, to)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.replace(from, to), renamed(v, from, to)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A service named like a YAML number or bool renders exactly as any
    /// other name does: every place the name goes is a string, in every
    /// built-in template (api, worker and cronjob, all components).
    #[test]
    fn names_that_read_as_numbers_or_bools_stay_strings() {
        for file in ["account-service", "notification-worker", "nightly-report"] {
            let plain = render_all(&[(file, "zq")]);
            assert!(!plain.is_empty(), "{file} renders no target");
            for name in ["123", "true", "0755", "null"] {
                let expected: BTreeMap<String, Value> = plain
                    .iter()
                    .map(|(id, v)| (id.replace("zq", name), renamed(v, "zq", name)))
                    .collect();
                assert_eq!(render_all(&[(file, name)]), expected, "{file} named `{name}`");
            }
        }
    }

    #[test]
    fn a_field_of_a_later_list_item_is_found_at_that_item() {
        let source = "spec:\n  containers:\n    - name: app\n      image: {{ image.ref }}\n    - name: proxy\n      image: proxy:2\n  volumes: []\n";
        assert_eq!(find_field_line(source, "spec.containers[0].image"), Pos::new(4, 7));
        assert_eq!(find_field_line(source, "spec.containers[1].image"), Pos::new(6, 7));
        assert_eq!(find_field_line(source, "spec.containers[1].name"), Pos::new(5, 7));
        // An item the template does not write out: the first one's field.
        assert_eq!(find_field_line(source, "spec.containers[2].image"), Pos::new(4, 7));
    }
}
