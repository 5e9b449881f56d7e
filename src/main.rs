// Resolving thousands of targets is allocation-heavy; mimalloc roughly
// halves what the system allocator costs here (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Set before any thread starts.
    stamp::allocator::keep_freed_memory();
    std::process::exit(stamp::run());
}
