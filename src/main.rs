//! The `pupil` command line: a thin layer over the library (argument parsing, progress bars,
//! printing). A usage error (unknown flag, bad value) exits with status 2, as clap's own
//! convention; every other error is printed as one line and exits with status 1.

mod cli;

/// Training allocates and frees the same large activation buffers every step. The system
/// allocator returns them to the kernel and then pays for fresh zeroed pages on the next step
/// (~15-18% of a keras-hw3 step in `perf`). mimalloc, told to keep freed memory (no purge) and
/// to use 2 MiB pages, reuses them: `pupil bench` keras-hw3 training went from ~150 to ~315
/// img/s in one run on this 2-core Zen 4.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (milliseconds before freed memory is returned to the OS;
/// -1 = never). libmimalloc-sys 0.1.49 exports the option enum only up to a few entries; in
/// mimalloc's `mimalloc.h` (v2 and v3 alike) purge_delay is the entry just before
/// `mi_option_use_numa_nodes`, which the crate does export.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;

fn tune_allocator() {
    // SAFETY: `mi_option_set` only stores an option value in the linked mimalloc (the one the
    // global allocator above uses); it is called at start-up, before any other thread exists
    // (mimalloc's option setters are not thread-safe), with options and values it accepts.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        libmimalloc_sys::mi_option_set(libmimalloc_sys::mi_option_large_os_pages, 1);
    }
}

use clap::Parser;

/// Restores the default SIGPIPE action, so `pupil eval ... | head` ends quietly like other Unix
/// tools instead of panicking on a closed stdout.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: restores SIGPIPE's default disposition (no Rust handler is installed or
    // replaced) at start-up, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    default_sigpipe();
    tune_allocator();
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version: print and exit 0
        Err(e) => {
            // a usage error: clap's message and its "tip:" lines (the "did you mean" suggestion),
            // without the usage block, and clap's exit status 2 (runtime errors exit 1)
            eprint!("{}", cli::usage_error_text(&e.to_string()));
            std::process::exit(2);
        }
    };
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
