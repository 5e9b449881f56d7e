//! Stage timings on stderr when `STAMP_TIMINGS` is set: where a run's time goes.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("STAMP_TIMINGS").is_some())
}

/// Prints how long the stage took when dropped.
pub struct Stage {
    name: &'static str,
    start: Instant,
}

pub fn stage(name: &'static str) -> Stage {
    Stage {
        name,
        start: Instant::now(),
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if enabled() {
            let memory = memory_mb()
                .map(|(now, peak)| format!("  rss {now} MB, peak {peak} MB"))
                .unwrap_or_default();
            eprintln!("timing: {:<12} {:>8.1?}{memory}", self.name, self.start.elapsed());
        }
    }
}

/// The process's resident memory now and its peak so far, in MB (Linux;
/// None elsewhere): which stage holds the peak.
fn memory_mb() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb >> 10)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
