//! Editing one value of a service file in place: `promote` and `rollback`
//! change `overrides.<env>.image` by splicing text at the spans the parser
//! reports, so every comment, blank line, key order and line ending of the
//! rest of the file stays byte for byte. Whatever the editor cannot change
//! safely (an alias or anchor, a multi-line scalar, a merge key) is refused
//! with its line, and the file is left alone.

use saphyr_parser::{Event, Parser};

use crate::yaml_tree::{self, NodeKind};

/// An image version: what `promote` and `rollback` move.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pin {
    pub(crate) tag: String,
    pub(crate) digest: Option<String>,
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.digest {
            Some(digest) => write!(f, "{}@{digest}", self.tag),
            None => write!(f, "{}", self.tag),
        }
    }
}

/// Why the file was not edited, with the line that stopped it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) line: u32,
    pub(crate) message: String,
}

fn refuse(line: u32, message: impl Into<String>) -> Refusal {
    Refusal {
        line,
        message: message.into(),
    }
}

/// A node with the byte offsets the edits need.
#[derive(Debug)]
struct Span {
    start: usize,
    line: u32,
    /// Where a flow collection's closing bracket is; 0 for others.
    close: usize,
    close_line: u32,
    anchored: bool,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The parsed value, to check a plain scalar's text against.
    Scalar(String),
    Alias,
    Seq {
        flow: bool,
        items: Vec<Span>,
    },
    Map {
        flow: bool,
        entries: Vec<(String, Span, Span)>,
    },
}

/// Parses `text` into spans. Byte offsets, since the parser counts characters.
/// long: one event loop whose stack of open collections and pending
/// keys is easier to check in one place than spread over helpers.
fn spans(text: &str) -> Result<Span, Refusal> {
    let bytes_at: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let mut stack: Vec<(Span, Option<(String, Span)>)> = Vec::new();
    let mut root = None;
    let mut pending_key: Vec<Option<(String, Span)>> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) =
            event.map_err(|e| refuse(e.marker().line() as u32, format!("invalid YAML: {}", e.info())))?;
        let start = bytes_at[span.start.index().min(bytes_at.len() - 1)];
        let line = span.start.line() as u32;
        let node = match event {
            Event::Scalar(value, _, anchor, _) => Some((
                Span {
                    start,
                    line,
                    close: 0,
                    close_line: 0,
                    anchored: anchor != 0,
                    kind: Kind::Scalar(value.to_string()),
                },
                Some(value.to_string()),
            )),
            Event::Alias(_) => Some((
                Span {
                    start,
                    line,
                    close: 0,
                    close_line: 0,
                    anchored: false,
                    kind: Kind::Alias,
                },
                None,
            )),
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                let flow = matches!(text.as_bytes().get(start), Some(b'{' | b'['));
                let kind = if matches!(event, Event::MappingStart(..)) {
                    Kind::Map {
                        flow,
                        entries: Vec::new(),
                    }
                } else {
                    Kind::Seq {
                        flow,
                        items: Vec::new(),
                    }
                };
                stack.push((
                    Span {
                        start,
                        line,
                        close: 0,
                        close_line: 0,
                        anchored: anchor != 0,
                        kind,
                    },
                    None,
                ));
                pending_key.push(None);
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (mut node, _) = stack.pop().expect("balanced events");
                pending_key.pop();
                node.close = start;
                node.close_line = line;
                Some((node, None))
            }
            _ => None,
        };
        let Some((node, scalar)) = node else { continue };
        let Some((parent, _)) = stack.last_mut() else {
            root.get_or_insert(node);
            continue;
        };
        let key_slot = pending_key.last_mut().expect("one per open collection");
        match &mut parent.kind {
            Kind::Seq { items, .. } => items.push(node),
            Kind::Map { entries, .. } => match key_slot.take() {
                None => *key_slot = Some((scalar.unwrap_or_default(), node)),
                Some((key, key_span)) => entries.push((key, key_span, node)),
            },
            _ => unreachable!("only collections are pushed"),
        }
    }
    root.ok_or_else(|| refuse(1, "the file is empty"))
}

impl Span {
    fn entry(&self, key: &str) -> Option<(&Span, &Span)> {
        match &self.kind {
            Kind::Map { entries, .. } => entries.iter().find(|(k, _, _)| k == key).map(|(_, k, v)| (k, v)),
            _ => None,
        }
    }

