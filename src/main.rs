//! The `pupil` command line: a thin layer over the library (argument parsing, progress bars,
//! printing). Every error is printed as one line and exits with status 1.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
