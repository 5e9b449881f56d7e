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
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn kind_name(&self) -> &'static str {
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
    for event in Parser::new_from_str(source) {
        let (event, span) = event.map_err(|e| {
            Diagnostic::new(
                file,
                Pos::new(e.marker().line() as u32, e.marker().col() as u32 + 1),
                format!("invalid YAML: {}", e.info()),
            )
        })?;
        let pos = Pos::new(span.start.line() as u32, span.start.col() as u32 + 1);
        let end_of_document = matches!(event, Event::DocumentEnd | Event::StreamEnd);
        builder
            .push(event, pos)
            .map_err(|message| Diagnostic::new(file, pos, message))?;
        if end_of_document && let Some(root) = builder.root.take().filter(|root| !root.is_null()) {
            documents.push(root);
            if first_only {
                break;
            }
        }
    }
    Ok(documents)
}

#[derive(Default)]
struct Builder {
    /// Open collections; a map holds its pending key until the value arrives.
    stack: Vec<(Node, usize, Option<Node>)>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    /// Keys of each open collection (empty for lists), so a duplicate is found
    /// in constant time: a linear scan made a 100,000-key map quadratic.
    keys: Vec<HashMap<String, u32>>,
}

impl Builder {
    fn push(&mut self, event: Event<'_>, pos: Pos) -> Result<(), String> {
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..)) {
            self.keys.push(HashMap::new());
        }
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                let node = Node {
                    pos,
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                };
                self.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push((
                Node {
                    pos,
                    kind: NodeKind::Seq(Vec::new()),
                },
                anchor,
                None,
            )),
            Event::MappingStart(anchor, _) => self.stack.push((
                Node {
                    pos,
                    kind: NodeKind::Map(Vec::new()),
                },
                anchor,
                None,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, _) = self.stack.pop().ok_or("unbalanced YAML collection")?;
                self.keys.pop();
                self.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let mut node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or("alias refers to an unknown anchor")?;
                node.pos = pos;
                self.finish(node, 0)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some((parent, _, pending_key)) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut parent.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => match pending_key.take() {
                None => {
                    if node.scalar().is_none() {
                        return Err("map keys must be plain strings".into());
                    }
                    let key = node.scalar().unwrap_or_default();
                    let keys = self.keys.last_mut().ok_or("unbalanced YAML collection")?;
                    if let Some(first) = keys.get(key) {
                        return Err(format!("duplicate key `{key}` (first set on line {first})"));
                    }
                    keys.insert(key.to_string(), node.pos.line);
                    *pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
            NodeKind::Scalar { .. } => unreachable!("scalars are never pushed on the stack"),
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
}