    fn entries(&self) -> &[(String, Span, Span)] {
        match &self.kind {
            Kind::Map { entries, .. } => entries,
            _ => &[],
        }
    }

    fn is_flow(&self) -> bool {
        matches!(self.kind, Kind::Map { flow: true, .. } | Kind::Seq { flow: true, .. })
    }

    /// The last line the node's text is on.
    fn last_line(&self) -> u32 {
        match &self.kind {
            _ if self.is_flow() => self.close_line,
            Kind::Map { entries, .. } => entries.last().map_or(self.line, |(_, _, v)| v.last_line()),
            Kind::Seq { items, .. } => items.last().map_or(self.line, Span::last_line),
            _ => self.line,
        }
    }

    /// Refuses an alias, an anchor (its value is used elsewhere too), and a
    /// merge key (values may come from elsewhere).
    fn editable(&self, what: &str) -> Result<(), Refusal> {
        if matches!(self.kind, Kind::Alias) {
            return Err(refuse(
                self.line,
                format!("{what} is an alias (`*name`); edit the anchor it copies by hand"),
            ));
        }
        if self.anchored {
            return Err(refuse(
                self.line,
                format!("{what} carries an anchor (`&name`) other nodes may copy; edit it by hand"),
            ));
        }
        if let Some((key, _)) = self.entry("<<") {
            return Err(refuse(
                key.line,
                format!("{what} merges another map (`<<`); edit it by hand"),
            ));
        }
        Ok(())
    }
}

/// The file's line break: `\r\n` when it uses them, else `\n`.
fn line_break(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// Byte offset where line `line` (1-based) starts.
fn line_start(text: &str, line: u32) -> usize {
    if line <= 1 {
        return 0;
    }
    let mut seen = 1;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen == line {
                return i + 1;
            }
        }
    }
    text.len()
}

/// Byte offset just past line `line`'s break (or the end of the text).
fn line_end(text: &str, line: u32) -> usize {
    let start = line_start(text, line);
    text[start..].find('\n').map_or(text.len(), |i| start + i + 1)
}

/// Where a single-line scalar starting at `start` ends: past its closing
/// quote, or at the end of its plain text. `None` for a block or multi-line
/// scalar, which the editor does not change.
fn scalar_end(text: &str, start: usize, flow: bool) -> Option<usize> {
    let rest = &text[start..];
    let bytes = rest.as_bytes();
    match bytes.first()? {
        b'"' => {
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => return Some(start + i + 1),
                    b'\n' | b'\r' => return None,
                    _ => i += 1,
                }
            }
            None
        }
        b'\'' => {
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                    b'\'' => return Some(start + i + 1),
                    b'\n' | b'\r' => return None,
                    _ => i += 1,
                }
            }
            None
        }
        b'|' | b'>' => None,
        _ => {
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                let stop = match c {
                    '\n' | '\r' => true,
                    '#' => i > 0 && rest[..i].ends_with([' ', '\t']),
                    ',' | '}' | ']' => flow,
                    _ => false,
                };
                if stop {
                    end = i;
                    break;
                }
            }
            let value = rest[..end].trim_end();
            Some(start + value.len())
        }
    }
}

/// Where the single-line scalar `node` ends; `None` when it is not one, or
/// a plain scalar whose line does not hold all of it (it goes on below).
fn scalar_span(text: &str, node: &Span, flow: bool) -> Option<usize> {
    let Kind::Scalar(value) = &node.kind else {
        return None;
    };
    let end = scalar_end(text, node.start, flow)?;
    let quoted = matches!(text.as_bytes()[node.start], b'"' | b'\'');
    (quoted || text[node.start..end] == *value).then_some(end)
}

