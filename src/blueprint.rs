//! Archetypes and components: a folder with a KDL declaration and minijinja
//! templates. Both are "blueprints"; a target renders one archetype and the
//! components its profile and service enable.

use std::collections::{BTreeMap, BTreeSet};

use kdl::{KdlDocument, KdlNode, KdlValue};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use rayon::prelude::*;
use serde_json::Value;

use crate::diagnostic::{Diagnostic, Pos};
use crate::load::Sources;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Archetype,
    Component,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Archetype => "archetypes",
            Kind::Component => "components",
        }
    }

    fn decl_file(self) -> &'static str {
        match self {
            Kind::Archetype => "archetype.kdl",
            Kind::Component => "component.kdl",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Kind::Archetype => "archetype",
            Kind::Component => "component",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    String,
    Int,
    Bool,
}

impl ParamType {
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Bool => "bool",
        }
    }

    pub fn accepts(self, value: &Value) -> bool {
        match self {
            ParamType::String => value.is_string(),
            ParamType::Int => value.is_i64(),
            ParamType::Bool => value.is_boolean(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub default: Value,
    /// Bounds of an `int` param (`min=1`), checked where a value sets it.
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pos: Pos,
}

impl Param {
    /// Why `value` is outside the declared bounds, if it is.
    pub fn out_of_bounds(&self, value: &Value) -> Option<String> {
        let n = value.as_i64()?;
        match (self.min, self.max) {
            (Some(min), _) if n < min => Some(format!("is {n}, below the minimum {min}")),
            (_, Some(max)) if n > max => Some(format!("is {n}, above the maximum {max}")),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Blueprint {
    pub kind: Kind,
    pub name: String,
    /// `archetypes/api/archetype.kdl`
    pub decl_file: String,
    pub description: String,
    pub params: Vec<Param>,
    /// Repo-relative template paths, in declaration order.
    pub templates: Vec<String>,
    /// The objects the templates may render: the allow-list a target's
    /// output is checked against.
    pub objects: Vec<Declared>,
    /// Archetypes a component applies to; empty means all.
    pub applies_to: Vec<String>,
    /// Where `applies-to` is written.
    pub applies_to_pos: Pos,
    /// Components every target gets (Namespace, ServiceAccount ...).
    pub always: bool,
    /// Service fields the archetype needs: `port`, `schedule`.
    pub requires: Vec<String>,
    /// Archetype defaults for service fields.
    pub default_port: Option<(i64, Pos)>,
    /// The Deployment a canary or blue-green `Rollout` replaces: declared
    /// with `rollout=#true` on its template (SPEC §4). `None` when the
    /// archetype takes no `rollout` block.
    pub rollout_workload: Option<Declared>,
    /// blake3 of the declaration and templates, for target fingerprints.
    pub hash: blake3::Hash,
}

impl Blueprint {
    pub fn requires(&self, field: &str) -> bool {
        self.requires.iter().any(|r| r == field)
    }
}

/// One object a template may render: its kind and a name pattern such as
/// `{service}-env`. Declared in KDL as `template "x.yaml.j2" kind="Deployment"`
/// (name `{service}`), or with one `object "Kind" name="..."` child per object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    pub template: String,
    pub kind: String,
    pub name: String,
    /// The line of the KDL declaration.
    pub pos: Pos,
}

/// What a name pattern may refer to.
pub const NAME_PLACEHOLDERS: [&str; 4] = ["service", "namespace", "env", "region"];

impl Declared {
    /// The object name for one target.
    pub fn name_for(&self, service: &str, namespace: &str, env: &str, region: &str) -> String {
        self.name
            .replace("{service}", service)
            .replace("{namespace}", namespace)
            .replace("{env}", env)
            .replace("{region}", region)
    }
}

/// Why a name pattern is unusable, if it is.
fn check_name_pattern(pattern: &str) -> Option<String> {
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Some(format!("name `{pattern}` has a `{{` without its `}}`"));
        };
        let word = &rest[open + 1..open + close];
        if !NAME_PLACEHOLDERS.contains(&word) {
            return Some(format!(
                "name `{pattern}` uses `{{{word}}}`; a name may use {}",
                NAME_PLACEHOLDERS.map(|p| format!("`{{{p}}}`")).join(", ")
            ));
        }
        rest = &rest[open + close + 1..];
    }
    rest.contains('}')
        .then(|| format!("name `{pattern}` has a `}}` without its `{{`"))
}

pub struct Blueprints {
    pub archetypes: BTreeMap<String, Blueprint>,
    pub components: BTreeMap<String, Blueprint>,
    /// Names whose declaration or templates have errors.
    pub broken: BTreeSet<(String, String)>,
    pub env: Environment<'static>,
}

impl Blueprints {
    pub fn is_broken(&self, kind: Kind, name: &str) -> bool {
        self.broken.contains(&(kind.dir().to_string(), name.to_string()))
    }

    pub fn names(&self, kind: Kind) -> Vec<&str> {
        let map = match kind {
            Kind::Archetype => &self.archetypes,
            Kind::Component => &self.components,
        };
        map.keys()
            .map(String::as_str)
            .chain(
                self.broken
                    .iter()
                    .filter(|(d, _)| d == kind.dir())
                    .map(|(_, n)| n.as_str()),
            )
            .collect()
    }
}

/// Instructions one template render may run: far more than a built-in
/// template needs for a 100,000-entry env map (about 10 per entry), and
/// about a second of CPU, so a runaway loop fails instead of hanging.
pub const TEMPLATE_FUEL: u64 = 50_000_000;

/// The template environment every render uses: strict about undefined
/// values, and every `{{ value }}` written as one YAML flow scalar (a quoted
/// string, a number, a bool, `null`, or a one-line flow map or list), so no
/// value can add YAML structure. Composite strings are built inside one
/// expression: `{{ service ~ "-env" }}`.
pub fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::Custom("yaml".into()));
    env.set_formatter(format_value);
    // `safe` would let a value through raw; `tojson` may pretty-print over
    // several lines. Neither has a place in a YAML template.
    env.remove_filter("safe");
    env.add_filter(
        "tojson",
        |value: &minijinja::Value| -> Result<minijinja::Value, minijinja::Error> {
            Ok(minijinja::Value::from_safe_string(flow_text(value)?))
        },
    );
    crate::rollout::queries::register(&mut env);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    env.set_debug(true);
    env
}

