//! `stamp affected --base REV`: the targets whose rendered output differs
//! between REV and the working tree, and the approval tier the change needs.
//!
//! Exact, not path-guessing: both sides are resolved in full, every target
//! whose fingerprint inputs differ is rendered on both sides, and the bytes
//! are compared, so an archetype change lists every target whose bytes
//! change, and a comment lists none.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use crate::catalog::{Approval, ENVIRONMENTS_FILE, PROFILES_FILE, SIZES_FILE, STAMP_FILE};
use crate::changes::{self, Changes, Status};
use crate::cli::{Format, Settings};
use crate::compile::{Resolution, TargetSummary, resolve_all};
use crate::error::{Error, ExitStatus};
use crate::load::Sources;
use crate::report;
use crate::resolve::Rollout;

mod comment;
mod incremental;
mod target;

use target::AffectedTarget;

pub(crate) fn run(settings: &Settings, base: &str, max_jobs: usize) -> Result<ExitStatus, Error> {
    let (old_sources, new_sources) = incremental::sources(settings, base)?;
    let platform_files = changed_platform_files(&old_sources, &new_sources);
    let old = resolve(settings, old_sources, &format!("`{base}`"))?;
    let new = resolve(settings, new_sources, "the working tree")?;
    let changes = render_changes(settings, base, &old, &new)?;
    let targets = affected_targets(&old, &new, &changes, &platform_files);
    let (tier, reasons) = change_tier(&targets, &platform_files);
    let (tier, reasons) = exception_tier(&old, &new, tier, reasons);

    let comment = || {
        comment::markdown(&comment::Comment {
            root: &settings.root,
            base,
            tier,
            reasons: &reasons,
            platform_files: &platform_files,
            targets: &targets,
            old: &old,
            new: &new,
        })
    };
    let text = match settings.format {
        Format::Text => text_report(&targets, tier, &reasons),
        Format::Markdown => comment(),
        // Everything the other formats print, so CI runs `affected` once.
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&json!({
                "base": base,
                "tier": tier.as_str(),
                "reasons": reasons,
                "targets": targets,
                "matrices": matrices(&targets, max_jobs),
                "comment": comment(),
            }))
            .expect("JSON serializes");
            text.push('\n');
            text
        }
        Format::GithubMatrix => {
            eprintln!("approval tier: {} ({})", tier.as_str(), reasons.join("; "));
            matrices(&targets, max_jobs)
                .iter()
                .map(|m| format!("{}\n", serde_json::to_string(m).expect("JSON serializes")))
                .collect()
        }
    };
    report::stdout(&text);
    Ok(ExitStatus::Ok)
}

/// One side resolved, or refused when its catalog has errors.
fn resolve(settings: &Settings, sources: Sources, side: &str) -> Result<Resolution, Error> {
    let resolution = resolve_all(sources);
    if !resolution.diags.is_empty() {
        report::diagnostics(settings, &resolution.sources, &resolution.diags);
        return Err(Error::refused(format!(
            "the catalog at {side} has errors, so its output cannot be compared"
        )));
    }
    Ok(resolution)
}

/// Renders the targets whose fingerprint inputs differ on both sides and
/// compares the bytes: output is a pure function of those inputs.
fn render_changes(settings: &Settings, base: &str, old: &Resolution, new: &Resolution) -> Result<Changes, Error> {
    let [(old_files, old_diags), (new_files, new_diags)] = old.render_differing(new);
    for (diags, r, side) in [
        (old_diags, old, format!("`{base}`")),
        (new_diags, new, "the working tree".to_string()),
    ] {
        if !diags.is_empty() {
            report::diagnostics(settings, &r.sources, &diags);
            return Err(Error::refused(format!(
                "a target at {side} does not render, so its output cannot be compared"
            )));
        }
    }
    Ok(changes::compare(&old_files, &new_files))
}