/// `value` as a YAML scalar that reads back as the same string under YAML
/// 1.1 and 1.2: plain only when it starts with a letter, holds only
/// letters, digits, `_`, `.`, `-` (and `:` outside flow collections) and
/// is no boolean or null word; double-quoted otherwise.
pub(crate) fn scalar(value: &str, flow: bool) -> String {
    let words = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    let plain = value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') || (c == ':' && !flow))
        && !words.contains(&value.to_ascii_lowercase().as_str());
    if plain {
        return value.to_string();
    }
    let mut quoted = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The flow map `{ tag: …, digest: … }` of a pin.
fn flow_pin(pin: &Pin) -> String {
    match &pin.digest {
        Some(digest) => format!(
            "{{ tag: {}, digest: {} }}",
            scalar(&pin.tag, true),
            scalar(digest, true)
        ),
        None => format!("{{ tag: {} }}", scalar(&pin.tag, true)),
    }
}

/// One text change: replace `start..end` with `text`.
struct Splice {
    start: usize,
    end: usize,
    text: String,
}

fn apply(text: &str, mut splices: Vec<Splice>) -> String {
    splices.sort_by_key(|s| std::cmp::Reverse(s.start));
    let mut out = text.to_string();
    for s in splices {
        out.replace_range(s.start..s.end, &s.text);
    }
    out
}

/// The column (in bytes) `offset` is at, and whether only spaces precede it on its line.
fn column(text: &str, offset: usize) -> (usize, bool) {
    let line = text[..offset].rsplit('\n').next().unwrap_or_default();
    (line.len(), line.bytes().all(|b| b == b' '))
}

/// Sets `overrides.<env>.image` of a service file's text to `pin`, or
/// removes that pin when `pin` equals the service's own image (`base`),
/// leaving every other byte as it was. The result is parsed back and
/// checked: an edit that would not read as intended is refused.
pub(crate) fn set_env_image(text: &str, env: &str, pin: &Pin, base: Option<&Pin>) -> Result<String, Refusal> {
    let root = spans(text)?;
    if !matches!(root.kind, Kind::Map { flow: false, .. }) {
        return Err(refuse(root.line, "the service file is not a block map"));
    }
    root.editable("the service file")?;
    let redundant = base == Some(pin);
    let edited = match root.entry("overrides") {
        None if redundant => text.to_string(),
        None => append_overrides(text, env, pin),
        Some((_, overrides)) => {
            overrides.editable("`overrides`")?;
            edit_overrides(text, &root, overrides, env, pin, redundant)?
        }
    };
    check(&edited, env, pin, base)?;
    Ok(edited)
}

/// Adds an `overrides:` block at the end of the file.
fn append_overrides(text: &str, env: &str, pin: &Pin) -> String {
    let nl = line_break(text);
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(nl);
    }
    out.push_str(&format!(
        "overrides:{nl}  {}:{nl}    image: {}{nl}",
        scalar(env, false),
        flow_pin(pin)
    ));
    out
}

fn edit_overrides(
    text: &str,
    root: &Span,
    overrides: &Span,
    env: &str,
    pin: &Pin,
    redundant: bool,
) -> Result<String, Refusal> {
    let Some((env_key, env_map)) = overrides.entry(env) else {
        if redundant {
            return Ok(text.to_string());
        }
        // Indent the new entry's map by the file's own step (the column of
        // the first environment under the top-level `overrides`).
        let step = overrides
            .entries()
            .first()
            .map(|(_, key, _)| column(text, key.start).0)
            .filter(|c| *c > 0)
            .unwrap_or(2);
        let entry = match overrides.is_flow() {
            true => format!("{}: {{ image: {} }}", scalar(env, true), flow_pin(pin)),
            false => format!("{}:\n{}image: {}", scalar(env, false), " ".repeat(step), flow_pin(pin)),
        };
        return insert_entry(text, overrides, &entry);
    };
    env_map.editable(&format!("`overrides.{env}`"))?;
    if !matches!(env_map.kind, Kind::Map { .. }) {
        return Err(refuse(env_map.line, format!("`overrides.{env}` is not a map")));
    }
    let Some((image_key, image)) = env_map.entry("image") else {
        if redundant {
            return Ok(text.to_string());
        }
        return insert_entry(text, env_map, &format!("image: {}", flow_pin(pin)));
    };
    image.editable(&format!("`overrides.{env}.image`"))?;
    if !matches!(image.kind, Kind::Map { .. }) {
        return Err(refuse(image.line, format!("`overrides.{env}.image` is not a map")));
    }
    let keeps_others = image.entries().iter().any(|(k, _, _)| k != "tag" && k != "digest");
    if redundant && !keeps_others {
        // The pin says what the service says already: remove it, and the
        // maps it leaves empty.
        if env_map.entries().len() > 1 {
            return remove_entry(text, env_map, image_key, image);
        }
        if overrides.entries().len() > 1 {
            return remove_entry(text, overrides, env_key, env_map);
        }
        let (overrides_key, overrides) = root.entry("overrides").expect("found above");
        return remove_entry(text, root, overrides_key, overrides);
    }
    set_pin(text, image, pin)
}