/// Template output (macros, `{% set %}` blocks, `tojson`) is already YAML and
/// passes as it is; every other value becomes one flow scalar.
fn format_value(
    out: &mut minijinja::Output,
    _state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if value.is_safe()
        && let Some(text) = value.as_str()
    {
        return Ok(out.write_str(text)?);
    }
    Ok(out.write_str(&flow_text(value)?)?)
}

fn flow_text(value: &minijinja::Value) -> Result<String, minijinja::Error> {
    let json = serde_json::to_value(value).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot write this value into YAML: {e}"),
        )
    })?;
    let mut text = String::new();
    crate::emit::yaml::write_flow(&mut text, &json);
    Ok(text)
}

pub fn parse(sources: &Sources) -> (Blueprints, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut blueprints = Blueprints {
        archetypes: BTreeMap::new(),
        components: BTreeMap::new(),
        broken: BTreeSet::new(),
        env: new_environment(),
    };
    let shared_hash = add_shared_templates(sources, &mut blueprints.env, &mut diags);
    let mut folders: Vec<(Kind, &str)> = Vec::new();
    for kind in [Kind::Archetype, Kind::Component] {
        let prefix = match kind {
            Kind::Archetype => "archetypes/",
            Kind::Component => "components/",
        };
        let names: BTreeSet<&str> = sources
            .files_under(prefix)
            .filter_map(|(path, _)| path[prefix.len()..].split_once('/').map(|(folder, _)| folder))
            .collect();
        folders.extend(names.into_iter().map(|name| (kind, name)));
    }
    // Declarations parse on every core (KDL parsing is the slow part);
    // templates join the one environment in order.
    let declared: Vec<(Option<Blueprint>, Vec<Diagnostic>)> = folders
        .par_iter()
        .map(|&(kind, folder)| {
            let mut diags = Vec::new();
            (read_blueprint(sources, kind, folder, &mut diags), diags)
        })
        .collect();
    for ((kind, folder), (blueprint, mut declaration_diags)) in folders.into_iter().zip(declared) {
        let before = diags.len();
        diags.append(&mut declaration_diags);
        let blueprint = blueprint.and_then(|mut b| {
            if loads_other_templates(sources, &b.templates) {
                b.hash = combined_hash(b.hash, shared_hash);
            }
            for template in &b.templates {
                let text = sources.get(template).unwrap_or_default().to_string();
                if let Err(e) = blueprints.env.add_template_owned(template.clone(), text) {
                    diags.push(template_error(&e, template));
                }
            }
            Some(b).filter(|_| diags.len() == before)
        });
        match blueprint {
            Some(b) => {
                let map = match kind {
                    Kind::Archetype => &mut blueprints.archetypes,
                    Kind::Component => &mut blueprints.components,
                };
                map.insert(folder.to_string(), b);
            }
            None => {
                blueprints.broken.insert((kind.dir().to_string(), folder.to_string()));
            }
        }
    }
    check_applies_to(&mut blueprints, &mut diags);
    (blueprints, diags)
}

