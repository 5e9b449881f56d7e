//! `stamp new SERVICE`: a service file that passes the catalog checks.

use std::collections::BTreeMap;

use crate::blueprint;
use crate::catalog::reader::dns_label_problem;
use crate::catalog::{self, Lookup, SERVICES_DIR, Table};
use crate::cli::{NewArgs, Settings};
use crate::commands::{ERRORS, OK};
use crate::compile::parse_and_resolve;
use crate::diagnostic::did_you_mean;
use crate::load::Sources;
use crate::{report, resolve, write};

pub fn run(settings: &Settings, new: &NewArgs) -> i32 {
    let sources = match Sources::from_dir(&settings.root) {
        Ok(sources) => sources,
        Err(e) => {
            eprintln!("error: cannot read the repo at `{}`: {e}", settings.root.display());
            return ERRORS;
        }
    };
    let path = format!("{SERVICES_DIR}{}.yaml", new.service);
    match compose(&sources, new) {
        Err(problems) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            ERRORS
        }
        Ok(text) if settings.root.join(&path).exists() => {
            let _ = text;
            eprintln!("error: `{path}` already exists; `stamp new` never overwrites a service");
            ERRORS
        }
        Ok(text) => {
            // The new file must pass the same checks as the rest of the catalog.
            let mut with_new = sources.clone();
            with_new.insert(path.clone(), text.clone());
            let mut diags = parse_and_resolve(&with_new, resolve::Provenance::Skip, &|_| false).diags;
            diags.retain(|d| d.file == path);
            if !diags.is_empty() {
                report::diagnostics(settings, &with_new, &diags);
                return ERRORS;
            }
            if let Err(e) = write::write_atomic(&settings.root.join(&path), text.as_bytes()) {
                eprintln!("error: cannot write `{path}`: {e}");
                return ERRORS;
            }
            report::stdout(&text);
            report::status(settings, &format!("wrote `{path}`; run `stamp build` to render it"));
            OK
        }
    }
}

/// A name checked against a catalog table, with a did-you-mean.
fn check<T>(table: &Table<T>, flag: &str, name: &str, problems: &mut Vec<String>) {
    if let Lookup::Missing = table.lookup(name) {
        let mut problem = format!("{flag} `{name}` is not in `{}`", table.file);
        if let Some(best) = did_you_mean(name, table.names()) {
            problem.push_str(&format!("\nhint: did you mean `{best}`?"));
        }
        problems.push(problem);
    }
}

fn compose(sources: &Sources, new: &NewArgs) -> Result<String, Vec<String>> {
    let (catalog, _) = catalog::parse(sources);
    let (blueprints, _) = blueprint::parse(sources);
    let mut problems = Vec::new();
    if let Some(problem) = dns_label_problem(&new.service) {
        problems.push(format!(
            "service name `{}` is not a DNS-1123 label: {problem}",
            new.service
        ));
    }
    check(&catalog.profiles, "--profile", &new.profile, &mut problems);
    check(&catalog.sizes, "--size", &new.size, &mut problems);
    check(&catalog.teams, "--team", &new.team, &mut problems);
    for env in &new.envs {
        check(&catalog.environments, "--env", env, &mut problems);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let envs: Vec<&str> = if new.envs.is_empty() {
        catalog
            .environments
            .items
            .iter()
            .map(|e| e.name.value.as_str())
            .collect()
    } else {
        new.envs.iter().map(String::as_str).collect()
    };
    let (repository, tag) = match &new.image {
        Some(image) => match image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
            Some((repository, tag)) => (repository.to_string(), tag.to_string()),
            None => return Err(vec![format!("--image `{image}` needs a tag: `repository:tag`")]),
        },
        None => (
            format!("{}/{}", registry_prefix(&catalog), new.service),
            "0.1.0".to_string(),
        ),
    };
    let needs_schedule = catalog
        .profiles
        .get(&new.profile)
        .and_then(|p| blueprints.archetypes.get(&p.archetype.value))
        .is_some_and(|a| a.requires("schedule"));
    let mut text = format!(
        "name: {}\nprofile: {}\nsize: {}\nenvironments: [{}]\nimage:\n  repository: {repository}\n  tag: {}\n",
        new.service,
        new.profile,
        new.size,
        envs.join(", "),
        serde_json::to_string(&tag).expect("strings serialize"),
    );
    match (&new.schedule, needs_schedule) {
        (Some(schedule), _) => text.push_str(&format!(
            "schedule: {}\n",
            serde_json::to_string(schedule).expect("strings serialize")
        )),
        (None, true) => text.push_str("schedule: \"0 3 * * *\"          # daily at 03:00; change as needed\n"),
        (None, false) => {}
    }
    text.push_str(&format!("owners:\n  team: {}\n", new.team));
    Ok(text)
}

/// The registry prefix most services use (`ghcr.io/acme`), for a new image.
fn registry_prefix(catalog: &catalog::Catalog) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for service in &catalog.services {
        if let Some(prefix) = service
            .layer
            .image_repository
            .as_ref()
            .and_then(|r| r.value.rsplit_once('/'))
        {
            *counts.entry(prefix.0).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(prefix, count)| (*count, std::cmp::Reverse(*prefix)))
        .map_or_else(|| "registry.example.com".to_string(), |(prefix, _)| prefix.to_string())
}
