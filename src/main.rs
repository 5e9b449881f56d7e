// Resolving thousands of targets is allocation-heavy; mimalloc roughly
// halves what the system allocator costs here (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3); libmimalloc-sys
/// names no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // A run lasts well under a second: giving freed memory back to the OS
    // (an madvise per span, 200 of them in a one-service edit at 1,000
    // services, and page faults when it is reused) only costs time. A delay
    // of a second instead of never still made 174 of them. `watch` keeps
    // its peak, which each rebuild reuses.
    // SAFETY: sets a process-wide option before any thread starts.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    std::process::exit(stamp::run());
}