/// Whether a path is a shared template: a `.j2` file directly in
/// `archetypes/` or `components/`. Not being in a folder, it is neither an
/// archetype nor a component; any template may import it by its path.
fn is_shared_template(path: &str) -> bool {
    [Kind::Archetype, Kind::Component].iter().any(|kind| {
        path.strip_prefix(kind.dir())
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| !name.contains('/') && name.ends_with(".j2"))
    })
}

/// Adds every shared template to the environment (a syntax error is a
/// diagnostic at its line) and returns the hash of them all, paths and text.
fn add_shared_templates(
    sources: &Sources,
    env: &mut Environment<'static>,
    diags: &mut Vec<Diagnostic>,
) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    for kind in [Kind::Archetype, Kind::Component] {
        let prefix = format!("{}/", kind.dir());
        for (path, text) in sources
            .files_under(&prefix)
            .filter(|(path, _)| is_shared_template(path))
        {
            for part in [path, text] {
                hasher.update(&(part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
            if let Err(e) = env.add_template_owned(path.to_string(), text.to_string()) {
                diags.push(template_error(&e, path));
            }
        }
    }
    hasher.finalize()
}

/// Whether any of the templates may load another: minijinja loads one only
/// in an `import`, `from … import`, `include` or `extends` tag. A blueprint
/// whose templates have none of those words depends on no shared template;
/// any other depends on all of them (which ones an expression names is not
/// known before rendering, so none is left out of the fingerprint).
fn loads_other_templates(sources: &Sources, templates: &[String]) -> bool {
    templates.iter().any(|template| {
        let text = sources.get(template).unwrap_or_default();
        ["import", "include", "extends"].iter().any(|word| text.contains(word))
    })
}

fn combined_hash(own: blake3::Hash, shared: blake3::Hash) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(own.as_bytes());
    hasher.update(shared.as_bytes());
    hasher.finalize()
}

/// An `applies-to` naming no archetype is an error at that line, and the
/// component is broken (never silently applied to nothing).
fn check_applies_to(blueprints: &mut Blueprints, diags: &mut Vec<Diagnostic>) {
    let archetypes: Vec<String> = blueprints
        .names(Kind::Archetype)
        .into_iter()
        .map(String::from)
        .collect();
    let mut broken = Vec::new();
    for component in blueprints.components.values() {
        for name in &component.applies_to {
            if !archetypes.contains(name) {
                diags.push(
                    Diagnostic::new(
                        &component.decl_file,
                        component.applies_to_pos,
                        format!("`applies-to` names archetype `{name}`, which is not in `archetypes/`"),
                    )
                    .suggest(name, archetypes.iter().map(String::as_str)),
                );
                broken.push(component.name.clone());
            }
        }
    }
    for name in broken {
        blueprints.components.remove(&name);
        blueprints.broken.insert((Kind::Component.dir().to_string(), name));
    }
}

/// A minijinja error as a diagnostic at the template's file and line.
pub fn template_error(e: &minijinja::Error, fallback_file: &str) -> Diagnostic {
    let file = e.name().unwrap_or(fallback_file).to_string();
    let line = e.line().unwrap_or(1) as u32;
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message}: {detail}");
    }
    Diagnostic::new(file, Pos::new(line, 1), message)
}

/// The line and column of a byte offset.
pub fn offset_to_pos(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    Pos::new(line, col)
}