/// Replaces the tag and digest of an image map: the tag in place, the
/// digest replaced, removed, or added after the tag (in a flow or a block
/// map).
fn set_pin(text: &str, image: &Span, pin: &Pin) -> Result<String, Refusal> {
    let flow = image.is_flow();
    // Keep the quoting style the file used, where it can hold the value.
    let quote_like = |old: &Span, new: &str| -> String {
        let fitting = scalar(new, flow);
        match text.as_bytes()[old.start] {
            b'"' if !fitting.starts_with('"') => format!("\"{new}\""),
            b'\'' if !new.chars().any(char::is_control) => format!("'{}'", new.replace('\'', "''")),
            _ => fitting,
        }
    };
    // A scalar value replaced by `new`.
    let replace = |value: &Span, what: &str, new: &str| -> Result<Splice, Refusal> {
        value.editable(what)?;
        if !matches!(value.kind, Kind::Scalar(_)) {
            return Err(refuse(value.line, format!("{what} is not a scalar")));
        }
        let end = scalar_span(text, value, flow)
            .ok_or_else(|| refuse(value.line, format!("{what} spans several lines; write it on one")))?;
        Ok(Splice {
            start: value.start,
            end,
            text: quote_like(value, new),
        })
    };
    let Some((tag_key, tag_value)) = image.entry("tag") else {
        return Err(refuse(image.line, "the image override has no `tag`; add one by hand"));
    };
    let tag = replace(tag_value, "the tag", &pin.tag)?;
    let digest = match (image.entry("digest"), &pin.digest) {
        (Some((_, value)), Some(new)) => replace(value, "the digest", new)?,
        (Some((key, value)), None) => {
            let removed = remove_entry(text, image, key, value)?;
            // Apply the tag change on top of the removal, which lies elsewhere.
            let shift = if key.start < tag_value.start {
                text.len() - removed.len()
            } else {
                0
            };
            let tag = Splice {
                start: tag.start - shift,
                end: tag.end - shift,
                text: tag.text,
            };
            return Ok(apply(&removed, vec![tag]));
        }
        (None, Some(new)) if flow => Splice {
            start: tag.end,
            end: tag.end,
            text: format!(", digest: {}", scalar(new, true)),
        },
        (None, Some(new)) => {
            let (col, _) = column(text, tag_key.start);
            let at = line_end(text, tag_value.line);
            let nl = if at == text.len() && !text.ends_with('\n') {
                line_break(text).to_string()
            } else {
                String::new()
            };
            Splice {
                start: at,
                end: at,
                text: format!(
                    "{nl}{}digest: {}{}",
                    " ".repeat(col),
                    scalar(new, false),
                    line_break(text)
                ),
            }
        }
        (None, None) => return Ok(apply(text, vec![tag])),
    };
    Ok(apply(text, vec![tag, digest]))
}

/// Inserts `entry` (`key: value`, lines joined by `\n`) as the first entry of `map`.
fn insert_entry(text: &str, map: &Span, entry: &str) -> Result<String, Refusal> {
    if map.is_flow() {
        let entry = entry.replace('\n', " ");
        let (at, text_in) = match map.entries().first() {
            // Before the first key, so the spacing after `{` stays as written.
            Some((_, first_key, _)) => (first_key.start, format!("{entry}, ")),
            None => (map.start + 1, entry),
        };
        return Ok(apply(
            text,
            vec![Splice {
                start: at,
                end: at,
                text: text_in,
            }],
        ));
    }
    let Some((_, first_key, _)) = map.entries().first() else {
        return Err(refuse(map.line, "an empty block map; write the entry by hand"));
    };
    let (col, alone) = column(text, first_key.start);
    if !alone {
        return Err(refuse(
            first_key.line,
            "the map does not start on a line of its own; edit it by hand",
        ));
    }
    let nl = line_break(text);
    let indent = " ".repeat(col);
    let lines: Vec<String> = entry.split('\n').map(|l| format!("{indent}{l}{nl}")).collect();
    let at = line_start(text, first_key.line);
    Ok(apply(
        text,
        vec![Splice {
            start: at,
            end: at,
            text: lines.concat(),
        }],
    ))
}

