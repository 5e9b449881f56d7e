//! A YAML document as a tree that remembers where every node came from.
//!
//! The catalog needs line and column for every value (a misspelled profile is
//! reported where it is written) and the exact text of every scalar (`1.10`
//! stays `1.10` in an env map), which serde-based readers throw away.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::diagnostic::{Diagnostic, Pos};

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// `plain` is false for quoted and block scalars, which are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar's text, whatever its style.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for an empty value, `~` or `null` written without quotes.
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub(crate) fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { plain: true, text } if self.is_null() || text.is_empty() => "nothing",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }
}

/// Parses the first document of `source`. An empty file is an empty map.
pub fn parse(file: &str, source: &str) -> Result<Node, Diagnostic> {
    let documents = parse_documents(file, source, true)?;
    Ok(documents.into_iter().next().unwrap_or(Node {
        pos: Pos::START,
        kind: NodeKind::Map(Vec::new()),
    }))
}

/// Parses every document of a stream (`---`-separated); empty ones are left out.
pub fn parse_stream(file: &str, source: &str) -> Result<Vec<Node>, Diagnostic> {
    parse_documents(file, source, false)
}

fn parse_documents(file: &str, source: &str, first_only: bool) -> Result<Vec<Node>, Diagnostic> {
    let mut builder = Builder::default();
    let mut documents = Vec::new();
    // Counted once, when first needed: once per end event made big files quadratic.
    let last = std::cell::OnceCell::new();
    for event in Parser::new_from_str(source) {
        let (event, span) = event.map_err(|e| syntax_error(file, source, &e))?;
        let pos = Pos::new(span.start.line() as u32, span.start.col() as u32 + 1);
        let pos = if matches!(event, Event::SequenceEnd | Event::MappingEnd | Event::StreamEnd) {
            clamp(pos, *last.get_or_init(|| last_position(source)))
        } else {
            pos
        };
        let end_of_document = matches!(event, Event::DocumentEnd | Event::StreamEnd);
        builder
            .push(event, pos)
            .map_err(|(message, hint)| with_hint(Diagnostic::new(file, pos, message), hint))?;
        if end_of_document && let Some(root) = builder.root.take().filter(|root| !root.is_null()) {
            documents.push(root);
            if first_only {
                break;
            }
        }
    }
    Ok(documents)
}

fn with_hint(d: Diagnostic, hint: Option<&str>) -> Diagnostic {
    match hint {
        Some(hint) => d.with_hint(hint),
        None => d,
    }
}

/// The parser's error, at the character that caused it. The scanner reports
/// a tab at the start of the token before it (often the line above), so a
/// tab is looked up from there.
fn syntax_error(file: &str, source: &str, e: &saphyr_parser::ScanError) -> Diagnostic {
    let mut pos = within(source, Pos::new(e.marker().line() as u32, e.marker().col() as u32 + 1));
    let mut hint = None;
    // A word: "unprintable" contains "tab" too.
    if e.info()
        .split(|c: char| !c.is_alphabetic())
        .any(|w| w == "tab" || w == "tabs")
    {
        hint = Some("YAML indents with spaces, not tabs");
        if let Some(tab) = tab_from(source, pos) {
            pos = tab;
        }
    }
    with_hint(Diagnostic::new(file, pos, format!("invalid YAML: {}", e.info())), hint)
}

/// `pos`, or the end of the text when `pos` lies past it: at the end of a
/// file without a final newline the parser reports the line after the last.
fn within(source: &str, pos: Pos) -> Pos {
    clamp(pos, last_position(source))
}

fn clamp(pos: Pos, last: Pos) -> Pos {
    if pos.line <= last.line { pos } else { last }
}

/// The line count, and the column just past the end of the last line, with
/// line breaks as YAML counts them: `\r\n`, `\r` or `\n`.
fn last_position(source: &str) -> Pos {
    let (mut lines, mut last_start) = (1u32, 0);
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                i += 1;
                lines += 1;
                last_start = i + 1;
            }
            b'\r' | b'\n' => {
                lines += 1;
                last_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    Pos::new(lines, source[last_start..].chars().count() as u32 + 1)
}

/// The first tab at or after `from`.
fn tab_from(source: &str, from: Pos) -> Option<Pos> {
    for (i, line) in source.lines().enumerate().skip(from.line.saturating_sub(1) as usize) {
        let line_no = i as u32 + 1;
        let skip = if line_no == from.line {
            from.col.saturating_sub(2) as usize
        } else {
            0
        };
        if let Some(col) = line.chars().skip(skip).position(|c| c == '\t') {
            return Some(Pos::new(line_no, (skip + col) as u32 + 1));
        }
    }
    None
}

/// Deepest nesting of collections. Catalog files nest about 5 deep and
/// Kubernetes objects about 12; later stages walk trees recursively, so a
/// bound here keeps every one of them off the end of the stack.
pub const MAX_DEPTH: usize = 64;
/// Most nodes one parse may produce, counting every alias as the nodes it
/// copies: 1,000,000 nodes are about 100 MB, and 100,000 env variables fit.
/// Without it an alias bomb of 1 KB expands to billions of nodes.
pub const MAX_NODES: usize = 1_000_000;