fn read_blueprint(sources: &Sources, kind: Kind, folder: &str, diags: &mut Vec<Diagnostic>) -> Option<Blueprint> {
    let dir = format!("{}/{folder}", kind.dir());
    let decl_file = format!("{dir}/{}", kind.decl_file());
    let Some(text) = sources.get(&decl_file) else {
        diags.push(Diagnostic::new(
            &dir,
            Pos::START,
            format!("{} folder `{dir}` has no `{}`", kind.noun(), kind.decl_file()),
        ));
        return None;
    };
    let doc = parse_declaration(text, &decl_file, diags)?;
    let before = diags.len();
    let cx = Declaration {
        sources,
        kind,
        folder,
        dir: &dir,
        decl_file: &decl_file,
        text,
    };
    let mut blueprint = Blueprint {
        kind,
        name: folder.to_string(),
        decl_file: decl_file.clone(),
        description: String::new(),
        params: Vec::new(),
        templates: Vec::new(),
        objects: Vec::new(),
        applies_to: Vec::new(),
        applies_to_pos: Pos::START,
        always: false,
        requires: Vec::new(),
        default_port: None,
        rollout_workload: None,
        hash: blake3::hash(b""),
    };
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut unknown = Vec::new();
    for node in doc.nodes() {
        let pos = offset_to_pos(text, node.span().offset());
        if !cx.read_node(&mut blueprint, node, pos, &mut problems) {
            unknown.push(cx.unknown_node(node.name().value(), pos));
        }
    }
    diags.append(&mut problems);
    diags.append(&mut unknown);
    blueprint.hash = declaration_hash(sources, text, &blueprint.templates);
    if blueprint.templates.is_empty() {
        diags.push(Diagnostic::new(
            &decl_file,
            Pos::START,
            format!("{} `{folder}` declares no `template`", kind.noun()),
        ));
    }
    (diags.len() == before).then_some(blueprint)
}

/// A declaration's KDL document; a nesting too deep for the parser or a
/// syntax error is reported instead.
fn parse_declaration(text: &str, decl_file: &str, diags: &mut Vec<Diagnostic>) -> Option<KdlDocument> {
    if let Some(pos) = too_deep(text) {
        diags.push(
            Diagnostic::new(decl_file, pos, format!("blocks nest more than {MAX_KDL_DEPTH} deep"))
                .with_hint("a declaration needs a few levels at most"),
        );
        return None;
    }
    let e: kdl::KdlError = match text.parse() {
        Ok(doc) => return Some(doc),
        Err(e) => e,
    };
    for d in e.diagnostics {
        let message = d.message.or(d.label).unwrap_or_else(|| "invalid KDL".into());
        let mut pos = offset_to_pos(text, d.span.offset());
        // kdl sometimes blames the whole document; find the first bad line.
        if d.span.offset() == 0 && !d.span.is_empty() && text.lines().count() <= FIRST_BAD_LINE_MAX {
            pos = first_bad_line(text).unwrap_or(pos);
        }
        let mut diag = Diagnostic::new(decl_file, pos, message);
        if let Some(help) = d.help {
            diag = diag.with_hint(help);
        }
        diags.push(diag);
    }
    None
}

/// blake3 of a declaration and its templates' paths and texts, for target
/// fingerprints.
fn declaration_hash(sources: &Sources, text: &str, templates: &[String]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(text.as_bytes());
    for template in templates {
        hasher.update(template.as_bytes());
        hasher.update(sources.get(template).unwrap_or_default().as_bytes());
    }
    hasher.finalize()
}

/// The declaration being read: where it is and what it declares.
struct Declaration<'a> {
    sources: &'a Sources,
    kind: Kind,
    folder: &'a str,
    /// `archetypes/api`
    dir: &'a str,
    decl_file: &'a str,
    text: &'a str,
}

