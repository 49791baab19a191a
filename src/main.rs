//! The `pupil` command line: a thin layer over the library (argument parsing, progress bars,
//! printing). Every error is printed as one line and exits with status 1.

mod cli;

/// Training allocates and frees the same large activation buffers every step. The system
/// allocator returns them to the kernel and then pays for fresh zeroed pages on the next step
/// (~15-18% of a keras-hw3 step in `perf`). mimalloc, told to keep freed memory (no purge) and
/// to use 2 MiB pages, reuses them: `pupil bench` keras-hw3 training went from ~150 to ~315
/// img/s in one run on this 2-core Zen 4.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    // from libmimalloc-sys (mimalloc v2's option API)
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}
const MI_OPTION_ALLOW_LARGE_OS_PAGES: i32 = 6;
const MI_OPTION_PURGE_DELAY: i32 = 15;

fn tune_allocator() {
    // SAFETY: plain option setters of the linked mimalloc; valid at any time.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        mi_option_set(MI_OPTION_ALLOW_LARGE_OS_PAGES, 1);
    }
}

use clap::Parser;

/// Restores the default SIGPIPE action, so `pupil eval ... | head` ends quietly like other Unix
/// tools instead of panicking on a closed stdout.
fn default_sigpipe() {
    #[cfg(unix)]
    {
        extern "C" {
            fn signal(sig: i32, handler: usize) -> usize;
        }
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        // SAFETY: setting a signal's disposition to the default at start-up, before any thread.
        unsafe {
            signal(SIGPIPE, SIG_DFL);
        }
    }
}

fn main() {
    default_sigpipe();
    tune_allocator();
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version: print and exit 0
        Err(e) => {
            // one line, as every other error: clap's first line without its "error: " prefix
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments").trim_start_matches("error: ");
            eprintln!("error: {first} (see pupil --help)");
            std::process::exit(1);
        }
    };
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
