//! The little binary encoding of stamp's local caches: little-endian
//! integers and length-prefixed strings. Every read is bounds-checked, so a
//! truncated or garbled file decodes to None ("unknown"), never to a value.

use crate::file_stat::Stat;

pub(crate) fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_hash(out: &mut Vec<u8>, hash: &blake3::Hash) {
    out.extend_from_slice(hash.as_bytes());
}

pub(crate) fn put_stat(out: &mut Vec<u8>, s: &Stat) {
    put_u64(out, s.ino);
    put_u64(out, s.size);
    put_u64(out, s.mtime as u64);
    put_u64(out, s.ctime as u64);
}

/// Items to make room for up front when a file says it holds `count`: all
/// of them up to 2^18 (a 10,000-service snapshot holds ~160,000 entries),
/// so a garbled count never asks for more than a few tens of MB at once;
/// a larger real file grows the rest.
pub(crate) fn room(count: usize) -> usize {
    count.min(1 << 18)
}

/// A cursor over encoded bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// How many bytes are left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Passes over `n` bytes.
    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A count, bounded by what the rest of the file could hold.
    pub(crate) fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    /// A count of items that take at least `min_item` bytes each, bounded
    /// by what the rest of the file could hold.
    pub(crate) fn count(&mut self, min_item: usize) -> Option<usize> {
        let n = self.len()?;
        (n <= self.bytes.len() / min_item.max(1)).then_some(n)
    }

    pub(crate) fn str(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    pub(crate) fn stat(&mut self) -> Option<Stat> {
        Some(Stat {
            ino: self.u64()?,
            size: self.u64()?,
            mtime: self.u64()? as i64,
            ctime: self.u64()? as i64,
        })
    }

    pub(crate) fn hash(&mut self) -> Option<blake3::Hash> {
        Some(blake3::Hash::from_bytes(self.take(32)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_the_rest_of_the_file_cannot_hold_is_refused() {
        let mut out = Vec::new();
        put_u64(&mut out, 3);
        out.extend_from_slice(&[0; 27]);
        assert_eq!(Reader::new(&out).count(9), Some(3));
        assert_eq!(Reader::new(&out).count(10), None);
        let mut huge = Vec::new();
        put_u64(&mut huge, u64::MAX / 2);
        huge.extend_from_slice(&[0; 64]);
        assert_eq!(Reader::new(&huge).count(1), None);
        assert_eq!(room(usize::MAX), 1 << 18);
    }
}