/// Removes the entry `key: value` from `map`: its whole lines in a block
/// map, the entry and one separator in a flow map.
fn remove_entry(text: &str, map: &Span, key: &Span, value: &Span) -> Result<String, Refusal> {
    let entries = map.entries();
    let index = entries
        .iter()
        .position(|(_, k, _)| k.start == key.start)
        .expect("the entry is in its map");
    if map.is_flow() {
        let value_end = match value.kind {
            Kind::Scalar(_) => scalar_span(text, value, true)
                .ok_or_else(|| refuse(value.line, "a multi-line value; edit it by hand"))?,
            _ if value.is_flow() => value.close + 1,
            _ => return Err(refuse(value.line, "a block value inside a flow map; edit it by hand")),
        };
        let (start, end) = match (index.checked_sub(1).map(|i| &entries[i]), entries.get(index + 1)) {
            // `{ a: 1, b: 2 }` without b: from the end of a's value.
            (Some((_, _, prev)), _) => {
                let prev_end = match prev.kind {
                    Kind::Scalar(_) => scalar_span(text, prev, true)
                        .ok_or_else(|| refuse(prev.line, "a multi-line value; edit it by hand"))?,
                    _ => prev.close + 1,
                };
                (prev_end, value_end)
            }
            (None, Some((_, next, _))) => (key.start, next.start),
            (None, None) => (key.start, value_end),
        };
        return Ok(apply(
            text,
            vec![Splice {
                start,
                end,
                text: String::new(),
            }],
        ));
    }
    let (_, alone) = column(text, key.start);
    if !alone {
        return Err(refuse(
            key.line,
            "the entry does not start on a line of its own; edit it by hand",
        ));
    }
    let start = line_start(text, key.line);
    let end = line_end(text, value.last_line());
    Ok(apply(
        text,
        vec![Splice {
            start,
            end,
            text: String::new(),
        }],
    ))
}

/// Reads back what `text` declares for `env`, the way the catalog resolves a
/// service file's image, and refuses when it is not `pin`.
fn check(text: &str, env: &str, pin: &Pin, base: Option<&Pin>) -> Result<(), Refusal> {
    let declared =
        declared_images(text).map_err(|line| refuse(line, "the edit would not parse; the file is left alone"))?;
    let got = declared.for_env(env);
    if got.as_ref() != Some(pin) && !(base == Some(pin) && got.is_none()) {
        return Err(refuse(
            1,
            "the file's layout is too unusual to edit safely; the file is left alone",
        ));
    }
    Ok(())
}

/// The images a service file declares: its own, and each override's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Declared {
    pub(crate) image: Option<Pin>,
    /// `overrides.<env>.image`: the tag, and the digest set beside it.
    pub(crate) overrides: Vec<(String, Option<String>, Option<String>)>,
}

impl Declared {
    /// The image `env` resolves to from this file: the override's tag with
    /// its own digest (a tag without one drops the inherited digest), else
    /// the service's image, with the override's digest when only that is set.
    pub(crate) fn for_env(&self, env: &str) -> Option<Pin> {
        let base = self.image.clone();
        match self.overrides.iter().find(|(e, _, _)| e == env) {
            Some((_, Some(tag), digest)) => Some(Pin {
                tag: tag.clone(),
                digest: digest.clone(),
            }),
            Some((_, None, Some(digest))) => base.map(|b| Pin {
                tag: b.tag,
                digest: Some(digest.clone()),
            }),
            _ => base,
        }
    }
}

