//! `pupil report`: one self-contained HTML page about a run.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pupil::error::{Error, Result};
use pupil::explain::lime::{Fill, LimeConfig};
use pupil::report::{run_report, RunReportOptions};
use pupil::run::RunDir;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub run: super::RunArg,
    #[command(flatten)]
    pub data: super::DataArgs,
    /// The HTML file to write (default: RUN_DIR/report.html).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// LIME examples: the first image of each class, at most this many (0: none).
    #[arg(long, default_value_t = 10)]
    pub lime_images: usize,
    /// Perturbed samples per LIME example.
    #[arg(long, default_value_t = 1000)]
    pub lime_samples: usize,
    /// Superpixels SLIC aims at for LIME.
    #[arg(long, default_value_t = 50)]
    pub superpixels: usize,
    /// What a switched-off superpixel shows: mean, blur or segment.
    #[arg(long, default_value = "mean")]
    pub fill: String,
    /// Seed of LIME's perturbations.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = super::values::seed)]
    pub seed: u64,
    #[command(flatten)]
    pub quiet: super::QuietArg,
}

pub fn run(a: ReportArgs) -> Result<()> {
    let t0 = Instant::now();
    let opts = RunReportOptions {
        lime: LimeConfig { samples: a.lime_samples, superpixels: a.superpixels, fill: a.fill.parse::<Fill>()?, seed: a.seed, ..LimeConfig::default() },
        lime_images: a.lime_images,
        ..RunReportOptions::default()
    };
    opts.lime.validate()?;
    if a.lime_images > 1000 {
        return Err(Error::invalid("--lime-images", format!("{} is more than 1000", a.lime_images)));
    }
    let dir = RunDir::resolve(a.run.run.as_deref())?;
    let (split, meta) = (a.data.split.parse()?, dir.load_model()?.meta);
    super::progress::observe_library(a.quiet.quiet);
    let loaded = dir.data_for(&a.data.image, a.data.data.as_deref(), split, &meta);
    pupil::progress::clear_observer();
    let (data_ref, ds) = loaded?;
    let name = data_ref.describe();
    let out = a.out.clone().unwrap_or_else(|| dir.path().join("report.html"));
    let bar = if !super::progress::visible(a.quiet.quiet) { ProgressBar::hidden() } else { ProgressBar::new(1) };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ETA {eta}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    let mut progress = |stage: &str, done: usize, total: usize| {
        bar.set_message(stage.to_string());
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let report = run_report(dir.path(), &ds, &name, &opts, &mut progress)?;
    bar.finish_and_clear();
    report.write(&out)?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!("Wrote {} ({} sections, {:.0} KiB) in {:.1}s", out.display(), report.sections.len(), size as f64 / 1024.0, t0.elapsed().as_secs_f64());
    Ok(())
}
