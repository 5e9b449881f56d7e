//! One file per subcommand. `build` and `check` return
//! `Result<ExitStatus, Error>`; the others still return the exit code.

pub mod affected;
pub mod build;
pub mod check;
pub mod diff;
pub mod explain;
pub mod init;
pub mod new;
pub mod policy;
pub mod validate;
pub mod watch;

/// Exit codes from SPEC §3, for the commands not yet on `ExitStatus`.
pub const OK: i32 = 0;
pub const ERRORS: i32 = 2;