/// Reads the images of a service file's text; `Err(line)` when it is not YAML.
pub(crate) fn declared_images(text: &str) -> Result<Declared, u32> {
    let root = yaml_tree::parse("", text).map_err(|d| d.pos.line)?;
    let mut declared = Declared::default();
    let get = |node: &yaml_tree::Node, key: &str| -> Option<yaml_tree::Node> {
        match &node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    };
    let text_of = |node: Option<yaml_tree::Node>| node.and_then(|n| n.scalar().map(str::to_string));
    if let Some(image) = get(&root, "image") {
        let tag = text_of(get(&image, "tag"));
        let digest = text_of(get(&image, "digest"));
        declared.image = tag.map(|tag| Pin { tag, digest });
    }
    if let Some(NodeKind::Map(entries)) = get(&root, "overrides").map(|n| n.kind) {
        for (env, layer) in entries {
            let Some(image) = get(&layer, "image") else { continue };
            let env = env.scalar().unwrap_or_default().to_string();
            declared
                .overrides
                .push((env, text_of(get(&image, "tag")), text_of(get(&image, "digest"))));
        }
    }
    Ok(declared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pin(tag: &str, digest: Option<&str>) -> Pin {
        Pin {
            tag: tag.into(),
            digest: digest.map(str::to_string),
        }
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn scalars_read_back_as_the_same_string() {
        assert_eq!(scalar("v1.2", false), "v1.2");
        for quoted in ["1.10", "1e3", "0755", "on", "No", "1.4.2", "", "a b", "a\"b"] {
            assert!(scalar(quoted, false).starts_with('"'), "{quoted}");
        }
        assert_eq!(scalar(D1, false), D1);
        assert_eq!(scalar(D1, true), format!("\"{D1}\""));
    }

    #[test]
    fn replaces_a_tag_in_place() {
        let text = "name: s # the name\nimage: { repository: r, tag: \"1.0\" }\n\noverrides:\n  prod:\n    image: { tag: '0.9' }   # pinned\n    size: large\n";
        let out = set_env_image(text, "prod", &pin("1.0.1", None), Some(&pin("1.0", None))).unwrap();
        assert_eq!(out, text.replace("'0.9'", "'1.0.1'"));
    }

    #[test]
    fn removes_a_redundant_pin_and_the_maps_it_empties() {
        let text = "name: s\nimage: { repository: r, tag: \"1.0\" }\noverrides:\n  prod:\n    image:\n      tag: \"0.9\"\n# end\n";
        let out = set_env_image(text, "prod", &pin("1.0", None), Some(&pin("1.0", None))).unwrap();
        assert_eq!(out, "name: s\nimage: { repository: r, tag: \"1.0\" }\n# end\n");
    }

    #[test]
    fn adds_a_pin_where_there_is_none() {
        let text = "name: s\r\nimage: { repository: r, tag: \"1.0\" }\r\n";
        let out = set_env_image(text, "prod", &pin("0.9", Some(D1)), Some(&pin("1.0", None))).unwrap();
        assert_eq!(
            out,
            format!("{text}overrides:\r\n  prod:\r\n    image: {{ tag: \"0.9\", digest: \"{D1}\" }}\r\n")
        );
        let text = "name: s\nimage: { repository: r, tag: \"1.0\" }\noverrides:\n  dev: { size: small }\n";
        let out = set_env_image(text, "dev", &pin("0.9", None), Some(&pin("1.0", None))).unwrap();
        assert_eq!(out, text.replace("{ size", "{ image: { tag: \"0.9\" }, size"));
    }

    #[test]
    fn a_new_environment_entry_follows_the_file_indentation() {
        let text = "image: { repository: r, tag: \"1.0\" }\noverrides:\n    dev:\n        size: small\n";
        let out = set_env_image(text, "prod", &pin("0.9", None), Some(&pin("1.0", None))).unwrap();
        assert_eq!(
            out,
            "image: { repository: r, tag: \"1.0\" }\noverrides:\n    prod:\n        image: { tag: \"0.9\" }\n    dev:\n        size: small\n"
        );
    }

    #[test]
    fn digests_move_with_tags() {
        let text = format!(
            "image:\n  repository: r\n  tag: \"1.0\"\noverrides:\n  prod:\n    image:\n      tag: \"0.9\"\n      digest: {D1}\n"
        );
        let out = set_env_image(&text, "prod", &pin("0.8", None), Some(&pin("1.0", None))).unwrap();
        assert_eq!(
            out,
            "image:\n  repository: r\n  tag: \"1.0\"\noverrides:\n  prod:\n    image:\n      tag: \"0.8\"\n"
        );
        let back = set_env_image(&out, "prod", &pin("0.9", Some(D1)), Some(&pin("1.0", None))).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn anchors_and_aliases_are_refused_with_their_line() {
        let text = "image: &img { repository: r, tag: \"1.0\" }\noverrides:\n  prod:\n    image: *img\n";
        let refusal = set_env_image(text, "prod", &pin("2", None), None).unwrap_err();
        assert_eq!(refusal.line, 4);
        let text = "image: { repository: r, tag: \"1.0\" }\noverrides:\n  prod:\n    image: &p { tag: \"0.9\" }\n";
        assert_eq!(set_env_image(text, "prod", &pin("2", None), None).unwrap_err().line, 4);
    }

    /// Pieces of a service file around `overrides.prod.image`: every byte
    /// but the tag's and digest's must come out as it went in.
    #[derive(Debug, Clone)]
    struct Layout {
        crlf: bool,
        indent: usize,
        comments: Vec<String>,
        blank_lines: usize,
        flow: bool,
        quote: u8,
        with_digest: bool,
        anchor_elsewhere: bool,
        block_scalar: bool,
    }

    fn layout() -> impl Strategy<Value = Layout> {
        (
            any::<bool>(),
            2usize..5,
            proptest::collection::vec("[ -~&&[^\\r\\n]]{0,20}", 0..3),
            0usize..3,
            any::<bool>(),
            prop_oneof![Just(b'"'), Just(b'\''), Just(b' ')],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(crlf, indent, comments, blank_lines, flow, quote, with_digest, anchor_elsewhere, block_scalar)| {
                    Layout {
                        crlf,
                        indent,
                        comments,
                        blank_lines,
                        flow,
                        quote,
                        with_digest,
                        anchor_elsewhere,
                        block_scalar,
                    }
                },
            )
    }

    /// The file with `tag` and `digest` written in the layout's style; in
    /// the plain style, `quoted` forces double quotes (the editor keeps a
    /// quoted value quoted).
    fn render(l: &Layout, tag: &str, digest: &str, quoted: bool) -> String {
        let i = " ".repeat(l.indent);
        let q = |v: &str| match l.quote {
            b' ' => scalar(v, l.flow),
            b'\'' => format!("'{v}'"),
            _ => format!("\"{v}\""),
        };
        let q_tag = |v: &str| match l.quote {
            b' ' if quoted => format!("\"{v}\""),
            _ => q(v),
        };
        let mut lines = vec!["# a service".to_string()];
        for c in &l.comments {
            lines.push(format!("#{c}"));
        }
        lines.push("name: s".into());
        lines.extend(std::iter::repeat_n(String::new(), l.blank_lines));
        if l.anchor_elsewhere {
            lines.push("env: &e { A: \"1\" }   # anchored, not edited".into());
        }
        if l.block_scalar {
            lines.push(format!("params:\n{i}note: |\n{i}{i}tag: \"9\"\n{i}{i}  kept"));
        }
        lines.push("image: { repository: r, tag: \"5\" }  # top".to_string());
        lines.push("overrides:".into());
        lines.push(format!("{i}prod:  # prod"));
        let d = if l.with_digest {
            format!(", digest: {}", q(digest))
        } else {
            String::new()
        };
        if l.flow {
            lines.push(format!("{i}{i}image: {{tag: {}{d}}}   # pin", q_tag(tag)));
        } else {
            lines.push(format!("{i}{i}image:"));
            lines.push(format!("{i}{i}{i}tag: {}  # pin", q_tag(tag)));
            if l.with_digest {
                lines.push(format!("{i}{i}{i}digest: {}", q(digest)));
            }
        }
        lines.push(format!("{i}{i}replicas: 2"));
        lines.push(String::new());
        lines.push("owners: { team: t }".into());
        let nl = if l.crlf { "\r\n" } else { "\n" };
        lines.join("\n").replace('\n', nl) + nl
    }

    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(128),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Promote changes only the bytes of the values it sets.
        #[test]
        fn only_the_pinned_values_change(l in layout(), old in "[a-z][a-z0-9.]{0,6}|[0-9]\\.[0-9]{1,2}", new in "[a-z][a-z0-9.]{0,6}|[0-9]\\.[0-9]{1,2}|1e3|0755|on") {
            let before = render(&l, &old, D1, false);
            let pin = Pin { tag: new.clone(), digest: l.with_digest.then(|| D2.to_string()) };
            let after = set_env_image(&before, "prod", &pin, Some(&Pin { tag: "5".into(), digest: None }));
            let quoted = scalar(&old, l.flow).starts_with('"');
            prop_assert_eq!(after.unwrap(), render(&l, &new, D2, quoted));
        }
    }
}
