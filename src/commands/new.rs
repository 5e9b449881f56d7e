//! `stamp new SERVICE`: a service file that passes the catalog checks.

use std::collections::BTreeMap;

use crate::blueprint;
use crate::catalog::reader::dns_label_problem;
use crate::catalog::{self, Lookup, SERVICES_DIR, Table};
use crate::cli::{NewArgs, Settings};
use crate::compile::parse_and_resolve;
use crate::diagnostic::did_you_mean;
use crate::error::{Error, ExitStatus};
use crate::load::Sources;
use crate::{report, resolve};

pub(crate) fn run(settings: &Settings, new: &NewArgs) -> Result<ExitStatus, Error> {
    let sources = Sources::from_dir(&settings.root).map_err(|source| Error::ReadRepo {
        root: settings.shown_root.clone(),
        source,
    })?;
    let path = format!("{SERVICES_DIR}{}.yaml", new.service);
    let composed =
        compose(&sources, new).map_err(|problems| Error::All(problems.into_iter().map(Error::refused).collect()))?;
    if settings.root.join(&path).exists() {
        return Err(Error::refused(format!(
            "`{path}` already exists; `stamp new` never overwrites a service"
        )));
    }
    // The new file must pass the same checks as the rest of the catalog.
    let mut with_new = sources.clone();
    with_new.insert(path.clone(), composed.text.clone());
    let mut diags = parse_and_resolve(&with_new, resolve::Provenance::Skip, &|_| false).diags;
    diags.retain(|d| d.file == path);
    if !diags.is_empty() {
        // The file was never written: name the argument that set each value.
        let (mut unplaced, mut placed) = (Vec::new(), Vec::new());
        for d in crate::diagnostic::merge(diags) {
            match composed.lines.get(d.pos.line.saturating_sub(1) as usize) {
                Some(Some(arg)) => placed.push((arg, d)),
                _ => unplaced.push(d),
            }
        }
        for (arg, d) in &placed {
            eprintln!("error: {arg}: {}", d.message);
            if let Some(hint) = &d.hint {
                eprintln!("hint: {hint}");
            }
        }
        report::diagnostics(settings, &with_new, &unplaced);
        eprintln!("`{path}` was not written");
        return Ok(ExitStatus::Errors);
    }
    crate::atomic::write_atomic(&settings.root.join(&path), composed.text.as_bytes()).map_err(|source| {
        Error::WriteFile {
            path: path.clone(),
            source,
        }
    })?;
    report::stdout(&composed.text);
    report::status(settings, &format!("wrote `{path}`; run `stamp build` to render it"));
    Ok(ExitStatus::Ok)
}

/// The service file `new` would write, and for each line the command-line
/// argument that set it (as the user would write it), if any.
struct Composed {
    text: String,
    lines: Vec<Option<String>>,
}

