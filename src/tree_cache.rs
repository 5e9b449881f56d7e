//! A local, uncommitted memo of parsed service files: each file's YAML tree
//! by the hash of its text. At a thousand services, parsing every service
//! file was over 40 % of a one-service edit, and all files but the edited
//! one parse to what they did last time.
//!
//! A tree is looked up by the blake3 hash of the exact text, so a hit is
//! the tree `yaml_tree::parse` would return; text that fails to parse is
//! never stored. A cache of another stamp binary, or not whole, is not read.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;

use crate::atomic::{is_real_dir, read_output, write_atomic};
use crate::binary::{Reader, put_hash, put_stat, put_str, put_u64};
use crate::diagnostic::{Diagnostic, Pos};
use crate::file_stat::Stat;
use crate::paths::{GENERATED_DIR, TREE_CACHE_FILE};
use crate::yaml_tree::{self, MAX_DEPTH, Node, NodeKind};

const MAGIC: &[u8; 17] = b"stamp-tree-cache\x01";
/// Trees missing or unused that do not make the cache worth rewriting
/// (at least; a 64th of the files looked up at scale).
const STALE_TREES_KEPT: usize = 16;

#[derive(Default)]
pub(crate) struct TreeCache {
    bytes: Vec<u8>,
    /// Where each text's encoded tree lies in `bytes`.
    index: HashMap<blake3::Hash, Range<usize>>,
    /// What this run looked up, and the trees it parsed that were not held.
    run: Mutex<Run>,
}

#[derive(Default)]
struct Run {
    seen: HashSet<blake3::Hash>,
    parsed: Vec<(blake3::Hash, Vec<u8>)>,
}

impl fmt::Debug for TreeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeCache({} trees)", self.index.len())
    }
}

/// Who wrote a cache: this version of stamp, this very binary.
fn header() -> Option<Vec<u8>> {
    let exe = Stat::of(&std::fs::metadata(crate::file_stat::binary_path()?).ok()?);
    let mut out = MAGIC.to_vec();
    put_str(&mut out, env!("CARGO_PKG_VERSION"));
    put_stat(&mut out, &exe);
    Some(out)
}

impl TreeCache {
    /// The cache as saved; empty when missing, of another binary, or not whole.
    pub(crate) fn load(root: &Path) -> TreeCache {
        read_output(&root.join(TREE_CACHE_FILE))
            .and_then(TreeCache::decode)
            .unwrap_or_default()
    }

    fn decode(bytes: Vec<u8>) -> Option<TreeCache> {
        let header = header()?;
        let body = bytes.strip_prefix(header.as_slice())?;
        let base = bytes.len() - body.len();
        let mut reader = Reader::new(body);
        let mut index = HashMap::new();
        for _ in 0..reader.len()? {
            let hash = reader.hash()?;
            let len = reader.len()?;
            let start = base + body.len() - reader.remaining();
            reader.skip(len)?;
            index.insert(hash, start..start + len);
        }
        reader.is_empty().then_some(TreeCache {
            bytes,
            index,
            run: Mutex::default(),
        })
    }

    /// `yaml_tree::parse(file, text)`, from the cache when it holds the text.
    pub(crate) fn parse(&self, file: &str, text: &str) -> Result<Node, Diagnostic> {
        let hash = blake3::hash(text.as_bytes());
        let held = self
            .index
            .get(&hash)
            .and_then(|range| decode_tree(&self.bytes[range.clone()]));
        let (parsed, encoded) = match held {
            Some(node) => (Ok(node), None),
            None => {
                let parsed = yaml_tree::parse(file, text);
                let encoded = parsed.as_ref().ok().map(|node| {
                    let mut encoded = Vec::new();
                    encode_tree(&mut encoded, node);
                    encoded
                });
                (parsed, encoded)
            }
        };
        let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        // Two files with one text (two empty files) are one tree.
        if run.seen.insert(hash)
            && let Some(encoded) = encoded
        {
            run.parsed.push((hash, encoded));
        }
        parsed
    }

