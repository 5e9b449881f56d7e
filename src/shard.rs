//! Which share of the services one run renders (`--shard i/n`).

/// Shard `index` (1-based) of `count`, by a stable hash of the service name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn owns(&self, service: &str) -> bool {
        let hash = blake3::hash(service.as_bytes());
        let bucket = u32::from_le_bytes(hash.as_bytes()[..4].try_into().expect("four bytes"));
        bucket % self.count == self.index - 1
    }

    /// Shard 1 also writes the files every shard shares.
    pub fn owns_shared_files(&self) -> bool {
        self.index == 1
    }
}
