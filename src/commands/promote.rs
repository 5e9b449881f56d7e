//! `stamp promote SERVICE --to ENV [--from ENV] [--force]`: copies the image
//! (tag and digest together) one environment declares into
//! `overrides.<ENV>.image` of the service file, edited in place
//! (`crate::edit`), then builds. Soak and rollback history come from git
//! (`crate::image_history`). Shared with `rollback`: loading the service,
//! checking names, and writing the edit.

use crate::catalog::{Catalog, Environment, SERVICES_DIR, Service};
use crate::cli::Settings;
use crate::commands::session;
use crate::compile::Cache;
use crate::diagnostic::did_you_mean;
use crate::edit::{self, Declared, Pin};
use crate::error::{Error, ExitStatus};
use crate::image_history::{self, History};
use crate::report;

/// A refusal: the message, and a hint when there is one. Nothing was changed.
pub(crate) struct Refused {
    message: String,
    hint: Option<String>,
}

impl Refused {
    pub(crate) fn new(message: impl Into<String>) -> Refused {
        Refused {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Refused {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn report(&self) -> ExitStatus {
        eprintln!("error: {}", self.message);
        if let Some(hint) = &self.hint {
            eprintln!("hint: {hint}");
        }
        ExitStatus::Errors
    }
}

/// One service, read for an edit: its file's text and what it declares.
pub(crate) struct Loaded {
    pub(crate) catalog: Catalog,
    pub(crate) text: String,
    pub(crate) declared: Declared,
    service: usize,
}

impl Loaded {
    pub(crate) fn service(&self) -> &Service {
        &self.catalog.services[self.service]
    }

    /// The service's environments in promotion order (environments.yaml order).
    pub(crate) fn environments(&self) -> Vec<&Environment> {
        let listed = &self.service().environments;
        self.catalog
            .environments
            .items
            .iter()
            .filter(|e| listed.iter().any(|l| l.value == e.name.value))
            .collect()
    }

    /// The environment `name` of this service, or why not.
    pub(crate) fn environment(&self, name: &str) -> Result<&Environment, Refused> {
        let envs = self.environments();
        if let Some(env) = envs.iter().find(|e| e.name.value == name) {
            return Ok(env);
        }
        let known = envs.iter().map(|e| e.name.value.as_str());
        let service = &self.service().name.value;
        let mut refused = match self.catalog.environments.get(name) {
            Some(_) => Refused::new(format!("service `{service}` does not deploy to environment `{name}`")),
            None => Refused::new(format!("environment `{name}` is not in `catalog/environments.yaml`")),
        };
        if let Some(best) = did_you_mean(name, known.clone()) {
            refused = refused.hint(format!("did you mean `{best}`?"));
        } else {
            refused = refused.hint(format!("`{service}` deploys to {}", list(known)));
        }
        Err(refused)
    }

    /// What the working tree's file declares for `env`.
    pub(crate) fn pin(&self, env: &str) -> Option<Pin> {
        self.declared.for_env(env)
    }
}

/// `a`, `b`, `c` in backticks.
fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// Reads the repo and the service; a broken catalog or service file is
/// reported with its diagnostics (nothing is edited on top of an error).
pub(crate) fn load(settings: &Settings, name: &str) -> Result<Result<Loaded, ExitStatus>, Error> {
    let sources = session::read_repo(settings)?;
    let (catalog, diags) = crate::catalog::parse(&sources);
    let file = format!("{SERVICES_DIR}{name}.yaml");
    let Some(index) = catalog.services.iter().position(|s| s.name.value == name) else {
        if catalog.broken_services.contains(name) {
            let own: Vec<_> = diags.into_iter().filter(|d| d.file == file).collect();
            report::diagnostics(settings, &sources, &own);
            return Ok(Err(ExitStatus::Errors));
        }
        let known = catalog.services.iter().map(|s| s.name.value.as_str());
        let mut refused = Refused::new(format!("service `{name}` is not in `{SERVICES_DIR}`"));
        if let Some(best) = did_you_mean(name, known) {
            refused = refused.hint(format!("did you mean `{best}`?"));
        }
        return Ok(Err(refused.report()));
    };
    // Only what the edit reads must be sound: environments.yaml and the file.
    let blocking: Vec<_> = diags
        .into_iter()
        .filter(|d| d.file == file || d.file == catalog.environments.file)
        .collect();
    if !blocking.is_empty() || catalog.environments.file_broken {
        report::diagnostics(settings, &sources, &blocking);
        return Ok(Err(ExitStatus::Errors));
    }
    let text = sources.get(&file).unwrap_or_default().to_string();
    let declared = edit::declared_images(&text).unwrap_or_default();
    Ok(Ok(Loaded {
        catalog,
        text,
        declared,
        service: index,
    }))
}

/// Reads the history of one service file, or why it cannot.
pub(crate) fn history(settings: &Settings, file: &str) -> Result<History, Refused> {
    History::load(&settings.root, file).map_err(Refused::new)
}

/// Writes `pin` as `env`'s image, says what changed, then builds.
pub(crate) fn write_and_build(
    settings: &Settings,
    loaded: &Loaded,
    env: &str,
    pin: &Pin,
    why: &str,
) -> Result<ExitStatus, Error> {
    let file = &loaded.service().file;
    let before = loaded.pin(env);
    if before.as_ref() == Some(pin) {
        report::stdout(&format!("{file}: `{env}` already runs {pin}; nothing changed\n"));
        return Ok(ExitStatus::Ok);
    }
    let edited = match edit::set_env_image(&loaded.text, env, pin, loaded.declared.image.as_ref()) {
        Ok(edited) => edited,
        Err(refusal) => {
            return Ok(Refused::new(format!("{file}:{}: {}", refusal.line, refusal.message))
                .hint("the file is unchanged")
                .report());
        }
    };
    crate::atomic::write_atomic(&settings.root.join(file), edited.as_bytes())
        .map_err(|source| Error::WriteOutput { source })?;
    let before = before.map_or_else(|| "nothing".to_string(), |p| p.to_string());
    let removed = if loaded.declared.image.as_ref() == Some(pin) {
        " (the service's own image: its pin is removed)"
    } else {
        ""
    };
    report::stdout(&format!("{file}: `{env}` {before} -> {pin} ({why}){removed}\n"));
    crate::commands::build::run(settings, Cache::Use, None)
}

pub(crate) fn run(
    settings: &Settings,
    service: &str,
    to: &str,
    from: Option<&str>,
    force: bool,
) -> Result<ExitStatus, Error> {
    let loaded = match load(settings, service)? {
        Ok(loaded) => loaded,
        Err(status) => return Ok(status),
    };
    match plan(settings, &loaded, to, from, force) {
        Ok((pin, why)) => write_and_build(settings, &loaded, to, &pin, &why),
        Err(refused) => Ok(refused.report()),
    }
}

/// The version to promote and where it comes from, after the soak and
/// rollback checks (skipped with `--force`).
fn plan(
    settings: &Settings,
    loaded: &Loaded,
    to: &str,
    from: Option<&str>,
    force: bool,
) -> Result<(Pin, String), Refused> {
    let target = loaded.environment(to)?;
    let source = match from {
        Some(from) => loaded.environment(from)?,
        None => {
            let envs = loaded.environments();
            let at = envs
                .iter()
                .position(|e| e.name.value == target.name.value)
                .expect("found above");
            *at.checked_sub(1).map(|i| &envs[i]).ok_or_else(|| {
                Refused::new(format!(
                    "nothing to promote from: `{to}` is the first environment of `{}`",
                    loaded.service().name.value
                ))
                .hint("name one with `--from ENV`")
            })?
        }
    };
    if source.name.value == target.name.value {
        return Err(Refused::new(format!("`--from` and `--to` both name `{to}`")));
    }
    let from_name = source.name.value.as_str();
    let pin = loaded.pin(from_name).ok_or_else(|| {
        Refused::new(format!(
            "nothing to promote from: `{from_name}` declares no image tag in `{}`",
            loaded.service().file
        ))
    })?;
    let why = format!("from `{from_name}`");
    if force {
        return Ok((pin, why + ", forced"));
    }
    if loaded.pin(to).as_ref() == Some(&pin) {
        return Ok((pin, why));
    }
    let file = &loaded.service().file;
    let history = history(settings, file)?;
    check_soak(&history, loaded, source, &pin)?;
    for env in loaded.environments() {
        let runs = history.runs(file, &env.name.value, Some(&loaded.declared));
        if runs.truncated {
            return Err(Refused::new(format!(
                "cannot tell whether {pin} was rolled back: {}",
                image_history::FETCH_MORE
            )));
        }
        if let Some(replaced) = runs.rolled_back(&pin) {
            let by = match &replaced.set {
                Some(s) => format!(
                    "in commit {} by {} at {}",
                    &s.commit[..12.min(s.commit.len())],
                    s.author,
                    image_history::utc(s.time)
                ),
                None => "by an uncommitted change".to_string(),
            };
            return Err(
                Refused::new(format!("{pin} was rolled back in `{}` {by}", env.name.value))
                    .hint("promote it anyway with `--force` once the reason is fixed"),
            );
        }
    }
    Ok((pin, why))
}

/// Refuses a version that has not run in `source` for its soak yet.
fn check_soak(history: &History, loaded: &Loaded, source: &Environment, pin: &Pin) -> Result<(), Refused> {
    let Some(soak) = &source.soak else {
        return Ok(());
    };
    let name = &source.name.value;
    let runs = history.runs(&loaded.service().file, name, Some(&loaded.declared));
    let current = runs
        .current()
        .map_err(|e| Refused::new(format!("cannot tell how long {pin} has run in `{name}`: {e}")))?;
    let soak_text = image_history::duration(soak.value);
    let since = match current.and_then(|r| r.set.as_ref()) {
        None => {
            return Err(Refused::new(format!(
                "{pin} is an uncommitted change in `{name}`, which has a soak of {soak_text}"
            ))
            .hint("commit it and let it soak, or promote anyway with `--force`"));
        }
        Some(set) => set.time,
    };
    if image_history::now() - since < soak.value as i64 {
        return Err(Refused::new(format!(
            "{pin} has run in `{name}` since {}, less than its soak of {soak_text}",
            image_history::utc(since)
        ))
        .hint("wait, or promote anyway with `--force`"));
    }
    Ok(())
}
