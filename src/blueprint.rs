//! Archetypes and components: a folder with a KDL declaration and minijinja
//! templates. Both are "blueprints"; a target renders one archetype and the
//! components its profile and service enable.

use std::collections::{BTreeMap, BTreeSet};

use kdl::{KdlDocument, KdlNode, KdlValue};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
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
    /// Archetypes a component applies to; empty means all.
    pub applies_to: Vec<String>,
    /// Components every target gets (Namespace, ServiceAccount ...).
    pub always: bool,
    /// Service fields the archetype needs: `port`, `schedule`.
    pub requires: Vec<String>,
    /// Archetype defaults for service fields.
    pub default_port: Option<(i64, Pos)>,
    /// blake3 of the declaration and templates, for target fingerprints.
    pub hash: blake3::Hash,
}

impl Blueprint {
    pub fn requires(&self, field: &str) -> bool {
        self.requires.iter().any(|r| r == field)
    }
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

/// The template environment every render uses: strict about undefined
/// values, no auto-escaping (the output is YAML, not HTML).
pub fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
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

pub fn parse(sources: &Sources) -> (Blueprints, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut blueprints = Blueprints {
        archetypes: BTreeMap::new(),
        components: BTreeMap::new(),
        broken: BTreeSet::new(),
        env: new_environment(),
    };
    for kind in [Kind::Archetype, Kind::Component] {
        let prefix = format!("{}/", kind.dir());
        let folders: BTreeSet<&str> = sources
            .files_under(&prefix)
            .filter_map(|(path, _)| path[prefix.len()..].split_once('/').map(|(folder, _)| folder))
            .collect();
        for folder in folders {
            let before = diags.len();
            let blueprint = read_blueprint(sources, kind, folder, &mut diags);
            let blueprint = blueprint.and_then(|b| {
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
    }
    (blueprints, diags)
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
    let doc: KdlDocument = match text.parse() {
        Ok(doc) => doc,
        Err(e) => {
            let e: kdl::KdlError = e;
            for d in e.diagnostics {
                let message = d.message.or(d.label).unwrap_or_else(|| "invalid KDL".into());
                let mut pos = offset_to_pos(text, d.span.offset());
                // kdl sometimes blames the whole document; find the first bad line.
                if d.span.offset() == 0 && !d.span.is_empty() {
                    pos = first_bad_line(text).unwrap_or(pos);
                }
                let mut diag = Diagnostic::new(&decl_file, pos, message);
                if let Some(help) = d.help {
                    diag = diag.with_hint(help);
                }
                diags.push(diag);
            }
            return None;
        }
    };
    let before = diags.len();
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut error = |node_pos: Pos, message: String| problems.push(Diagnostic::new(&decl_file, node_pos, message));
    let mut blueprint = Blueprint {
        kind,
        name: folder.to_string(),
        decl_file: decl_file.clone(),
        description: String::new(),
        params: Vec::new(),
        templates: Vec::new(),
        applies_to: Vec::new(),
        always: false,
        requires: Vec::new(),
        default_port: None,
        hash: blake3::hash(b""),
    };
    let mut allowed = vec!["name", "description", "param", "template"];
    match kind {
        Kind::Archetype => allowed.extend(["requires", "default-port"]),
        Kind::Component => allowed.extend(["applies-to", "always"]),
    }
    let mut unknown = Vec::new();
    for node in doc.nodes() {
        let pos = offset_to_pos(text, node.span().offset());
        let key = node.name().value();
        let args: Vec<&KdlValue> = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .map(|e| e.value())
            .collect();
        let first_string = args.first().and_then(|v| v.as_string());
        match key {
            "name" => match first_string {
                Some(name) if name == folder => {}
                Some(name) => error(pos, format!("name `{name}` differs from the folder name `{folder}`")),
                None => error(pos, "`name` takes a string".into()),
            },
            "description" => blueprint.description = first_string.unwrap_or_default().to_string(),
            "template" => match first_string {
                Some(file) => {
                    let path = format!("{dir}/{file}");
                    if sources.get(&path).is_none() {
                        error(pos, format!("template `{path}` does not exist"));
                    }
                    blueprint.templates.push(path);
                }
                None => error(pos, "`template` takes a file name".into()),
            },
            "applies-to" => {
                blueprint.applies_to = args.iter().filter_map(|v| v.as_string()).map(String::from).collect()
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
            other => {
                let d = Diagnostic::new(
                    &decl_file,
                    pos,
                    format!("unknown node `{other}` in a {} declaration", kind.noun()),
                )
                .suggest(other, allowed.iter().copied());
                unknown.push(d);
            }
        }
    }
    diags.append(&mut problems);
    diags.append(&mut unknown);
    let mut hasher = blake3::Hasher::new();
    hasher.update(text.as_bytes());
    for template in &blueprint.templates {
        hasher.update(template.as_bytes());
        hasher.update(sources.get(template).unwrap_or_default().as_bytes());
    }
    blueprint.hash = hasher.finalize();
    if blueprint.templates.is_empty() {
        diags.push(Diagnostic::new(
            &decl_file,
            Pos::START,
            format!("{} `{folder}` declares no `template`", kind.noun()),
        ));
    }
    (diags.len() == before).then_some(blueprint)
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
}
