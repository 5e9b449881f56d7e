//! Provenance: where each resolved value was set, which `stamp explain` shows.
//! Only `explain` needs it, so a build records nothing and builds no origin.

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::Serialize;

use crate::catalog::{Catalog, Environment, Region, Service, Team};
use crate::diagnostic::Pos;

/// Whether to record where each value came from (only `explain` needs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    Record,
    Skip,
}

/// Where a resolved value was set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    /// `archetype default`, `profile public-api`, `size medium`, `service`, `overrides.prod`.
    pub level: String,
}

impl Origin {
    pub(crate) fn new(file: &str, pos: Pos, level: impl Into<String>) -> Origin {
        Origin {
            file: file.to_string(),
            line: pos.line,
            level: level.into(),
        }
    }
}

/// Resolved value name → origin, or nothing at all when provenance is skipped.
#[derive(Clone, Debug, Default)]
pub(crate) struct Origins(Option<BTreeMap<String, Origin>>);

impl Origins {
    pub(crate) fn new(provenance: Provenance) -> Origins {
        Origins((provenance == Provenance::Record).then(BTreeMap::new))
    }

    /// Records an origin; neither the key's text nor the origin is built
    /// unless provenance is recorded (a build resolves thousands of targets).
    pub(crate) fn note(&mut self, key: impl Display, origin: impl FnOnce() -> Origin) {
        if let Some(map) = &mut self.0 {
            map.insert(key.to_string(), origin());
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Origin> {
        self.0.as_ref().and_then(|map| map.get(key))
    }

    pub(crate) fn into_map(self) -> BTreeMap<String, Origin> {
        self.0.unwrap_or_default()
    }
}

/// Notes where a region's own values come from: the environment's entry in
/// its shared file, the service's listing of it, and the team's.
pub(crate) fn note_region(
    origins: &mut Origins,
    catalog: &Catalog,
    service: &Service,
    team: &Team,
    env: &Environment,
    region: &Region,
) {
    let environments = catalog.environments.file;
    let level = || format!("environment {}", env.name.value);
    origins.note("cluster", || Origin::new(environments, region.cluster.pos, level()));
    origins.note("approval", || Origin::new(environments, env.name.pos, level()));
    origins.note("region", || Origin::new(environments, region.name.pos, level()));
    if let Some(listed) = service.environments.iter().find(|e| e.value == env.name.value) {
        origins.note("environment", || Origin::new(&service.file, listed.pos, "service"));
    }
    origins.note("owners.github", || {
        Origin::new(catalog.teams.file, team.github.pos, format!("team {}", team.name.value))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_provenance_builds_no_origin() {
        let mut origins = Origins::new(Provenance::Skip);
        origins.note("port", || panic!("built an origin nobody reads"));
        assert!(origins.into_map().is_empty());
    }

    #[test]
    fn a_later_note_replaces_an_earlier_one() {
        let mut origins = Origins::new(Provenance::Record);
        origins.note("port", || Origin::new("a.yaml", Pos::new(1, 1), "profile p"));
        origins.note(format_args!("po{}", "rt"), || {
            Origin::new("b.yaml", Pos::new(4, 3), "service")
        });
        assert_eq!(
            origins.get("port"),
            Some(&Origin::new("b.yaml", Pos::new(4, 9), "service"))
        );
        assert_eq!(origins.into_map().len(), 1);
    }
}
