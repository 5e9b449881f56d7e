//! `stamp affected --format markdown`: the pull-request comment (SPEC §7).
//! Tier and reasons first, then per environment the targets and the
//! objects that change in each, the images that move with their soak and
//! rollback state, and the full diff when it is small. Every string from
//! the catalog is escaped, so a service value can never break the comment's
//! structure, and the comment always fits GitHub's limit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use super::target::AffectedTarget;
use crate::catalog::{self, Approval, ENVIRONMENTS_FILE};
use crate::changes::{self, Status};
use crate::compile::Resolution;
use crate::edit::{Pin, declared_images};
use crate::emit::MANIFESTS_FILE;
use crate::image_history::{self, History};
use crate::load::Sources;
use crate::paths::SERVICES_DIR;

/// GitHub's limit on a comment, in characters.
pub(super) const MAX_COMMENT: usize = 65_536;
/// The full diff is shown only up to this size.
const MAX_DIFF: usize = 20_000;
/// Targets listed per environment in a summarised comment.
const SUMMARY_TARGETS: usize = 20;
/// Reasons listed in a summarised comment.
const SUMMARY_REASONS: usize = 20;

pub(super) struct Comment<'a> {
    pub(super) root: &'a Path,
    pub(super) base: &'a str,
    pub(super) tier: Approval,
    pub(super) reasons: &'a [String],
    pub(super) platform_files: &'a [String],
    pub(super) targets: &'a [AffectedTarget],
    pub(super) old: &'a Resolution,
    pub(super) new: &'a Resolution,
}

/// The comment in full when it fits, else without the diff, else summarised.
pub(super) fn markdown(c: &Comment) -> String {
    let envs = environment_order(c);
    let moves = image_moves(c, &envs);
    let diff = full_diff(c.targets);
    let shown_diff = (diff.len() <= MAX_DIFF).then_some(diff.as_str());
    let full = detailed(c, &envs, &moves, shown_diff);
    if full.len() <= MAX_COMMENT {
        return full;
    }
    let lean = detailed(c, &envs, &moves, None);
    if lean.len() <= MAX_COMMENT {
        return lean;
    }
    summarised(c, &envs)
}

/// The environments in promotion order (environments.yaml), then any other.
fn environment_order(c: &Comment) -> Vec<(String, Option<u64>)> {
    let mut sources = Sources::default();
    if let Some(text) = c.new.sources.get(ENVIRONMENTS_FILE) {
        sources.insert(ENVIRONMENTS_FILE, text);
    }
    let (catalog, _) = catalog::parse(&sources);
    let mut envs: Vec<(String, Option<u64>)> = catalog
        .environments
        .items
        .iter()
        .map(|e| (e.name.value.clone(), e.soak.as_ref().map(|s| s.value)))
        .collect();
    for t in c.targets {
        if !envs.iter().any(|(name, _)| *name == t.env) {
            envs.push((t.env.clone(), None));
        }
    }
    envs
}

fn header(c: &Comment, reasons: &[String], out: &mut String) {
    let _ = writeln!(out, "## stamp: approval tier `{}`\n", c.tier.as_str());
    if !c.platform_files.is_empty() {
        out.push_str(
            "**This change touches platform-owned files, so it needs `manual` approval \
             even where no target's output changes.**\n\n",
        );
    }
    for reason in reasons {
        let _ = writeln!(out, "- {}", md(reason));
    }
    if reasons.len() < c.reasons.len() {
        let _ = writeln!(out, "- … and {} more reasons", c.reasons.len() - reasons.len());
    }
    out.push('\n');
}

/// Counts of added, changed and removed targets.
fn counts<'a>(targets: impl Iterator<Item = &'a AffectedTarget>) -> String {
    let mut n = [0usize; 3];
    for t in targets {
        n[t.status as usize] += 1;
    }
    format!("{} added, {} changed, {} removed", n[0], n[1], n[2])
}

fn detailed(c: &Comment, envs: &[(String, Option<u64>)], moves: &[Move], diff: Option<&str>) -> String {
    let mut out = String::new();
    header(c, c.reasons, &mut out);
    if c.targets.is_empty() {
        out.push_str("No target's output changes.\n");
    }
    for (env, _) in envs {
        let here: Vec<&AffectedTarget> = c.targets.iter().filter(|t| t.env == *env).collect();
        if here.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {}: {}\n", md(env), counts(here.iter().copied()));
        for t in here {
            target_lines(t, &mut out);
        }
        out.push('\n');
    }
    if !moves.is_empty() {
        out.push_str(
            "### Images\n\n| service | environment | from | to | soak | rolled back |\n|---|---|---|---|---|---|\n",
        );
        for m in moves {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                md(&m.service),
                md(&m.env),
                md(&m.from),
                md(&m.to),
                md(&m.soak),
                md(&m.rolled_back)
            );
        }
        out.push('\n');
    }
    match diff {
        Some(diff) if !diff.is_empty() => {
            let fence = "`".repeat(longest_backtick_run(diff).max(2) + 1);
            let _ = write!(
                out,
                "<details><summary>Full diff</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n"
            );
        }
        Some(_) => {}
        None => {
            let _ = writeln!(
                out,
                "The full diff is too large to show here: run `stamp diff --base {}`.",
                md(c.base)
            );
        }
    }
    out
}

