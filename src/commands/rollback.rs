//! `stamp rollback SERVICE --env ENV [--to REV]`: sets the environment's
//! image back to what it declared at REV, or to the version before the
//! current one in the service file's history (with a soak, the most recent
//! earlier one that stayed that long), edited in place like `promote`.

use crate::cli::Settings;
use crate::commands::promote::{self, Loaded, Refused};
use crate::edit::{self, Pin};
use crate::error::{Error, ExitStatus};
use crate::git;
use crate::image_history;

pub(crate) fn run(settings: &Settings, service: &str, env: &str, to: Option<&str>) -> Result<ExitStatus, Error> {
    let loaded = match promote::load(settings, service)? {
        Ok(loaded) => loaded,
        Err(status) => return Ok(status),
    };
    let planned = loaded.environment(env).and_then(|_| match to {
        Some(rev) => at_revision(settings, &loaded, env, rev),
        None => previous(settings, &loaded, env),
    });
    match planned {
        Ok((pin, why)) => promote::write_and_build(settings, &loaded, env, &pin, &why),
        Err(refused) => Ok(refused.report()),
    }
}

/// What `env` declared at git revision `rev`.
fn at_revision(settings: &Settings, loaded: &Loaded, env: &str, rev: &str) -> Result<(Pin, String), Refused> {
    let file = &loaded.service().file;
    let commit = git::commit_of(&settings.root, rev)
        .map_err(Refused::new)?
        .ok_or_else(|| {
            Refused::new(format!("git revision `{rev}` does not exist here"))
                .hint("in a shallow clone, fetch more history (`git fetch --unshallow`)")
        })?;
    let text = git::file_at(&settings.root, &commit, file)
        .map_err(Refused::new)?
        .ok_or_else(|| Refused::new(format!("`{file}` does not exist at `{rev}`")))?;
    let declared = String::from_utf8(text)
        .ok()
        .and_then(|t| edit::declared_images(&t).ok())
        .ok_or_else(|| Refused::new(format!("`{file}` at `{rev}` is not a readable service file")))?;
    let pin = declared
        .for_env(env)
        .ok_or_else(|| Refused::new(format!("`{file}` at `{rev}` declares no image for `{env}`")))?;
    Ok((pin, format!("as at `{rev}`")))
}

/// The version `env` ran before the current one.
fn previous(settings: &Settings, loaded: &Loaded, env: &str) -> Result<(Pin, String), Refused> {
    let history = promote::history(settings, &loaded.service().file)?;
    let environment = loaded.environment(env)?;
    let soak = environment.soak.as_ref().map(|s| s.value);
    let runs = history.runs(&loaded.service().file, env, Some(&loaded.declared));
    let run = runs
        .previous(soak, image_history::now())
        .map_err(|e| Refused::new(format!("cannot find the version `{env}` ran before: {e}")))?
        .ok_or_else(|| {
            let soaked = match soak {
                Some(soak) => format!(" that stayed there {}", image_history::duration(soak)),
                None => String::new(),
            };
            Refused::new(format!(
                "`{env}` has no earlier version{soaked} in the history of `{}`",
                loaded.service().file
            ))
            .hint("name a revision with `--to REV`")
        })?;
    let why = match &run.set {
        Some(set) => format!(
            "the version before, set in {} at {}",
            &set.commit[..12.min(set.commit.len())],
            image_history::utc(set.time)
        ),
        None => "the version before".to_string(),
    };
    Ok((run.pin.clone(), why))
}
