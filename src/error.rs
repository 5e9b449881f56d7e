//! Failures that stop a command before it can report diagnostics: the repo
//! cannot be read, locked or written, or the command line asks for something
//! stamp refuses. Problems a user fixes in the catalog are `Diagnostic`s
//! instead; `lib::run` turns either into the exit code once.

use std::fmt;
use std::path::PathBuf;

/// How a command ended, as SPEC §3 maps it to the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    Ok,
    /// `check`: the committed output differs from what the catalog renders.
    Drift,
    /// Diagnostics were reported.
    Errors,
}

impl ExitStatus {
    pub(crate) fn code(self) -> i32 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Drift => 1,
            ExitStatus::Errors => 2,
        }
    }

    /// `Errors` when any diagnostic was reported, else `Ok`.
    pub(crate) fn from_errors(errors: bool) -> ExitStatus {
        if errors { ExitStatus::Errors } else { ExitStatus::Ok }
    }
}

#[derive(Debug)]
pub(crate) enum Error {
    ReadRepo {
        root: PathBuf,
        source: std::io::Error,
    },
    Lock {
        file: &'static str,
        source: std::io::Error,
    },
    WriteOutput {
        source: std::io::Error,
    },
    ReadGenerated {
        source: std::io::Error,
    },
    /// One file a command writes outside `generated/` (`new`, `init`).
    WriteFile {
        path: String,
        source: std::io::Error,
    },
    /// Reading a revision from git failed; the message names the revision.
    Git(String),
    /// `watch` could not set up: `action` is what it tried.
    Watch {
        action: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The command line asks for what stamp refuses (an unknown service, a
    /// file that exists, a catalog with errors to compare).
    Refused {
        message: String,
        hint: Option<String>,
    },
    /// Several refusals, each printed as its own `error:`.
    All(Vec<Error>),
}

impl Error {
    pub(crate) fn refused(message: impl Into<String>) -> Error {
        Error::Refused {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Refused {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ReadRepo { root, source } => write!(f, "cannot read the repo at `{}`: {source}", root.display()),
            Error::Lock { file, source } => write!(f, "cannot lock `{file}`: {source}"),
            Error::WriteOutput { source } => write!(f, "cannot write the output: {source}"),
            Error::ReadGenerated { source } => write!(f, "cannot read `generated/`: {source}"),
            Error::WriteFile { path, source } => write!(f, "cannot write `{path}`: {source}"),
            Error::Git(message) => f.write_str(message),
            Error::Watch { action, source } => write!(f, "cannot {action}: {source}"),
            Error::Refused { message, hint } => {
                f.write_str(message)?;
                match hint {
                    Some(hint) => write!(f, "\nhint: {hint}"),
                    None => Ok(()),
                }
            }
            Error::All(errors) => {
                for (i, error) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\nerror: ")?;
                    }
                    write!(f, "{error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ReadRepo { source, .. }
            | Error::Lock { source, .. }
            | Error::WriteOutput { source }
            | Error::ReadGenerated { source }
            | Error::WriteFile { source, .. } => Some(source),
            Error::Watch { source, .. } => Some(source.as_ref()),
            Error::Git(_) | Error::Refused { .. } | Error::All(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_refusals_print_as_one_error_line_each() {
        let all = Error::All(vec![Error::refused("one"), Error::with_hint("two", "try this")]);
        assert_eq!(format!("error: {all}"), "error: one\nerror: two\nhint: try this");
    }
}
