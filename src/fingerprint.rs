//! Per-target fingerprints: what lets `build` skip a target without
//! rendering it.
//!
//! The inputs hash covers everything a target's output is a function of:
//! its resolved values (which already fold in the service file, profile,
//! size, environment, team and stamp.yaml entries it uses), the declarations
//! and templates of its archetype and components, and the stamp version. It
//! is stored beside the output with the hashes of the output files, never in
//! a shared state file, so two pull requests never touch the same file.

use std::path::Path;

use crate::blueprint::Blueprints;
use crate::emit::{MANIFESTS_FILE, TARGET_FILE};
use crate::resolve::Target;

pub const FILE: &str = ".stamp-fingerprint";
/// Bumped whenever the format or what is hashed changes, so an old file is
/// never misread as "nothing changed".
const FORMAT: &str = "stamp-fingerprint v1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub inputs: blake3::Hash,
    pub manifests: blake3::Hash,
    pub params: blake3::Hash,
}

pub fn inputs(target: &Target, blueprints: &Blueprints) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(target.service_file.as_bytes());
    hasher.update(&serde_json::to_vec(&target.values).expect("values serialize"));
    hasher.update(blueprints.archetypes[&target.archetype].hash.as_bytes());
    for component in &target.components {
        hasher.update(blueprints.components[component].hash.as_bytes());
    }
    hasher.finalize()
}

impl Fingerprint {
    pub fn new(inputs: blake3::Hash, manifests: &str, params: &str) -> Fingerprint {
        Fingerprint {
            inputs,
            manifests: blake3::hash(manifests.as_bytes()),
            params: blake3::hash(params.as_bytes()),
        }
    }

    pub fn to_text(&self) -> String {
        format!(
            "{FORMAT}\ninputs {}\n{MANIFESTS_FILE} {}\n{TARGET_FILE} {}\n",
            self.inputs, self.manifests, self.params
        )
    }

    pub fn parse(text: &str) -> Option<Fingerprint> {
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

/// True when the target's output on disk is what `inputs` renders to: the
/// stored fingerprint has the same inputs and the files still hash to it.
pub fn is_up_to_date(root: &Path, dir: &str, inputs: blake3::Hash) -> bool {
    let dir = root.join(dir);
    let Some(stored) = std::fs::read_to_string(dir.join(FILE))
        .ok()
        .as_deref()
        .and_then(Fingerprint::parse)
    else {
        return false;
    };
    let hash_of = |file: &str| std::fs::read(dir.join(file)).ok().map(|bytes| blake3::hash(&bytes));
    stored.inputs == inputs
        && hash_of(MANIFESTS_FILE) == Some(stored.manifests)
        && hash_of(TARGET_FILE) == Some(stored.params)
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