/// Each changed target with its tier and the reasons for it.
fn affected_targets(
    old: &Resolution,
    new: &Resolution,
    changes: &Changes,
    platform_files: &[String],
) -> Vec<AffectedTarget> {
    let index = |r: &Resolution| -> BTreeMap<String, TargetSummary> {
        r.summaries().into_iter().map(|t| (t.id(), t)).collect()
    };
    let (before, after) = (index(old), index(new));
    let largest = new.largest_size.clone();
    let rollouts = |r: &Resolution| -> HashMap<String, Option<Rollout>> {
        r.targets.iter().map(|t| (t.id(), t.values.rollout.clone())).collect()
    };
    let (old_rollouts, new_rollouts) = (rollouts(old), rollouts(new));
    let mut targets = Vec::new();
    for change in &changes.targets {
        let id = change.id();
        let (Some(summary), previous) = (after.get(&id).or_else(|| before.get(&id)), before.get(&id)) else {
            continue;
        };
        let (mut tier, mut reasons) = target_tier(summary, previous, change.status, largest.as_deref(), platform_files);
        if let (Some(was), Some(now)) = (old_rollouts.get(&id), new_rollouts.get(&id)) {
            let delivery = rollout_reasons(was.as_ref(), now.as_ref());
            if !delivery.is_empty() {
                tier = Approval::Manual;
                reasons.extend(delivery);
            }
        }
        targets.push(AffectedTarget {
            service: summary.service.clone(),
            env: summary.env.clone(),
            region: summary.region.clone(),
            cluster: summary.cluster.clone(),
            namespace: summary.namespace.clone(),
            status: change.status,
            tier,
            env_approval: summary.approval,
            reasons,
            objects: change.objects.clone(),
            files: change.files.clone(),
        });
    }
    targets
}

/// Platform-owned inputs (SPEC §3) that differ between the two sides.
fn changed_platform_files(old: &Sources, new: &Sources) -> Vec<String> {
    let owned = |path: &str| {
        [STAMP_FILE, PROFILES_FILE, SIZES_FILE, ENVIRONMENTS_FILE].contains(&path)
            || path.starts_with("archetypes/")
            || path.starts_with("components/")
            || path.starts_with(crate::policy::POLICIES_DIR)
    };
    let mut paths: Vec<&str> = old
        .iter()
        .chain(new.iter())
        .map(|(p, _)| p)
        .filter(|p| owned(p))
        .collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| old.get(p) != new.get(p))
        .map(String::from)
        .collect()
}

fn target_tier(
    target: &TargetSummary,
    previous: Option<&TargetSummary>,
    status: Status,
    largest: Option<&str>,
    platform_files: &[String],
) -> (Approval, Vec<String>) {
    let mut tier = target.approval;
    let mut reasons = vec![format!("environment `{}` is {}", target.env, target.approval.as_str())];
    if status != Status::Removed {
        if let Some(previous) = previous {
            let enabled: Vec<&String> = target
                .components
                .iter()
                .filter(|c| !previous.components.contains(c))
                .collect();
            if !enabled.is_empty() {
                tier = Approval::Manual;
                let names: Vec<String> = enabled.iter().map(|c| format!("`{c}`")).collect();
                reasons.push(format!("enables component {}", names.join(", ")));
            }
        }
        let was_largest = previous.is_some_and(|p| Some(p.size.as_str()) == largest);
        if Some(target.size.as_str()) == largest && !was_largest {
            tier = Approval::Manual;
            reasons.push(format!("moves to the largest size `{}`", target.size));
        }
    }
    if !platform_files.is_empty() {
        tier = Approval::Manual;
        reasons.push("platform-owned files changed".into());
    }
    (tier, reasons)
}

/// Why a target's rollout change needs the manual tier (SPEC §4): a new
/// strategy, or analysis that lets more through than before.
fn rollout_reasons(was: Option<&Rollout>, now: Option<&Rollout>) -> Vec<String> {
    fn strategy(r: Option<&Rollout>) -> &str {
        r.map_or("rolling", |r| r.strategy.as_str())
    }
    let mut reasons = Vec::new();
    if strategy(was) != strategy(now) {
        reasons.push(format!(
            "changes the rollout strategy from {} to {}",
            strategy(was),
            strategy(now)
        ));
    }
    let Some(was) = was.and_then(|r| r.analysis.as_ref()) else {
        return reasons;
    };
    let Some(now) = now.and_then(|r| r.analysis.as_ref()) else {
        reasons.push("removes the rollout analysis".into());
        return reasons;
    };
    let shown = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    if let Some(before) = was.success_rate
        && now.success_rate.is_none_or(|after| after < before)
    {
        reasons.push(format!(
            "weakens rollout analysis: success_rate {before} → {}",
            shown(now.success_rate.map(|v| v.to_string()))
        ));
    }
    if let Some(before) = was.latency_p99_ms
        && now.latency_p99_ms.is_none_or(|after| after > before)
    {
        reasons.push(format!(
            "weakens rollout analysis: latency_p99_ms {before} → {}",
            shown(now.latency_p99_ms.map(|v| v.to_string()))
        ));
    }
    if now.failure_limit > was.failure_limit {
        reasons.push(format!(
            "weakens rollout analysis: failure_limit {} → {}",
            was.failure_limit, now.failure_limit
        ));
    }
    reasons
}

