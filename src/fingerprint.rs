//! Per-target fingerprints: what lets `build` skip a target without
//! rendering it.
//!
//! The inputs hash covers everything a target's output is a function of:
//! its resolved values (which already fold in the service file, profile,
//! size, environment, team and stamp.yaml entries it uses), the declarations
//! and templates of its archetype and components, and the stamp version. It
//! is stored beside the output with the hashes of the output files, never in
//! a shared state file, so two pull requests never touch the same file.
//!
//! A committed fingerprint is only a hint that lets `build` skip work: anyone
//! can edit a manifest and its fingerprint together. Only the local stat
//! cache may vouch for output, and only for what stamp itself rendered and
//! wrote or compared byte for byte on this machine (`Trust::Rendered`).

use std::path::Path;

use crate::atomic::read_output;
use crate::blueprint::Blueprints;
use crate::load::Sources;
use crate::paths::{FINGERPRINT_FILE, MANIFESTS_FILE, SERVICES_DIR, TARGET_FILE};
use crate::resolve::Target;
use crate::stat_cache::StatCache;

/// Bumped whenever the format or what is hashed changes, so an old file is
/// never misread as "nothing changed".
const FORMAT: &str = "stamp-fingerprint v1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) inputs: blake3::Hash,
    pub(crate) manifests: blake3::Hash,
    pub(crate) params: blake3::Hash,
}

/// `policy` is what the target's policy check depends on (see `policy::Policies::inputs`).
pub(crate) fn inputs(target: &Target, blueprints: &Blueprints, policy: blake3::Hash) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(target.service_file.as_bytes());
    serde_json::to_writer(&mut hasher, &*target.values).expect("values serialize");
    hasher.update(blueprints.archetypes[&target.archetype].hash.as_bytes());
    for component in &target.components {
        hasher.update(blueprints.components[component].hash.as_bytes());
    }
    hasher.update(policy.as_bytes());
    hasher.finalize()
}

impl Fingerprint {
    pub(crate) fn new(inputs: blake3::Hash, manifests: &str, params: &str) -> Fingerprint {
        Fingerprint {
            inputs,
            manifests: blake3::hash(manifests.as_bytes()),
            params: blake3::hash(params.as_bytes()),
        }
    }

    pub(crate) fn to_text(&self) -> String {
        format!(
            "{FORMAT}\ninputs {}\n{MANIFESTS_FILE} {}\n{TARGET_FILE} {}\n",
            self.inputs, self.manifests, self.params
        )
    }

    pub(crate) fn parse(text: &str) -> Option<Fingerprint> {
        let mut lines = text.lines();
        if lines.next()? != FORMAT {
            return None;
        }
        let mut field = |name: &str| -> Option<blake3::Hash> {
            let (key, hex) = lines.next()?.split_once(' ')?;
            (key == name).then(|| blake3::Hash::from_hex(hex).ok()).flatten()
        };
        Some(Fingerprint {
            inputs: field("inputs")?,
            manifests: field(MANIFESTS_FILE)?,
            params: field(TARGET_FILE)?,
        })
    }
}

/// A hash of every input except the service files: what a service's output
/// depends on besides its own file.
pub(crate) fn shared_inputs(sources: &Sources) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    for (path, text) in sources.iter().filter(|(path, _)| !path.starts_with(SERVICES_DIR)) {
        hasher.update(path.as_bytes());
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.finalize()
}

pub(crate) fn service_key(shared: blake3::Hash, path: &str, text: &str) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(shared.as_bytes());
    hasher.update(path.as_bytes());
    hasher.update(text.as_bytes());
    hasher.finalize()
}

/// Whether the target's output on disk is what `inputs` renders to, and
/// whether the answer came from reading the files (so the cache can learn it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// The stat cache vouches for the files.
    Cached,
    /// The files were read and hash to the committed fingerprint with these
    /// inputs: a hint for `build`, never proof.
    Verified,
    Stale,
}

/// With `rendered_only` (what `check` asks), only the stat cache's record
/// of what stamp rendered here counts; committed fingerprints are not read.
pub(crate) fn freshness(
    root: &Path,
    dir: &str,
    inputs: blake3::Hash,
    cache: &StatCache,
    rendered_only: bool,
) -> Freshness {
    if cache.vouches_for(root, dir, inputs, rendered_only) {
        return Freshness::Cached;
    }
    if rendered_only {
        return Freshness::Stale;
    }
    let full = root.join(dir);
    let Some(stored) = read_output(&full.join(FINGERPRINT_FILE))
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .as_deref()
        .and_then(Fingerprint::parse)
    else {
        return Freshness::Stale;
    };
    let hash_of = |file: &str| read_output(&full.join(file)).map(|bytes| blake3::hash(&bytes));
    if stored.inputs == inputs
        && hash_of(MANIFESTS_FILE) == Some(stored.manifests)
        && hash_of(TARGET_FILE) == Some(stored.params)
    {
        Freshness::Verified
    } else {
        Freshness::Stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_formats() {
        let fp = Fingerprint::new(blake3::hash(b"in"), "a", "b");
        assert_eq!(Fingerprint::parse(&fp.to_text()), Some(fp.clone()));
        let old = fp.to_text().replace("v1", "v0");
        assert_eq!(Fingerprint::parse(&old), None);
        assert_eq!(Fingerprint::parse("garbage"), None);
    }
}
