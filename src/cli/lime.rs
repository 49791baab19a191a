//! `pupil lime`: LIME explanations of chosen images of a run's model, as PNG + CSV.

use super::parse_ids;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pupil::error::{Error, Result};
use pupil::explain::lime::{self, Fill, LimeConfig};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct LimeArgs {
    /// Run directory written by `pupil train` (default: the latest run, runs/latest).
    #[arg(long)]
    pub run: Option<PathBuf>,
    #[command(flatten)]
    pub data: super::DataArgs,
    /// Images to explain: 0-based indices into the data, comma-separated, ranges allowed (0,5,10-12).
    #[arg(long, default_value = "0")]
    pub ids: String,
    /// Perturbed samples per image (the image itself included).
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Superpixels SLIC aims at.
    #[arg(long, default_value_t = 50)]
    pub superpixels: usize,
    /// SLIC compactness (larger: squarer superpixels).
    #[arg(long, default_value_t = 20.0)]
    pub compactness: f32,
    /// Classes to explain, comma-separated: predicted, true, all, class indices or class names.
    #[arg(long, default_value = "predicted")]
    pub classes: String,
    /// What a switched-off superpixel shows: mean (the image mean), blur, or segment (its own mean, lime's default).
    #[arg(long, default_value = "mean")]
    pub fill: String,
    /// Superpixels outlined per sign (positive green, negative red) and class.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Width of the exponential kernel on the cosine distance.
    #[arg(long, default_value_t = 0.25)]
    pub kernel_width: f64,
    /// Ridge penalty.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Images per model call.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Seed of the random on/off draws (each image's draws also depend on its id).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (default: RUN_DIR/lime).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bars (they are also hidden when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: LimeArgs) -> Result<()> {
    let cfg = LimeConfig {
        samples: a.samples,
        superpixels: a.superpixels,
        compactness: a.compactness,
        fill: a.fill.parse::<Fill>()?,
        kernel_width: a.kernel_width,
        alpha: a.alpha,
        batch: a.batch,
        seed: a.seed,
    };
    cfg.validate()?;
    let dir = pupil::run::RunDir::resolve(a.run.as_deref())?;
    let run = dir.load_model()?;
    let names = run.meta.class_names.clone();
    let picks = lime::parse_class_picks(&a.classes, &names)?;
    let split = a.data.split.parse()?;
    super::progress::observe_library(a.quiet);
    let loaded = dir.data_for(&a.data.image, a.data.data.as_deref(), split, &run.meta);
    pupil::progress::clear_observer();
    let (data_ref, ds) = loaded?;
    let data_name = data_ref.describe();
    let ids = parse_ids(&a.ids, ds.len())?;
    if lime::needs_labels(&picks) && ds.labels.is_none() {
        return Err(Error::invalid("--classes", format!("\"true\" needs labelled data; {data_name} has no labels")));
    }
    let out = a.out.clone().unwrap_or_else(|| dir.path().join("lime"));
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let chw = [run.meta.input[0], run.meta.input[1], run.meta.input[2]];
    let bar = if !super::progress::visible(a.quiet) {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new((ids.len() * cfg.samples) as u64);
        b.set_style(
            ProgressStyle::with_template("LIME [{bar:30}] {pos}/{len} samples {msg} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    };
    println!(
        "LIME on {} image(s) of {data_name}: {} samples, ~{} SLIC superpixels, fill {}, kernel width {}",
        ids.len(),
        cfg.samples,
        cfg.superpixels,
        cfg.fill,
        cfg.kernel_width
    );
    let mut summary = String::from("image,true_class,predicted,class,class_name,probability,intercept,local_prediction,r2,superpixels,samples,seconds\n");
    let t_all = Instant::now();
    for &id in &ids {
        bar.set_message(format!("image {id}"));
        let t0 = Instant::now();
        let raw: Vec<f32> = ds.image(id).iter().map(|&v| v as f32).collect();
        let label = ds.label(id).map(|l| l as usize);
        let classes = lime::expand_picks(&picks, label, names.len());
        let mut lc = cfg.clone();
        lc.seed = lime::image_seed(cfg.seed, id);
        let (model, norm) = (&run.model, &run.meta.normalization);
        let mut predict = |batch: &[f32]| {
            let p = lime::probabilities(model, norm, batch, chw);
            bar.inc((batch.len() / chw.iter().product::<usize>()) as u64);
            p
        };
        let exp = lime::explain(&raw, chw, &classes, &lc, &mut predict)?;
        let secs = t0.elapsed().as_secs_f64();
        let title = match label {
            Some(t) => format!("LIME, image {id} ({})", names[t]),
            None => format!("LIME, image {id}"),
        };
        let png = out.join(format!("lime_{id}.png"));
        pupil::viz::lime::render_explanation(&raw, chw, &exp, &names, label, a.top, &title)?.save_png(&png)?;
        pupil::io::write_atomic(&out.join(format!("lime_{id}.csv")), pupil::viz::lime::weights_csv(id, &exp, &names).as_bytes())?;
        let pred = exp.predicted();
        for ce in &exp.classes {
            summary.push_str(&format!(
                "{id},{},{pred},{},{},{:.6},{:.6},{:.6},{:.4},{},{},{secs:.3}\n",
                label.map(|t| t.to_string()).unwrap_or_default(),
                ce.class,
                pupil::viz::lime::csv_field(&names[ce.class]),
                ce.probability,
                ce.intercept,
                ce.local_prediction,
                ce.r2,
                exp.segments.count,
                exp.samples
            ));
        }
        let fits: Vec<String> = exp.classes.iter().map(|c| format!("{} R\u{b2} {:.2}", names[c.class], c.r2)).collect();
        bar.suspend(|| {
            println!(
                "image {id}{}: predicted {} ({:.3}); {} superpixels; {}; {secs:.2}s -> {}",
                label.map(|t| format!(" (true {})", names[t])).unwrap_or_default(),
                names[pred],
                exp.probabilities[pred],
                exp.segments.count,
                fits.join(", "),
                png.display()
            )
        });
    }
    bar.finish_and_clear();
    pupil::io::write_atomic(&out.join("lime_summary.csv"), summary.as_bytes())?;
    let total = t_all.elapsed().as_secs_f64();
    println!(
        "{} image(s) in {total:.1}s ({:.2}s per image); wrote lime_<id>.png, lime_<id>.csv and lime_summary.csv to {}",
        ids.len(),
        total / ids.len() as f64,
        out.display()
    );
    Ok(())
}