impl Composed {
    fn line(&mut self, text: &str, arg: Option<String>) {
        self.text.push_str(text);
        self.text.push('\n');
        self.lines.push(arg);
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

fn compose(sources: &Sources, new: &NewArgs) -> Result<Composed, Vec<String>> {
    let (catalog, _) = catalog::parse(sources);
    let (blueprints, _) = blueprint::parse(sources);
    check_names(&catalog, new)?;
    let (repository, tag) = image(&catalog, new)?;
    check_schedule(&catalog, &blueprints, new)?;
    let archetype = catalog
        .profiles
        .get(&new.profile)
        .and_then(|p| blueprints.archetypes.get(&p.archetype.value));
    Ok(service_file(&catalog, new, archetype, &repository, &tag))
}

fn runs_on_schedule(archetype: &blueprint::Blueprint) -> bool {
    archetype.requires("schedule")
}

/// Each name given must be a DNS label or name an entry of the catalog.
fn check_names(catalog: &catalog::Catalog, new: &NewArgs) -> Result<(), Vec<String>> {
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
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// The image repository and tag: `--image`, or the registry most services use.
fn image(catalog: &catalog::Catalog, new: &NewArgs) -> Result<(String, String), Vec<String>> {
    match &new.image {
        Some(image) => match image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
            Some((repository, tag)) => Ok((repository.to_string(), tag.to_string())),
            None => Err(vec![format!("--image `{image}` needs a tag: `repository:tag`")]),
        },
        None => Ok((
            format!("{}/{}", registry_prefix(catalog), new.service),
            "0.1.0".to_string(),
        )),
    }
}

/// `--schedule` only with a profile whose archetype runs on one.
fn check_schedule(
    catalog: &catalog::Catalog,
    blueprints: &blueprint::Blueprints,
    new: &NewArgs,
) -> Result<(), Vec<String>> {
    let profile = catalog.profiles.get(&new.profile);
    let archetype = profile.and_then(|p| blueprints.archetypes.get(&p.archetype.value));
    if let (Some(schedule), Some(profile), Some(archetype)) = (&new.schedule, profile, archetype)
        && !runs_on_schedule(archetype)
    {
        let scheduled: Vec<String> = catalog
            .profiles
            .items
            .iter()
            .filter(|p| {
                blueprints
                    .archetypes
                    .get(&p.archetype.value)
                    .is_some_and(runs_on_schedule)
            })
            .map(|p| format!("`{}`", p.name.value))
            .collect();
        let mut problem = format!(
            "--schedule `{schedule}`: profile `{}` ({}:{}:{}) uses archetype `{}`, which runs on no schedule",
            new.profile, catalog.profiles.file, profile.name.pos.line, profile.name.pos.col, archetype.name
        );
        problem.push_str(&match scheduled.as_slice() {
            [] => "\nhint: leave out `--schedule`".to_string(),
            some => format!(
                "\nhint: leave out `--schedule`, or use a profile that runs on one: {}",
                some.join(", ")
            ),
        });
        return Err(vec![problem]);
    }
    Ok(())
}

/// The service file's lines, each with the argument that set it.
fn service_file(
    catalog: &catalog::Catalog,
    new: &NewArgs,
    archetype: Option<&blueprint::Blueprint>,
    repository: &str,
    tag: &str,
) -> Composed {
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
    let image_arg = Some(match &new.image {
        Some(image) => format!("--image `{image}`"),
        None => format!("the default image `{repository}:{tag}` (set one with --image)"),
    });
    let mut file = Composed {
        text: String::new(),
        lines: Vec::new(),
    };
    file.line(
        &format!("name: {}", new.service),
        Some(format!("SERVICE `{}`", new.service)),
    );
    file.line(
        &format!("profile: {}", new.profile),
        Some(format!("--profile `{}`", new.profile)),
    );
    file.line(&format!("size: {}", new.size), Some(format!("--size `{}`", new.size)));
    let env_arg = match new.envs.as_slice() {
        [] => "every environment (the default; pick some with --env)".to_string(),
        envs => envs
            .iter()
            .map(|e| format!("--env `{e}`"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    file.line(&format!("environments: [{}]", envs.join(", ")), Some(env_arg));
    file.line("image:", image_arg.clone());
    file.line(&format!("  repository: {repository}"), image_arg.clone());
    let tag = serde_json::to_string(&tag).expect("strings serialize");
    file.line(&format!("  tag: {tag}"), image_arg);
    match &new.schedule {
        Some(schedule) => file.line(
            &format!(
                "schedule: {}",
                serde_json::to_string(schedule).expect("strings serialize")
            ),
            Some(format!("--schedule `{schedule}`")),
        ),
        None if archetype.is_some_and(runs_on_schedule) => file.line(
            "schedule: \"0 3 * * *\"          # daily at 03:00; change as needed",
            Some("the default schedule (set one with --schedule)".to_string()),
        ),
        None => {}
    }
    file.line("owners:", Some(format!("--team `{}`", new.team)));
    file.line(&format!("  team: {}", new.team), Some(format!("--team `{}`", new.team)));
    file
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