    /// Saves the trees this run looked up, when enough of them differ from
    /// what the cache holds: parsing a few files again costs less than
    /// rewriting the cache after every one-service edit. Only a speed-up:
    /// failing to save costs a parse.
    pub(crate) fn save(&self, root: &Path) {
        let run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let unused = self.index.keys().filter(|hash| !run.seen.contains(*hash)).count();
        let first = self.index.is_empty() && !run.parsed.is_empty();
        if !first && run.parsed.len() + unused <= STALE_TREES_KEPT.max(run.seen.len() / 64) {
            return;
        }
        let Some(mut out) = header() else {
            return;
        };
        // A held tree that did not decode was parsed again: keep the new one.
        let reparsed: HashSet<&blake3::Hash> = run.parsed.iter().map(|(hash, _)| hash).collect();
        let kept: Vec<(&blake3::Hash, &[u8])> = self
            .index
            .iter()
            .filter(|(hash, _)| run.seen.contains(*hash) && !reparsed.contains(hash))
            .map(|(hash, range)| (hash, &self.bytes[range.clone()]))
            .chain(run.parsed.iter().map(|(hash, tree)| (hash, tree.as_slice())))
            .collect();
        put_u64(&mut out, kept.len() as u64);
        for (hash, tree) in kept {
            put_hash(&mut out, hash);
            put_u64(&mut out, tree.len() as u64);
            out.extend_from_slice(tree);
        }
        // Never through a symlinked `generated/`, and never creating it.
        if is_real_dir(&root.join(GENERATED_DIR)) {
            let _ = write_atomic(&root.join(TREE_CACHE_FILE), &out);
        }
    }
}

const SCALAR_PLAIN: u8 = 0;
const SCALAR_QUOTED: u8 = 1;
const SEQ: u8 = 2;
const MAP: u8 = 3;

fn encode_tree(out: &mut Vec<u8>, node: &Node) {
    let (tag, count) = match &node.kind {
        NodeKind::Scalar { plain: true, .. } => (SCALAR_PLAIN, 0),
        NodeKind::Scalar { plain: false, .. } => (SCALAR_QUOTED, 0),
        NodeKind::Seq(items) => (SEQ, items.len()),
        NodeKind::Map(entries) => (MAP, entries.len()),
    };
    out.push(tag);
    out.extend_from_slice(&node.pos.line.to_le_bytes());
    out.extend_from_slice(&node.pos.col.to_le_bytes());
    match &node.kind {
        NodeKind::Scalar { text, .. } => put_str(out, text),
        NodeKind::Seq(items) => {
            put_u64(out, count as u64);
            items.iter().for_each(|item| encode_tree(out, item));
        }
        NodeKind::Map(entries) => {
            put_u64(out, count as u64);
            for (key, value) in entries {
                encode_tree(out, key);
                encode_tree(out, value);
            }
        }
    }
}

/// The tree `bytes` hold, when they hold exactly one, nested no deeper
/// and with no more nodes than a parse allows.
fn decode_tree(bytes: &[u8]) -> Option<Node> {
    let mut reader = Reader::new(bytes);
    let mut nodes = 0;
    let node = read_node(&mut reader, 0, &mut nodes)?;
    reader.is_empty().then_some(node)
}

/// The fewest bytes a node takes: a tag, its position and a length.
const MIN_NODE_BYTES: usize = 1 + 8 + 8;

/// Room for `count` children, never more than the bytes left could hold:
/// a garbled count must not ask for gigabytes up front.
fn capacity(reader: &Reader<'_>, count: usize, per_child: usize) -> usize {
    count.min(reader.remaining() / per_child)
}

