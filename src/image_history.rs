//! What each environment of a service declared over time, read from the
//! service files' first-parent git history in one walk: when a version
//! started in an environment and who set it (`versions`, soak checks), which
//! versions were rolled back (`promote`), and the one before (`rollback`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rayon::prelude::*;

use crate::edit::{Declared, Pin, declared_images};
use crate::git;

/// One version's stay in an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) pin: Pin,
    /// The commit that set it; None for an uncommitted change (it counts as now).
    pub(crate) set: Option<Setter>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setter {
    pub(crate) commit: String,
    /// Committer time, seconds since the epoch.
    pub(crate) time: i64,
    pub(crate) author: String,
}

/// One committed state of a service file.
struct Version {
    setter: Setter,
    /// None when the commit deleted the file or it does not parse.
    declared: Option<Declared>,
}

/// The histories of the service files.
pub(crate) struct History {
    /// Per path, oldest first.
    files: HashMap<String, Vec<Version>>,
    /// Paths whose history a shallow clone cuts short.
    truncated: BTreeSet<String>,
}

/// The runs of one environment, oldest first, and whether older ones may be
/// missing (a shallow clone).
pub(crate) struct Runs {
    pub(crate) runs: Vec<Run>,
    pub(crate) truncated: bool,
}

/// Why a history question has no answer.
pub(crate) const FETCH_MORE: &str = "this is a shallow clone and the history it needs is missing; fetch more history (`git fetch --unshallow`, or `fetch-depth: 0` in CI)";

impl History {
    /// Reads the history of every file under `pathspec` (`catalog/services/`,
    /// or one service file) in one `git log` walk and one batch of blob reads.
    pub(crate) fn load(root: &Path, pathspec: &str) -> Result<History, String> {
        if git::commit_of(root, "HEAD")?.is_none() {
            return Err("there is no git history here (no commit at HEAD); promote, rollback and `versions --format json` read the service files' history".into());
        }
        let boundaries = git::shallow_boundaries(root)?;
        let mut changes = git::first_parent_changes(root, pathspec)?;
        changes.reverse();
        let blobs: Vec<&str> = changes.iter().filter_map(|c| c.blob.as_deref()).collect();
        let texts = git::cat_blobs(root, blobs.into_iter())?;
        // Thousands of files times their versions: parse on every core.
        let mut parsed = texts
            .into_par_iter()
            .map(|text| String::from_utf8(text).ok().and_then(|t| declared_images(&t).ok()))
            .collect::<Vec<_>>()
            .into_iter();
        let mut files: HashMap<String, Vec<Version>> = HashMap::new();
        let mut truncated = BTreeSet::new();
        for change in changes {
            let declared = match &change.blob {
                Some(_) => parsed.next().ok_or("git cat-file ended early")?,
                None => None,
            };
            let versions = files.entry(change.path.clone()).or_default();
            if versions.is_empty() && boundaries.contains(&change.commit) {
                truncated.insert(change.path.clone());
            }
            versions.push(Version {
                setter: Setter {
                    commit: change.commit,
                    time: change.time,
                    author: change.author,
                },
                declared,
            });
        }
        Ok(History { files, truncated })
    }

    /// The versions `env` ran from `path`, oldest first, ending with what the
    /// working tree (`current`) declares when that differs from the last commit.
    pub(crate) fn runs(&self, path: &str, env: &str, current: Option<&Declared>) -> Runs {
        let mut runs: Vec<Run> = Vec::new();
        let mut last: Option<Pin> = None;
        for version in self.files.get(path).map(Vec::as_slice).unwrap_or_default() {
            let pin = version.declared.as_ref().and_then(|d| d.for_env(env));
            if let Some(pin) = &pin
                && Some(pin) != last.as_ref()
            {
                runs.push(Run {
                    pin: pin.clone(),
                    set: Some(version.setter.clone()),
                });
            }
            last = pin;
        }
        if let Some(now) = current.and_then(|d| d.for_env(env))
            && Some(&now) != last.as_ref()
        {
            runs.push(Run { pin: now, set: None });
        }
        Runs {
            runs,
            truncated: self.truncated.contains(path),
        }
    }
}