impl Declaration<'_> {
    /// Reads one top-level node into `blueprint`, its problems into
    /// `problems`; false for a node this kind of declaration does not take.
    fn read_node(&self, blueprint: &mut Blueprint, node: &KdlNode, pos: Pos, problems: &mut Vec<Diagnostic>) -> bool {
        let mut error = |pos: Pos, message: String| problems.push(Diagnostic::new(self.decl_file, pos, message));
        let args: Vec<&KdlValue> = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .map(|e| e.value())
            .collect();
        let first_string = args.first().and_then(|v| v.as_string());
        match node.name().value() {
            "name" => match first_string {
                Some(name) if name == self.folder => {}
                Some(name) => error(
                    pos,
                    format!("name `{name}` differs from the folder name `{}`", self.folder),
                ),
                None => error(pos, "`name` takes a string".into()),
            },
            "description" => blueprint.description = first_string.unwrap_or_default().to_string(),
            "template" => match first_string {
                Some(file) => self.read_template(blueprint, node, file, pos, &mut error),
                None => error(pos, "`template` takes a file name".into()),
            },
            "applies-to" => {
                blueprint.applies_to = args.iter().filter_map(|v| v.as_string()).map(String::from).collect();
                blueprint.applies_to_pos = pos;
            }
            "always" => blueprint.always = matches!(args.first(), Some(KdlValue::Bool(true)) | None),
            "requires" => {
                for field in args.iter().filter_map(|v| v.as_string()) {
                    if field == "port" || field == "schedule" {
                        blueprint.requires.push(field.to_string());
                    } else {
                        error(pos, format!("`requires` takes `port` or `schedule`, found `{field}`"));
                    }
                }
            }
            "default-port" => match args.first() {
                Some(KdlValue::Integer(p)) if (1..=65_535).contains(p) => {
                    blueprint.default_port = Some((*p as i64, pos))
                }
                _ => error(pos, "`default-port` takes a port number".into()),
            },
            "param" => match read_param(node, pos) {
                Ok(param) => blueprint.params.push(param),
                Err(message) => error(pos, message),
            },
            _ => return false,
        }
        true
    }

    /// A `template` node: the file must exist, and it declares the objects
    /// it renders and perhaps the workload a rollout replaces.
    fn read_template(
        &self,
        blueprint: &mut Blueprint,
        node: &KdlNode,
        file: &str,
        pos: Pos,
        error: &mut impl FnMut(Pos, String),
    ) {
        let path = format!("{}/{file}", self.dir);
        if self.sources.get(&path).is_none() {
            error(pos, format!("template `{path}` does not exist"));
        }
        match read_objects(node, &path, pos, self.text) {
            Ok(objects) => {
                match read_rollout_opt_in(node, self.kind, &objects, blueprint.rollout_workload.is_some()) {
                    Ok(Some(workload)) => blueprint.rollout_workload = Some(workload),
                    Ok(None) => {}
                    Err(message) => error(pos, message),
                }
                blueprint.objects.extend(objects)
            }
            Err((pos, message)) => error(pos, message),
        }
        blueprint.templates.push(path);
    }

    /// A node this kind of declaration does not take, with the nearest one
    /// it does.
    fn unknown_node(&self, other: &str, pos: Pos) -> Diagnostic {
        let mut allowed = vec!["name", "description", "param", "template"];
        match self.kind {
            Kind::Archetype => allowed.extend(["requires", "default-port"]),
            Kind::Component => allowed.extend(["applies-to", "always"]),
        }
        Diagnostic::new(
            self.decl_file,
            pos,
            format!("unknown node `{other}` in a {} declaration", self.kind.noun()),
        )
        .suggest(other, allowed)
    }
}

/// How deep `{ }` blocks may nest in a declaration; the kdl crate recurses
/// per level and overflows the stack at about 2,000.
pub const MAX_KDL_DEPTH: usize = 64;

/// Above this many lines, finding the bad line by reparsing prefixes would
/// take too long; kdl's own position is used.
const FIRST_BAD_LINE_MAX: usize = 2_000;

