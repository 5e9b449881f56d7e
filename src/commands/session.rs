//! What the commands that read the catalog without building start with: the
//! repo read from disk, and for `explain` and `flags` the catalog parsed and
//! resolved.

use crate::catalog::Catalog;
use crate::cli::Settings;
use crate::compile::{Parsed, parse_and_resolve};
use crate::error::Error;
use crate::load::Sources;
use crate::resolve::Provenance;

/// The repo's inputs, read under the loader's bounds.
pub(crate) fn read_repo(settings: &Settings) -> Result<Sources, Error> {
    Sources::from_dir(&settings.root).map_err(|source| Error::ReadRepo {
        root: settings.shown_root.clone(),
        source,
    })
}

/// The repo read, and every service parsed and resolved (none skipped).
pub(crate) fn resolve_repo(settings: &Settings, provenance: Provenance) -> Result<(Sources, Parsed), Error> {
    let sources = read_repo(settings)?;
    let parsed = parse_and_resolve(&sources, provenance, &|_| false);
    Ok((sources, parsed))
}

/// Every service of the catalog by name, the ones whose file is broken too.
pub(crate) fn service_names(catalog: &Catalog) -> impl Iterator<Item = &str> + Clone {
    catalog
        .services
        .iter()
        .map(|s| s.name.value.as_str())
        .chain(catalog.broken_services.iter().map(String::as_str))
}
