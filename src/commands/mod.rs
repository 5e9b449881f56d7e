//! One file per subcommand; each returns the process exit code.

pub mod affected;
pub mod build;
pub mod check;
pub mod diff;
pub mod explain;
pub mod init;
pub mod new;
pub mod validate;
pub mod watch;

/// Exit codes from SPEC §3.
pub const OK: i32 = 0;
pub const DRIFT: i32 = 1;
pub const ERRORS: i32 = 2;