/// Where `{ }` blocks first nest deeper than [`MAX_KDL_DEPTH`], outside
/// strings and comments.
fn too_deep(text: &str) -> Option<Pos> {
    let bytes = text.as_bytes();
    let (mut i, mut depth, mut comment_depth) = (0, 0usize, 0usize);
    while i < bytes.len() {
        let rest = &bytes[i..];
        if comment_depth > 0 {
            if rest.starts_with(b"*/") {
                comment_depth -= 1;
                i += 2;
            } else if rest.starts_with(b"/*") {
                comment_depth += 1;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match bytes[i] {
            b'/' if rest.starts_with(b"//") => {
                i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            }
            b'/' if rest.starts_with(b"/*") => {
                comment_depth = 1;
                i += 2;
            }
            // A raw string: `#"…"#` (or `r#"…"#`), closed by `"` and as many `#`.
            b'#' | b'r'
                if rest
                    .iter()
                    .skip_while(|&&b| b == b'r')
                    .take_while(|&&b| b == b'#')
                    .count()
                    > 0 =>
            {
                let start = rest.iter().take_while(|&&b| b == b'r').count();
                let hashes = rest[start..].iter().take_while(|&&b| b == b'#').count();
                if rest.get(start + hashes) == Some(&b'"') {
                    let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                    let body = start + hashes + 1;
                    i += rest[body..]
                        .windows(close.len())
                        .position(|w| w == close.as_slice())
                        .map_or(rest.len(), |p| body + p + close.len());
                } else {
                    i += start + hashes;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' => {
                depth += 1;
                if depth > MAX_KDL_DEPTH {
                    return Some(offset_to_pos(text, i));
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The objects a `template` node declares: `kind="Deployment"` and an
/// optional `name=` (default `{service}`), or `object "Kind" name="..."`
/// children, one per object.
fn read_objects(node: &KdlNode, template: &str, pos: Pos, text: &str) -> Result<Vec<Declared>, (Pos, String)> {
    let declared = |kind: &str, name: Option<&KdlValue>, pos: Pos| {
        let name = match name {
            None => "{service}".to_string(),
            Some(KdlValue::String(name)) => name.clone(),
            Some(other) => return Err((pos, format!("`name` takes a string, found `{other}`"))),
        };
        if let Some(problem) = check_name_pattern(&name) {
            return Err((pos, problem));
        }
        if kind.is_empty() {
            return Err((pos, "`kind` takes a Kubernetes kind such as \"Deployment\"".into()));
        }
        Ok(Declared {
            template: template.to_string(),
            kind: kind.to_string(),
            name,
            pos,
        })
    };
    let mut objects = Vec::new();
    if let Some(kind) = node.get("kind") {
        let kind = kind
            .as_string()
            .ok_or((pos, "`kind` takes a string such as \"Deployment\"".to_string()))?;
        objects.push(declared(kind, node.get("name"), pos)?);
    } else if node.get("name").is_some() {
        return Err((pos, "`name=` needs a `kind=` beside it".into()));
    }
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let child_pos = offset_to_pos(text, child.span().offset());
        if child.name().value() != "object" {
            return Err((
                child_pos,
                format!(
                    "unknown node `{}` under `template`; expected `object`",
                    child.name().value()
                ),
            ));
        }
        let kind = child
            .entries()
            .iter()
            .find(|e| e.name().is_none())
            .and_then(|e| e.value().as_string())
            .ok_or((
                child_pos,
                "`object` takes a kind: object \"ConfigMap\" name=\"{service}-env\"".to_string(),
            ))?;
        objects.push(declared(kind, child.get("name"), child_pos)?);
    }
    if objects.is_empty() {
        return Err((
            pos,
            format!(
                "template `{template}` declares no objects; add `kind=\"...\"` (and `name=\"...\"` unless it is `{{service}}`)"
            ),
        ));
    }
    Ok(objects)
}

/// `rollout=#true` on an archetype's template: its one Deployment is the
/// workload a canary or blue-green Rollout replaces.
fn read_rollout_opt_in(
    node: &KdlNode,
    kind: Kind,
    objects: &[Declared],
    already: bool,
) -> Result<Option<Declared>, String> {
    match node.get("rollout") {
        None | Some(KdlValue::Bool(false)) => Ok(None),
        Some(KdlValue::Bool(true)) => {
            let deployments: Vec<&Declared> = objects.iter().filter(|d| d.kind == "Deployment").collect();
            if kind != Kind::Archetype {
                Err("`rollout=#true` is for an archetype's workload template, not a component's".into())
            } else if already {
                Err("only one template may say `rollout=#true`: a rollout replaces one workload".into())
            } else if let [deployment] = deployments[..] {
                Ok(Some(deployment.clone()))
            } else {
                Err("`rollout=#true` needs a template that declares exactly one Deployment".into())
            }
        }
        Some(other) => Err(format!("`rollout` takes #true or #false, found `{other}`")),
    }
}

/// The line that first makes a prefix of whole lines fail to parse.
fn first_bad_line(text: &str) -> Option<Pos> {
    let mut end = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        end += line.len();
        if text[..end].parse::<KdlDocument>().is_err() {
            return Some(Pos::new(i as u32 + 1, 1));
        }
    }
    None
}

fn read_param(node: &KdlNode, pos: Pos) -> Result<Param, String> {
    let name = node
        .entries()
        .iter()
        .find(|e| e.name().is_none())
        .and_then(|e| e.value().as_string())
        .ok_or("`param` takes a name: param \"name\" type=\"string\" default=\"...\"")?;
    let ty = match node.get("type").and_then(|v| v.as_string()) {
        Some("string") => ParamType::String,
        Some("int") => ParamType::Int,
        Some("bool") => ParamType::Bool,
        other => {
            return Err(format!(
                "param `{name}` needs type=\"string\", \"int\" or \"bool\", found {other:?}"
            ));
        }
    };
    let default = match node.get("default") {
        Some(KdlValue::String(s)) => Value::from(s.clone()),
        Some(KdlValue::Integer(i)) => Value::from(*i as i64),
        Some(KdlValue::Bool(b)) => Value::from(*b),
        Some(other) => return Err(format!("param `{name}` has an unsupported default `{other}`")),
        None => return Err(format!("param `{name}` needs a default")),
    };
    if !ty.accepts(&default) {
        return Err(format!(
            "param `{name}` is declared {} but its default is not",
            ty.name()
        ));
    }
    let bound = |key: &str| match node.get(key) {
        None => Ok(None),
        Some(KdlValue::Integer(i)) if ty == ParamType::Int => Ok(Some(*i as i64)),
        Some(_) => Err(format!("param `{name}`: `{key}` takes a whole number, on an int param")),
    };
    let (min, max) = (bound("min")?, bound("max")?);
    let param = Param {
        name: name.to_string(),
        ty,
        default,
        min,
        max,
        pos,
    };
    if let Some(problem) = param.out_of_bounds(&param.default) {
        return Err(format!("param `{name}`: its default {problem}"));
    }
    Ok(param)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bad_line_kdl_does_not_name() {
        let text = "name \"pdb\"\ndescription \"A\"\nparam \"m\" type=\"int\" default=\ntemplate \"pdb.yaml.j2\"\n";
        assert_eq!(first_bad_line(text), Some(Pos::new(3, 1)));
    }

    /// Two components, `uses` importing the shared `components/blocks.j2`
    /// and `plain` importing nothing.
    fn shared_repo(blocks: &str) -> Sources {
        let mut sources = Sources::default();
        for (name, template) in [
            ("uses", "{% import \"components/blocks.j2\" as b %}\n{{ b.x() }}\n"),
            ("plain", "kind: ConfigMap\n"),
        ] {
            sources.insert(
                format!("components/{name}/component.kdl"),
                format!("name \"{name}\"\ntemplate \"t.yaml.j2\" kind=\"ConfigMap\"\n"),
            );
            sources.insert(format!("components/{name}/t.yaml.j2"), template);
        }
        sources.insert("components/blocks.j2", blocks);
        sources
    }

    #[test]
    fn a_shared_template_is_no_blueprint_and_in_the_hash_of_those_that_import_it() {
        let (before, diags) = parse(&shared_repo("{% macro x() %}kind: ConfigMap{% endmacro %}"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(before.names(Kind::Component), ["plain", "uses"]);
        let (after, _) = parse(&shared_repo("{% macro x() %}kind: Secret{% endmacro %}"));
        assert_ne!(before.components["uses"].hash, after.components["uses"].hash);
        assert_eq!(before.components["plain"].hash, after.components["plain"].hash);
    }

    #[test]
    fn a_syntax_error_in_a_shared_template_is_an_error_at_its_line() {
        let (_, diags) = parse(&shared_repo("\n{% macro x() %}"));
        let found: Vec<_> = diags.iter().map(|d| (d.file.as_str(), d.pos.line)).collect();
        assert_eq!(found, [("components/blocks.j2", 2)], "{diags:?}");
    }
}