/// One target: its status, then each object that changes.
fn target_lines(t: &AffectedTarget, out: &mut String) {
    let id = format!("{}/{}/{}", t.service, t.env, t.region);
    let _ = writeln!(out, "- **{}** {} ({})", md(&id), t.status.as_str(), t.tier.as_str());
    let manifests = t.files.iter().find(|f| f.path.ends_with(MANIFESTS_FILE));
    let summaries = manifests.map_or_else(Vec::new, |f| {
        changes::object_summaries(
            &f.path,
            f.old.as_deref().unwrap_or_default(),
            f.new.as_deref().unwrap_or_default(),
        )
    });
    let summary: BTreeMap<&str, &str> = summaries.iter().map(|(k, s)| (k.as_str(), s.as_str())).collect();
    for key in &t.objects.added {
        let _ = writeln!(out, "  - added {}", md(key));
    }
    for key in &t.objects.changed {
        match summary.get(key.as_str()) {
            Some(line) => {
                let _ = writeln!(out, "  - changed {}: {}", md(key), md(line));
            }
            None => {
                let _ = writeln!(out, "  - changed {}", md(key));
            }
        }
    }
    for key in &t.objects.removed {
        let _ = writeln!(out, "  - removed {}", md(key));
    }
}

/// Counts per environment, then the first targets of each.
fn summarised(c: &Comment, envs: &[(String, Option<u64>)]) -> String {
    let mut out = String::new();
    header(c, &c.reasons[..c.reasons.len().min(SUMMARY_REASONS)], &mut out);
    let _ = writeln!(
        out,
        "This change is too large to show in full: {} targets. Run `stamp affected --base {}` for the list \
         and `stamp diff --base {}` for the diff.\n",
        c.targets.len(),
        md(c.base),
        md(c.base)
    );
    for (env, _) in envs {
        let here: Vec<&AffectedTarget> = c.targets.iter().filter(|t| t.env == *env).collect();
        if here.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {}: {}\n", md(env), counts(here.iter().copied()));
        for t in here.iter().take(SUMMARY_TARGETS) {
            let id = format!("{}/{}/{}", t.service, t.env, t.region);
            let o = &t.objects;
            let _ = writeln!(
                out,
                "- **{}** {} (+{} ~{} -{} objects)",
                md(&id),
                t.status.as_str(),
                o.added.len(),
                o.changed.len(),
                o.removed.len()
            );
        }
        if here.len() > SUMMARY_TARGETS {
            let _ = writeln!(out, "- … and {} more", here.len() - SUMMARY_TARGETS);
        }
        out.push('\n');
    }
    // Reasons and names are bounded, but never let the limit be crossed.
    if out.len() > MAX_COMMENT {
        let mut end = MAX_COMMENT - 100;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("\n\n… cut to fit a GitHub comment.\n");
    }
    out
}