impl Runs {
    /// The run in force now, and whether its start is known: in a shallow
    /// clone the oldest run may have started before the history begins.
    pub(crate) fn current(&self) -> Result<Option<&Run>, &'static str> {
        if self.truncated && self.runs.len() == 1 && self.runs[0].set.is_some() {
            return Err(FETCH_MORE);
        }
        Ok(self.runs.last())
    }

    /// Whether `pin` ran here and was replaced by a version that ran here
    /// before it: the run that replaced it, if so.
    pub(crate) fn rolled_back(&self, pin: &Pin) -> Option<&Run> {
        let mut seen: Vec<&Pin> = Vec::new();
        for pair in self.runs.windows(2) {
            seen.push(&pair[0].pin);
            if &pair[0].pin == pin && seen[..seen.len() - 1].contains(&&pair[1].pin) {
                return Some(&pair[1]);
            }
        }
        None
    }

    /// The version before the current one; with a soak, the most recent
    /// earlier one that stayed at least `soak` seconds.
    pub(crate) fn previous(&self, soak: Option<u64>, now: i64) -> Result<Option<&Run>, &'static str> {
        let Some(current) = self.runs.last() else {
            return Ok(None);
        };
        for i in (0..self.runs.len() - 1).rev() {
            let run = &self.runs[i];
            if run.pin == current.pin {
                continue;
            }
            let start = run.set.as_ref().map_or(now, |s| s.time);
            let end = self.runs[i + 1].set.as_ref().map_or(now, |s| s.time);
            let long_enough = soak.is_none_or(|soak| end - start >= soak as i64);
            // The oldest run of a cut-short history may have started earlier.
            if long_enough || (i == 0 && self.truncated) {
                if i == 0 && self.truncated && !long_enough {
                    return Err(FETCH_MORE);
                }
                return Ok(Some(run));
            }
        }
        if self.truncated {
            return Err(FETCH_MORE);
        }
        Ok(None)
    }
}

/// Seconds since the epoch now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `2026-01-02T10:00:00Z` for seconds since the epoch.
pub(crate) fn utc(seconds: i64) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `24h`, `90m`, `3d` for a number of seconds: the largest whole unit,
/// days only from two of them (a day's soak reads as `24h`).
pub(crate) fn duration(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= size * u64::from(unit == "d") * 2 && seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tag: &str, time: i64) -> Run {
        Run {
            pin: Pin {
                tag: tag.into(),
                digest: None,
            },
            set: Some(Setter {
                commit: format!("c{time}"),
                time,
                author: "a".into(),
            }),
        }
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_767_348_000), "2026-01-02T10:00:00Z");
        assert_eq!(duration(86_400), "24h");
        assert_eq!(duration(3 * 86_400), "3d");
        assert_eq!(duration(5400), "90m");
    }

    #[test]
    fn a_version_replaced_by_an_earlier_one_was_rolled_back() {
        let runs = Runs {
            runs: vec![run("1", 0), run("2", 10), run("1", 20), run("3", 30)],
            truncated: false,
        };
        assert_eq!(runs.rolled_back(&run("2", 0).pin), Some(&runs.runs[2]));
        assert_eq!(runs.rolled_back(&run("1", 0).pin), None);
        assert_eq!(runs.rolled_back(&run("3", 0).pin), None);
    }

    #[test]
    fn the_previous_version_is_one_that_soaked() {
        let runs = Runs {
            runs: vec![run("1", 0), run("2", 100), run("3", 110), run("4", 200)],
            truncated: false,
        };
        assert_eq!(runs.previous(None, 300).unwrap().unwrap().pin.tag, "3");
        assert_eq!(runs.previous(Some(50), 300).unwrap().unwrap().pin.tag, "3");
        assert_eq!(runs.previous(Some(95), 300).unwrap().unwrap().pin.tag, "1");
        assert_eq!(runs.previous(Some(500), 300).unwrap(), None);
        let cut = Runs {
            truncated: true,
            ..runs
        };
        assert_eq!(cut.previous(Some(500), 300), Err(FETCH_MORE));
    }
}