/// The highest tier of the targets, raised to manual by platform-owned files.
fn change_tier(targets: &[AffectedTarget], platform_files: &[String]) -> (Approval, Vec<String>) {
    let mut by_env: BTreeMap<&str, (Approval, usize)> = BTreeMap::new();
    for t in targets {
        by_env.entry(&t.env).or_insert((t.env_approval, 0)).1 += 1;
    }
    let mut reasons: Vec<String> = by_env
        .iter()
        .map(|(env, (approval, count))| {
            let plural = if *count == 1 { "" } else { "s" };
            format!("environment `{env}` is {} ({count} target{plural})", approval.as_str())
        })
        .collect();
    // Reasons particular to a target (a component enabled, the largest size).
    for t in targets {
        for reason in t
            .reasons
            .iter()
            .filter(|r| !r.starts_with("environment ") && !r.starts_with("platform-owned"))
        {
            reasons.push(format!("{}/{}/{}: {reason}", t.service, t.env, t.region));
        }
    }
    reasons.extend(
        platform_files
            .iter()
            .map(|file| format!("platform-owned file changed: {file}")),
    );
    if targets.is_empty() && platform_files.is_empty() {
        reasons.push("no target's output changes".into());
    }
    let mut tier = targets.iter().map(|t| t.tier).max().unwrap_or(Approval::Auto);
    if !platform_files.is_empty() {
        tier = Approval::Manual;
    }
    (tier, reasons)
}

/// A policy exception the change adds needs the manual tier, even though
/// it changes no output (it lets a target through that would fail).
fn exception_tier(
    old: &Resolution,
    new: &Resolution,
    tier: Approval,
    mut reasons: Vec<String>,
) -> (Approval, Vec<String>) {
    let before = old.policy_exceptions();
    let added: Vec<String> = new
        .policy_exceptions()
        .into_iter()
        .filter(|e| !before.contains(e))
        .map(|(service, rule, env, expires)| {
            let place = env.map_or(String::new(), |env| format!(" in `{env}`"));
            format!("`{service}` adds a policy exception for rule `{rule}`{place} until {expires}")
        })
        .collect();
    if added.is_empty() {
        return (tier, reasons);
    }
    reasons.extend(added);
    (Approval::Manual, reasons)
}

fn text_report(targets: &[AffectedTarget], tier: Approval, reasons: &[String]) -> String {
    let mut out = format!("approval tier: {}\n", tier.as_str());
    for reason in reasons {
        out.push_str(&format!("  - {reason}\n"));
    }
    if targets.is_empty() {
        out.push_str("\nno targets affected\n");
        return out;
    }
    let ids: Vec<String> = targets
        .iter()
        .map(|t| format!("{}/{}/{}", t.service, t.env, t.region))
        .collect();
    let width = ids.iter().map(String::len).max().unwrap_or(0).max("TARGET".len());
    out.push_str(&format!(
        "\n{:width$}  {:7}  {:9}  OBJECTS\n",
        "TARGET", "STATUS", "TIER"
    ));
    for (t, id) in targets.iter().zip(&ids) {
        let o = &t.objects;
        out.push_str(&format!(
            "{id:width$}  {:7}  {:9}  +{} ~{} -{}\n",
            t.status.as_str(),
            t.tier.as_str(),
            o.added.len(),
            o.changed.len(),
            o.removed.len()
        ));
    }
    out.push_str(&format!("\n{} targets affected\n", targets.len()));
    out
}

/// GitHub allows 256 jobs per matrix: one matrix per line, a service's
/// targets never split across two unless it alone has more than `max_jobs`.
fn matrices(targets: &[AffectedTarget], max_jobs: usize) -> Vec<serde_json::Value> {
    let max_jobs = max_jobs.max(1);
    let mut by_service: BTreeMap<&str, Vec<&AffectedTarget>> = BTreeMap::new();
    for t in targets {
        by_service.entry(&t.service).or_default().push(t);
    }
    let mut matrices: Vec<Vec<&AffectedTarget>> = vec![Vec::new()];
    for (_, group) in by_service {
        for chunk in group.chunks(max_jobs) {
            if matrices.last().is_some_and(|m| m.len() + chunk.len() > max_jobs) {
                matrices.push(Vec::new());
            }
            matrices.last_mut().expect("never empty").extend(chunk);
        }
    }
    let mut out = Vec::new();
    for matrix in matrices {
        let include: Vec<_> = matrix
            .iter()
            .map(|t| {
                json!({
                    "service": t.service,
                    "env": t.env,
                    "region": t.region,
                    "cluster": t.cluster,
                    "namespace": t.namespace,
                    "tier": t.tier.as_str(),
                })
            })
            .collect();
        out.push(json!({ "include": include }));
    }
    out
}