fn full_diff(targets: &[AffectedTarget]) -> String {
    let mut out = String::new();
    for file in targets.iter().flat_map(|t| &t.files) {
        let old = file.old.as_deref().unwrap_or_default();
        let new = file.new.as_deref().unwrap_or_default();
        out.push_str(&crate::report::unified_diff(&file.path, old, new, false));
        if out.len() > MAX_DIFF {
            break;
        }
    }
    out
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Text safe anywhere in the comment, table cells included: HTML is
/// inert, markdown punctuation escaped, a line break shown, not taken.
pub(super) fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '\n' => out.push('↵'),
            '\r' | '\t' => out.push(' '),
            c if c.is_ascii_punctuation()
                && !matches!(c, '/' | '.' | ',' | ':' | ';' | '\'' | '"' | '=' | '@' | '?' | '%') =>
            {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An image that moves in one environment of a service.
struct Move {
    service: String,
    env: String,
    from: String,
    to: String,
    soak: String,
    rolled_back: String,
}

/// Every image that moves, once per service and environment, with the
/// soak of the environment it comes from and whether it was rolled back.
fn image_moves(c: &Comment, envs: &[(String, Option<u64>)]) -> Vec<Move> {
    let pins = |r: &Resolution| -> BTreeMap<(String, String), Pin> {
        r.targets
            .iter()
            .map(|t| {
                let pin = Pin {
                    tag: t.values.image.tag.clone(),
                    digest: t.values.image.digest.clone(),
                };
                ((t.service.clone(), t.env.clone()), pin)
            })
            .collect()
    };
    let (before, after) = (pins(c.old), pins(c.new));
    let touched: BTreeSet<(String, String)> = c
        .targets
        .iter()
        .filter(|t| t.status != Status::Removed)
        .map(|t| (t.service.clone(), t.env.clone()))
        .collect();
    let moved: Vec<((String, String), &Pin)> = touched
        .into_iter()
        .filter_map(|key| {
            let to = after.get(&key)?;
            (before.get(&key) != Some(to)).then_some((key, to))
        })
        .collect();
    if moved.is_empty() {
        return Vec::new();
    }
    let services: BTreeSet<&str> = moved.iter().map(|((s, _), _)| s.as_str()).collect();
    let pathspec = match services.iter().next() {
        Some(only) if services.len() == 1 => format!("{SERVICES_DIR}{only}.yaml"),
        _ => SERVICES_DIR.to_string(),
    };
    let history = History::load(c.root, &pathspec);
    moved
        .into_iter()
        .map(|((service, env), to)| {
            let (soak, rolled_back) = match &history {
                Ok(history) => history_notes(c, envs, history, &service, &env, to),
                Err(e) => (format!("unknown: {e}"), format!("unknown: {e}")),
            };
            Move {
                from: before
                    .get(&(service.clone(), env.clone()))
                    .map_or("(new)".into(), Pin::to_string),
                to: to.to_string(),
                service,
                env,
                soak,
                rolled_back,
            }
        })
        .collect()
}

/// Whether `pin` soaked long enough in the environment it comes from (the
/// service's previous one in promotion order), and where it was rolled back.
fn history_notes(
    c: &Comment,
    envs: &[(String, Option<u64>)],
    history: &History,
    service: &str,
    env: &str,
    pin: &Pin,
) -> (String, String) {
    let file = format!("{SERVICES_DIR}{service}.yaml");
    let declared = c
        .new
        .sources
        .get(&file)
        .and_then(|text| declared_images(text).ok())
        .unwrap_or_default();
    let own: Vec<&(String, Option<u64>)> = envs
        .iter()
        .filter(|(name, _)| c.new.targets.iter().any(|t| t.service == service && t.env == *name))
        .collect();
    let at = own.iter().position(|(name, _)| name == env);
    let soak = match at.and_then(|i| i.checked_sub(1)).map(|i| own[i]) {
        None => "first environment: none".to_string(),
        Some((source, _)) if declared.for_env(source).as_ref() != Some(pin) => {
            format!("not promoted from `{source}`")
        }
        Some((source, None)) => format!("`{source}` has no soak"),
        Some((source, Some(soak))) => {
            let runs = history.runs(&file, source, Some(&declared));
            match runs.current() {
                Err(e) => format!("unknown: {e}"),
                Ok(run) => match run.and_then(|r| r.set.as_ref()) {
                    None => format!(
                        "uncommitted in `{source}`; its soak is {}",
                        image_history::duration(*soak)
                    ),
                    Some(set) => {
                        let ran = (image_history::now() - set.time).max(0) as u64;
                        match soak.checked_sub(ran).filter(|left| *left > 0) {
                            None => format!("satisfied in `{source}` ({})", image_history::duration(*soak)),
                            Some(left) => format!(
                                "`{source}` soak of {}: {} remains",
                                image_history::duration(*soak),
                                image_history::duration(left.div_ceil(3600) * 3600)
                            ),
                        }
                    }
                },
            }
        }
    };
    let mut rolled = Vec::new();
    for (name, _) in &own {
        let runs = history.runs(&file, name, Some(&declared));
        if runs.truncated {
            rolled.push(format!("unknown in `{name}`: {}", image_history::FETCH_MORE));
        } else if runs.rolled_back(pin).is_some() {
            rolled.push(format!("yes, in `{name}`"));
        }
    }
    let rolled_back = if rolled.is_empty() {
        "no".to_string()
    } else {
        rolled.join("; ")
    };
    (soak, rolled_back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_cannot_break_the_structure() {
        let hostile = "a\n## b | `c` <details>{{ d }}</details>";
        assert_eq!(
            md(hostile),
            "a↵\\#\\# b &#124; \\`c\\` &lt;details&gt;\\{\\{ d \\}\\}&lt;/details&gt;"
        );
        assert_eq!(longest_backtick_run("a ``` b ````` c"), 5);
    }
}