fn read_node(reader: &mut Reader<'_>, depth: usize, nodes: &mut usize) -> Option<Node> {
    *nodes += 1;
    if *nodes > yaml_tree::MAX_NODES {
        return None;
    }
    let tag = reader.u8()?;
    let pos = Pos::new(reader.u32()?, reader.u32()?);
    let kind = match tag {
        SCALAR_PLAIN | SCALAR_QUOTED => NodeKind::Scalar {
            text: reader.str()?,
            plain: tag == SCALAR_PLAIN,
        },
        SEQ | MAP if depth >= MAX_DEPTH => return None,
        SEQ => {
            let count = reader.len()?;
            let mut items = Vec::with_capacity(capacity(reader, count, MIN_NODE_BYTES));
            for _ in 0..count {
                items.push(read_node(reader, depth + 1, nodes)?);
            }
            NodeKind::Seq(items)
        }
        MAP => {
            let count = reader.len()?;
            let mut entries = Vec::with_capacity(capacity(reader, count, 2 * MIN_NODE_BYTES));
            for _ in 0..count {
                entries.push((
                    read_node(reader, depth + 1, nodes)?,
                    read_node(reader, depth + 1, nodes)?,
                ));
            }
            NodeKind::Map(entries)
        }
        _ => return None,
    };
    Some(Node { pos, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "name: web\nenv: {A: '1', B: \"x\\ny\"}\nlist: [1, ~, 'two']\nblock: |\n  a\n  b\nempty:\n";

    #[test]
    fn a_tree_decodes_to_what_was_parsed() {
        let node = yaml_tree::parse("s.yaml", SERVICE).unwrap();
        let mut bytes = Vec::new();
        encode_tree(&mut bytes, &node);
        assert_eq!(decode_tree(&bytes), Some(node));
    }

    #[test]
    fn a_truncated_or_garbled_tree_is_never_read() {
        let node = yaml_tree::parse("s.yaml", SERVICE).unwrap();
        let mut bytes = Vec::new();
        encode_tree(&mut bytes, &node);
        for len in 0..bytes.len() {
            assert_eq!(decode_tree(&bytes[..len]), None, "cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_tree(&longer), None);
        let mut bad_tag = bytes;
        bad_tag[0] = 9;
        assert_eq!(decode_tree(&bad_tag), None);
    }

    #[test]
    fn a_garbled_count_asks_for_no_more_room_than_the_bytes_hold() {
        // A map claiming u64::MAX / 2 entries in a few bytes: refused by
        // the reader; one claiming as many as the bytes left reserves room
        // for what they could hold, then fails on the first short entry.
        for count in [u64::MAX / 2, 40] {
            let mut bytes = vec![MAP];
            bytes.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
            put_u64(&mut bytes, count);
            bytes.extend_from_slice(&[0; 40]);
            assert_eq!(decode_tree(&bytes), None);
        }
    }

    #[test]
    fn a_tree_nested_deeper_than_a_parse_allows_is_not_read() {
        let mut bytes = Vec::new();
        for _ in 0..=MAX_DEPTH {
            bytes.push(SEQ);
            bytes.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
            put_u64(&mut bytes, 1);
        }
        bytes.push(SCALAR_PLAIN);
        bytes.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
        put_str(&mut bytes, "x");
        assert_eq!(decode_tree(&bytes), None);
    }

    #[test]
    fn a_saved_cache_answers_the_next_run_and_keeps_only_what_it_used() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("generated")).unwrap();
        let numbered = |n: usize| format!("n: {n}\n");
        let first = TreeCache::load(root.path());
        let web = first.parse("a.yaml", SERVICE).unwrap();
        assert!(first.parse("c.yaml", "a: [\n").is_err());
        for n in 0..=STALE_TREES_KEPT {
            first.parse("n.yaml", &numbered(n)).unwrap();
        }
        first.save(root.path());
        let second = TreeCache::load(root.path());
        assert_eq!(
            second.index.len(),
            STALE_TREES_KEPT + 2,
            "a text that failed to parse is not stored"
        );
        assert_eq!(second.parse("other.yaml", SERVICE).unwrap(), web);

        // All but one still used and one new: not worth a write.
        for n in 1..=STALE_TREES_KEPT {
            second.parse("n.yaml", &numbered(n)).unwrap();
        }
        second.save(root.path());
        assert_eq!(TreeCache::load(root.path()).index.len(), STALE_TREES_KEPT + 2);
        // Only one used: the others are dropped.
        let third = TreeCache::load(root.path());
        third.parse("a.yaml", SERVICE).unwrap();
        third.save(root.path());
        let saved = TreeCache::load(root.path());
        assert_eq!(saved.index.len(), 1);
        assert!(saved.index.contains_key(&blake3::hash(SERVICE.as_bytes())));

        std::fs::write(root.path().join(TREE_CACHE_FILE), b"stamp-tree-cache\x01garbage").unwrap();
        assert!(TreeCache::load(root.path()).index.is_empty());
    }
}