/// An open collection.
struct Frame {
    node: Node,
    anchor: usize,
    /// A map's key, until its value arrives.
    pending_key: Option<Node>,
    /// `Builder::nodes` when the collection opened.
    first_node: usize,
    /// Nesting of the deepest child so far.
    child_depth: usize,
    /// A large map's keys with their lines, so duplicates are found in
    /// constant time (small maps are scanned).
    keys: Option<HashMap<String, u32>>,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Each anchored node with its node count and nesting depth.
    anchors: HashMap<usize, (Node, usize, usize)>,
    root: Option<Node>,
    /// Nodes produced so far, aliases counted in full.
    nodes: usize,
}

type BuildError = (String, Option<&'static str>);

impl Builder {
    fn count(&mut self, nodes: usize) -> Result<(), BuildError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err((
                format!("the YAML expands to more than {MAX_NODES} values"),
                Some("an alias (`*name`) copies its anchor's whole value; do not nest aliases of aliases"),
            ));
        }
        Ok(())
    }

    fn open(&mut self, node: Node, anchor: usize) -> Result<(), BuildError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err((format!("the YAML is nested more than {MAX_DEPTH} levels deep"), None));
        }
        self.count(1)?;
        self.stack.push(Frame {
            node,
            anchor,
            pending_key: None,
            first_node: self.nodes - 1,
            child_depth: 0,
            keys: None,
        });
        Ok(())
    }

    fn push(&mut self, event: Event<'_>, pos: Pos) -> Result<(), BuildError> {
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                self.count(1)?;
                let plain = matches!(style, ScalarStyle::Plain);
                let node = Node {
                    pos,
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                };
                self.finish(node, anchor, 1, 0)?;
            }
            Event::SequenceStart(anchor, _) => self.open(
                Node {
                    pos,
                    kind: NodeKind::Seq(Vec::new()),
                },
                anchor,
            )?,
            Event::MappingStart(anchor, _) => self.open(
                Node {
                    pos,
                    kind: NodeKind::Map(Vec::new()),
                },
                anchor,
            )?,
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self
                    .stack
                    .pop()
                    .ok_or(("unbalanced YAML collection".to_string(), None))?;
                let size = self.nodes - frame.first_node;
                self.finish(frame.node, frame.anchor, size, frame.child_depth + 1)?;
            }
            Event::Alias(id) => {
                let (size, depth) = self
                    .anchors
                    .get(&id)
                    .map(|(_, size, depth)| (*size, *depth))
                    .ok_or(("alias refers to an unknown anchor".to_string(), None))?;
                if self.stack.len() + depth > MAX_DEPTH {
                    return Err((format!("the YAML is nested more than {MAX_DEPTH} levels deep"), None));
                }
                // Counted before the copy is made.
                self.count(size)?;
                let mut node = self.anchors[&id].0.clone();
                node.pos = pos;
                self.finish(node, 0, size, depth)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// Places a complete node of `size` nodes and `depth` levels.
    fn finish(&mut self, node: Node, anchor: usize, size: usize, depth: usize) -> Result<(), BuildError> {
        if anchor != 0 {
            // The copy kept for aliases costs memory too.
            self.count(size)?;
            self.anchors.insert(anchor, (node.clone(), size, depth));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        frame.child_depth = frame.child_depth.max(depth);
        match &mut frame.node.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => match frame.pending_key.take() {
                None => {
                    let Some(key) = node.scalar() else {
                        return Err(("map keys must be plain strings".into(), None));
                    };
                    let first = match &mut frame.keys {
                        Some(keys) => keys.get(key).copied(),
                        None => entries
                            .iter()
                            .find(|(k, _)| k.scalar() == Some(key))
                            .map(|(k, _)| k.pos.line),
                    };
                    if let Some(line) = first {
                        return Err((format!("duplicate key `{key}` (first set on line {line})"), None));
                    }
                    if let Some(keys) = &mut frame.keys {
                        keys.insert(key.to_string(), node.pos.line);
                    } else if entries.len() >= 16 {
                        let mut keys: HashMap<String, u32> = entries
                            .iter()
                            .map(|(k, _)| (k.scalar().unwrap_or_default().to_string(), k.pos.line))
                            .collect();
                        keys.insert(key.to_string(), node.pos.line);
                        frame.keys = Some(keys);
                    }
                    frame.pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
            NodeKind::Scalar { .. } => return Err(("a scalar cannot hold values".into(), None)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_exact_text() {
        let node = parse("f.yaml", "a: 1.10\nb:\n  - 'x'\n").unwrap();
        let NodeKind::Map(entries) = &node.kind else { panic!() };
        assert_eq!(entries[0].1.scalar(), Some("1.10"));
        assert_eq!(entries[0].1.pos, Pos::new(1, 4));
        let NodeKind::Seq(items) = &entries[1].1.kind else {
            panic!()
        };
        assert_eq!(items[0].pos, Pos::new(3, 5));
        assert_eq!(
            items[0].kind,
            NodeKind::Scalar {
                text: "x".into(),
                plain: false
            }
        );
    }

    #[test]
    fn rejects_duplicate_keys_with_their_line() {
        let err = parse("f.yaml", "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(
            err.message.contains("duplicate key `a` (first set on line 1)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = parse("f.yaml", "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.pos.line >= 1);
    }

    #[test]
    fn streams_skip_empty_documents() {
        let docs = parse_stream("f.yaml", "a: 1\n---\n# nothing\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].pos, Pos::new(5, 1));
    }

    #[test]
    fn empty_file_is_empty_map() {
        assert_eq!(parse("f.yaml", "").unwrap().kind, NodeKind::Map(Vec::new()));
    }

    /// The billion-laughs document, about 1 KB.
    fn alias_bomb() -> String {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            text += &format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", "));
        }
        text
    }

    #[test]
    fn alias_bombs_stop_at_the_node_bound() {
        let text = alias_bomb();
        assert!(text.len() < 1300, "{}", text.len());
        let start = std::time::Instant::now();
        let err = parse("f.yaml", &text).unwrap_err();
        assert!(err.message.contains("more than 1000000 values"), "{}", err.message);
        // Where the copies of `a5` pass the bound.
        assert_eq!(err.pos.line, 6, "{err:?}");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_few_aliases_are_fine() {
        let node = parse("f.yaml", "base: &b {x: 1}\nuse: *b\n").unwrap();
        let NodeKind::Map(entries) = &node.kind else { panic!() };
        assert_eq!(entries[1].1.pos, Pos::new(2, 6));
        assert_eq!(entries[1].1.kind, entries[0].1.kind);
    }

    #[test]
    fn deep_nesting_is_an_error_at_its_line() {
        // The parser has a limit of its own for flow collections.
        let err = parse_stream("f.yaml", &"[".repeat(100_000)).unwrap_err();
        assert_eq!(err.pos.line, 1, "{err:?}");
        for (text, line) in [
            (
                (0..10_000)
                    .map(|i| format!("{}k:\n", " ".repeat(i)))
                    .collect::<String>(),
                MAX_DEPTH as u32 + 1,
            ),
            (
                (0..10_000).map(|i| format!("{}-\n", " ".repeat(i))).collect::<String>(),
                MAX_DEPTH as u32 + 1,
            ),
        ] {
            let err = parse_stream("f.yaml", &text).unwrap_err();
            assert!(err.message.contains("nested more than 64 levels"), "{}", err.message);
            assert_eq!(err.pos.line, line);
        }
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse("f.yaml", &ok).is_ok());
    }

    #[test]
    fn an_alias_cannot_nest_past_the_depth_bound() {
        let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(40), "]".repeat(40));
        let err = parse("f.yaml", &text).unwrap_err();
        assert!(err.message.contains("nested more than"), "{}", err.message);
        assert_eq!(err.pos.line, 2);
    }

    #[test]
    fn tabs_are_reported_where_they_are() {
        for (text, pos) in [
            ("name: a\n\tprofile: x\n", Pos::new(2, 1)),
            ("a:\n  b: 1\n\tc: 2\n", Pos::new(3, 1)),
            ("name: a\nb:\n\t- x\n", Pos::new(3, 1)),
        ] {
            let err = parse("f.yaml", text).unwrap_err();
            assert_eq!(err.pos, pos, "{text:?}: {err:?}");
            assert_eq!(err.hint.as_deref(), Some("YAML indents with spaces, not tabs"));
        }
    }

    #[test]
    fn large_maps_find_duplicates_in_linear_time() {
        let mut text: String = (0..100_000).map(|i| format!("K{i}: v\n")).collect();
        let start = std::time::Instant::now();
        let node = parse("f.yaml", &text).unwrap();
        assert!(matches!(&node.kind, NodeKind::Map(e) if e.len() == 100_000));
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        text += "K5: again\n";
        let err = parse("f.yaml", &text).unwrap_err();
        assert_eq!(err.pos.line, 100_001);
        assert!(err.message.contains("duplicate key `K5` (first set on line 6)"));
    }

    #[test]
    fn the_last_position_counts_every_kind_of_line_break() {
        assert_eq!(last_position(""), Pos::new(1, 1));
        assert_eq!(last_position("a: b"), Pos::new(1, 5));
        assert_eq!(last_position("a\nbé\n"), Pos::new(3, 1));
        assert_eq!(last_position("a\r\nbé"), Pos::new(2, 3));
        assert_eq!(last_position("a\rb\r\n\nc"), Pos::new(4, 2));
    }

    #[test]
    fn errors_at_the_end_of_a_file_point_into_it() {
        let err = parse("f.yaml", "a: 1\nb: {k: ").unwrap_err();
        assert_eq!(err.pos, Pos::new(2, 8), "{err:?}");
        let err = parse("f.yaml", "a: b\n\u{0}\n").unwrap_err();
        assert!(err.message.contains("unprintable"), "{err:?}");
        assert_eq!(err.hint, None, "not a tab: {err:?}");
    }
}
