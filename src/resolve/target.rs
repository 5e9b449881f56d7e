//! The target model: one fully resolved (service, environment, region) and
//! the values its templates see.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use serde::Serialize;
use serde_json::Value;

use crate::catalog::Approval;
use crate::resolve::provenance::Origin;

/// The values a target's templates see (documented in the README).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Values {
    pub service: String,
    pub environment: String,
    pub region: String,
    pub namespace: String,
    pub cluster: String,
    pub approval: &'static str,
    pub profile: String,
    pub archetype: String,
    pub size: String,
    pub owners: Owners,
    pub image: Image,
    pub port: Option<i64>,
    pub schedule: Option<String>,
    /// Unset when the hpa component manages the replica count.
    pub replicas: Option<i64>,
    pub resources: Resources,
    pub autoscaling: Option<Autoscaling>,
    pub env: BTreeMap<String, String>,
    pub components: Vec<String>,
    pub params: BTreeMap<String, Value>,
    /// Labels that select the target's pods.
    pub selector: BTreeMap<String, String>,
    /// The migration Job's command and deadline, when a layer sets `migration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
    /// The alert thresholds, when the `alerts` component is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Alerts>,
    /// The resolved `rollout` block; absent when no layer writes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::resolve::rollout::Rollout>,
    /// Feature flags by key (`resolve::flags`); empty: no flags ConfigMap.
    pub flags: BTreeMap<String, crate::resolve::Flag>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Migration {
    pub command: Vec<String>,
    /// As written, e.g. `10m`.
    pub timeout: String,
    pub timeout_seconds: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alerts {
    /// Percent of 5xx responses, as written (`5`, `0.5`).
    pub error_rate: serde_json::Number,
    pub latency_p99_ms: i64,
    #[serde(rename = "for")]
    pub for_: String,
    /// Whether the archetype serves requests through a Service, and so gets
    /// the error-rate and latency alerts besides the replicas alert.
    pub requests: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Owners {
    pub team: String,
    pub github: String,
    pub slack: Option<String>,
    pub oncall: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Image {
    pub repository: String,
    pub tag: String,
    /// `sha256:…` when the image is pinned by digest.
    pub digest: Option<String>,
    #[serde(rename = "ref")]
    pub reference: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Resources {
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Autoscaling {
    pub min: i64,
    pub max: i64,
    pub cpu_utilization: i64,
}

#[derive(Clone, Debug)]
pub struct Target {
    pub service: String,
    pub env: String,
    pub region: String,
    pub service_file: String,
    pub approval: Approval,
    /// The environment's `require_digest`: every image needs a digest.
    pub require_digest: bool,
    pub archetype: String,
    /// Enabled components, sorted by name.
    pub components: Vec<String>,
    /// Shared, so that releasing them (`release_values`) frees their 1 KB
    /// too: a list of targets is 180 bytes a target, not 1.2 KB.
    pub values: Arc<Values>,
    /// Resolved value name → where it came from, for `explain`.
    pub origins: BTreeMap<String, Origin>,
}

impl Target {
    /// Frees what only rendering reads (the values, the provenance) and
    /// keeps the target's identity: service, environment, region, files. A
    /// build drops each target's values once it is rendered, so the output
    /// reuses their memory instead of adding to it (at 10,000 services the
    /// targets hold ~250 MB).
    pub fn release_values(&mut self) {
        static RELEASED: LazyLock<Arc<Values>> = LazyLock::new(Arc::default);
        self.values = RELEASED.clone();
        self.components = Vec::new();
        self.origins = BTreeMap::new();
    }

    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.service, self.env, self.region)
    }

    pub fn dir(&self) -> String {
        format!("generated/{}/{}/{}", self.service, self.env, self.region)
    }
}

pub struct Resolved {
    pub targets: Vec<Target>,
    /// Services whose targets could not be resolved; their output is kept.
    pub failed_services: BTreeSet<String>,
    /// Services the caller said to skip.
    pub skipped: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_named_and_placed_by_service_env_and_region() {
        let values = Values {
            service: "s".into(),
            environment: "dev".into(),
            region: "eu".into(),
            namespace: "dev-s-eu".into(),
            cluster: String::new(),
            approval: "auto",
            profile: "p".into(),
            archetype: "worker".into(),
            size: "small".into(),
            owners: Owners {
                team: "t".into(),
                github: "@t".into(),
                slack: None,
                oncall: None,
            },
            image: Image {
                repository: "r".into(),
                tag: "1".into(),
                digest: None,
                reference: "r:1".into(),
            },
            port: None,
            schedule: None,
            replicas: Some(1),
            resources: Resources::default(),
            autoscaling: None,
            env: BTreeMap::new(),
            components: Vec::new(),
            params: BTreeMap::new(),
            selector: BTreeMap::new(),
            migration: None,
            alerts: None,
            rollout: None,
            flags: BTreeMap::new(),
        };
        let target = Target {
            service: "s".into(),
            env: "dev".into(),
            region: "eu".into(),
            service_file: "catalog/services/s.yaml".into(),
            approval: Approval::Auto,
            require_digest: false,
            archetype: "worker".into(),
            components: Vec::new(),
            values: values.into(),
            origins: BTreeMap::new(),
        };
        assert_eq!(target.id(), "s/dev/eu");
        assert_eq!(target.dir(), "generated/s/dev/eu");
    }
}
