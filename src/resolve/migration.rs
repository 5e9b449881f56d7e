//! Resolves the `migration` block: `command` and `timeout` folded key by key
//! (the last layer that sets one wins), checked against the archetype.
//! The Job itself is derived from the rendered workload (`migration_job`).

use crate::catalog::migration::MigrationLayer;
use crate::diagnostic::Diagnostic;
use crate::resolve::layers::{Level, Scope};
use crate::resolve::provenance::{Origin, Origins};
use crate::resolve::target::Migration;

/// Kinds whose pod template a migration Job copies: long-running workloads.
pub(crate) const WORKLOAD_KINDS: [&str; 4] = ["Deployment", "StatefulSet", "DaemonSet", "Rollout"];

/// The timeout when no layer sets one.
const DEFAULT_TIMEOUT: (&str, u64) = ("10m", 600);

/// What the Job's name adds to the service's; a Job name must stay a
/// 63-character label value (its pods carry it in `job-name`).
pub(crate) const JOB_SUFFIX: &str = "-migrate";

/// The resolved migration, `None` when no layer sets one or on an error (reported).
pub(crate) fn fold(
    scope: &Scope,
    levels: &[Level],
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> Option<Migration> {
    let blocks: Vec<(&Level, &MigrationLayer)> = levels
        .iter()
        .filter_map(|level| level.layer.migration.as_ref().map(|m| (level, m)))
        .collect();
    let &(top, top_block) = blocks.last()?;
    let archetype = scope.archetype;
    if !archetype
        .objects
        .iter()
        .any(|d| WORKLOAD_KINDS.contains(&d.kind.as_str()))
    {
        diags.push(
            Diagnostic::new(
                top.file,
                top_block.pos,
                format!(
                    "archetype `{}` has no long-running workload for a migration to run before",
                    archetype.name
                ),
            )
            .with_hint(format!(
                "a migration runs before a Deployment's pods start; remove `migration`, or run the step inside the job of archetype `{}`",
                archetype.name
            )),
        );
        return None;
    }
    let service = &scope.service.name.value;
    if service.len() + JOB_SUFFIX.len() > 63 {
        diags.push(
            Diagnostic::new(
                top.file,
                top_block.pos,
                format!(
                    "the migration Job `{service}{JOB_SUFFIX}` would be {} characters long; Kubernetes allows 63",
                    service.len() + JOB_SUFFIX.len()
                ),
            )
            .with_hint("shorten the service name"),
        );
        return None;
    }
    let command = blocks.iter().rev().find_map(|(level, m)| {
        let command = m.command.as_ref()?;
        origins.note("migration.command", || level.origin(command.pos));
        Some(command.value.clone())
    });
    let Some(command) = command else {
        diags.push(
            Diagnostic::new(top.file, top_block.pos, "migration has no `command`")
                .with_hint("add the program and its arguments, e.g. `command: [./migrate, up]`"),
        );
        return None;
    };
    let timeout = blocks.iter().rev().find_map(|(level, m)| {
        let timeout = m.timeout.as_ref()?;
        origins.note("migration.timeout", || level.origin(timeout.pos));
        Some((timeout.value.text.clone(), timeout.value.seconds))
    });
    let (timeout, timeout_seconds) = timeout.unwrap_or_else(|| {
        origins.note("migration.timeout", || {
            Origin::new(top.file, top_block.pos, "default (10m)")
        });
        (DEFAULT_TIMEOUT.0.to_string(), DEFAULT_TIMEOUT.1)
    });
    Some(Migration {
        command,
        timeout,
        timeout_seconds,
    })
}

#[cfg(test)]
mod tests {
    use crate::resolve::test_repo::{service, target};

    #[test]
    fn keys_merge_layer_by_layer_and_the_timeout_defaults_to_ten_minutes() {
        let profiles = "profiles:\n  p:\n    archetype: worker\n    defaults: { migration: { timeout: 2m } }\n";
        let t = target(profiles, &service("migration: { command: [./m, up] }\n"));
        let m = t.values.migration.as_ref().unwrap();
        assert_eq!(
            (m.command.join(" "), m.timeout.as_str(), m.timeout_seconds),
            ("./m up".into(), "2m", 120)
        );
        assert_eq!(t.origins["migration.timeout"].level, "profile p");
        assert_eq!(t.origins["migration.command"].level, "service");
        let t = target(
            "profiles:\n  p: { archetype: worker }\n",
            &service("migration: { command: [./m] }\n"),
        );
        let m = t.values.migration.as_ref().unwrap();
        assert_eq!((m.timeout.as_str(), m.timeout_seconds), ("10m", 600));
        assert!(
            target("profiles:\n  p: { archetype: worker }\n", &service(""))
                .values
                .migration
                .is_none()
        );
    }
}
