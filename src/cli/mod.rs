//! Command definitions and dispatch.

#[cfg(test)]
mod command_tree_tests;
mod commands;
mod explain;
mod lime;
mod progress;
mod report;
mod values;

pub use values::usage_error_text;

use clap::{Args, Parser, Subcommand};
use pupil::Result;
use std::path::PathBuf;

/// pupil: train convolutional and dense networks fast on the CPU, then look inside them.
#[derive(Parser, Debug)]
#[command(name = "pupil", version, about)]
pub struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing would only add noise
pub enum Command {
    /// Train a model (with no arguments: the default CNN on the embedded Fashion-MNIST sample).
    Train(TrainArgs),
    /// Print a Keras-style summary table of a model.
    Summary(SummaryArgs),
    /// Evaluate a trained run on labelled data: accuracy, per-class scores, confusion matrix.
    Eval(EvalArgs),
    /// Predict the classes of unlabelled data and write a Kaggle submission (id,label).
    Predict(PredictArgs),
    /// Measure training and inference throughput (images/s) of models on random input.
    Bench(BenchArgs),
    /// Saliency maps of images: vanilla gradients, SmoothGrad, integrated gradients, Grad-CAM.
    Saliency(explain::SaliencyArgs),
    /// What the filters of a layer respond to: gradient ascent from noise, as a grid.
    Filters(explain::FiltersArgs),
    /// The feature maps of one image at one layer, as a grid.
    Features(explain::FeaturesArgs),
    /// The image the model finds most like each class: gradient ascent on the class score.
    Classviz(explain::ClassvizArgs),
    /// Explain predictions with LIME: superpixels that raise / lower a class (PNG + CSV per image).
    Lime(lime::LimeArgs),
    /// Write one self-contained HTML report of a run (model, training, confusion matrix, LIME).
    Report(report::ReportArgs),
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Models to time (presets or spec files), comma-separated.
    #[arg(long, default_value = "keras-hw3,alexnet-bn,dnn")]
    pub models: String,
    /// Input size HxWxC of the random images.
    #[arg(long, default_value = "48x48x1")]
    pub input: String,
    /// Number of classes (the presets' output layer).
    #[arg(long, default_value_t = 7, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub classes: usize,
    /// Images per timed step.
    #[arg(long, default_value_t = 128, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub batch: usize,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 10, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub reps: usize,
    /// Time the seed models' conv layers (forward, forward+backward) against this machine's
    /// measured FMA peak, instead of whole models.
    #[arg(long)]
    pub layers: bool,
    /// Where a training step of each model spends its time: forward and backward time by
    /// layer and by op (medians of --reps steps), instead of throughput.
    #[arg(long, conflicts_with = "layers")]
    pub profile: bool,
    /// Time each model under several values of one setting, `batch=32,128,256`,
    /// `input=48x48x1,96x96x1` or `threads=1,2`, alternating their steps in one process (--reps
    /// rounds; each round runs every value in turn: one untimed and three timed training steps,
    /// then inference passes likewise), and print each value's training and inference img/s
    /// and its time per image over the first value's in the same round: the median and range
    /// of the rounds. The other settings come from --batch, --input and --threads.
    #[arg(long, value_name = "SETTING=V1,V2,...", conflicts_with_all = ["layers", "profile"])]
    pub compare: Option<String>,
    #[command(flatten)]
    pub quiet: QuietArg,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: FER2013 CSV (train.csv or fer2013.csv), an IDX images file, or a
    /// directory of MNIST-style IDX files. Default: the embedded Fashion-MNIST sample.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Validation data (default: hold out --val-split of the training data).
    #[arg(long)]
    pub val_data: Option<PathBuf>,
    /// Test data evaluated at the end (confusion matrix); default: the validation data.
    #[arg(long)]
    pub test_data: Option<PathBuf>,
    /// Model: a preset (keras-hw3, alexnet-bn, vgg16, vgg19, vgg16-selu, vgg19-selu, dnn, small)
    /// or a spec file.
    #[arg(long, default_value = "keras-hw3")]
    pub model: String,
    /// Epochs in total (default 10; with --resume, default: the run's own).
    #[arg(long, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub epochs: Option<usize>,
    /// Images per training step (mini-batch size).
    #[arg(long, default_value_t = 128, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub batch: usize,
    /// sgd, nesterov, adam, adamw, adadelta, rmsprop.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate (default: the optimiser's own).
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f32>,
    /// Keras-style learning-rate decay: lr / (1 + decay * step).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub decay: f32,
    /// Momentum for sgd / nesterov.
    #[arg(long, allow_hyphen_values = true)]
    pub momentum: Option<f32>,
    /// Weight decay (L2 on every parameter; decoupled for adamw).
    #[arg(long, allow_hyphen_values = true)]
    pub weight_decay: Option<f32>,
    /// Fraction of the training data held out for validation.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true, value_parser = values::fraction)]
    pub val_split: f32,
    /// How --val-split is drawn: stratified (each class in the same proportion) or random.
    #[arg(long, default_value = "stratified")]
    pub split_mode: String,
    /// Class weights of the training loss: none, balanced (n / (classes * n_class)), or one
    /// weight per class like 1,2.5,1.
    #[arg(long, default_value = "none")]
    pub class_weight: String,
    /// Learning-rate schedule per epoch: none, step, cosine, plateau.
    #[arg(long, default_value = "none")]
    pub schedule: String,
    /// step: epochs between two reductions.
    #[arg(long)]
    pub step_every: Option<usize>,
    /// step: factor of each reduction.
    #[arg(long, default_value_t = 0.1, allow_hyphen_values = true)]
    pub gamma: f32,
    /// plateau: factor of each reduction.
    #[arg(long, default_value_t = 0.1, allow_hyphen_values = true)]
    pub factor: f32,
    /// plateau: epochs without improvement of --monitor tolerated before a reduction.
    #[arg(long, default_value_t = 10)]
    pub lr_patience: usize,
    /// cosine, plateau: the lowest learning rate.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub min_lr: f32,
    /// Stop after this many epochs without improvement (keeps the best weights).
    #[arg(long, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub patience: Option<usize>,
    /// What early stopping watches: val_acc or val_loss.
    #[arg(long, default_value = "val_acc")]
    pub monitor: String,
    /// Augmentation: none, standard, or a list like flip,rot=20,shift=0.1,zoom=0.1,shear=5,brightness=0.1,contrast=0.1,crop=4.
    #[arg(long, default_value = "none")]
    pub augment: String,
    /// Input normalisation: scale255, featurewise, samplewise, none.
    #[arg(long, default_value = "scale255")]
    pub normalize: String,
    /// Seed of the weight initialisation, shuffling, validation split, augmentation and dropout.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true, value_parser = values::seed)]
    pub seed: u64,
    /// Names of the classes, in label order, e.g. Angry,Disgust,Fear (default: the data's own:
    /// FER2013's emotions, Fashion-MNIST's names, an image folder's folders, else numbers).
    #[arg(long)]
    pub class_names: Option<String>,
    /// Number of classes, the model's outputs (1 to 256; default: the data's). Every label must
    /// be below it; classes with no example are allowed, which an IDX set's labels otherwise
    /// may not leave between 0 and the largest.
    #[arg(long, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub classes: Option<usize>,
    /// Run directory (model, checkpoint, history.csv, curves.png, confusion.png). Default: a
    /// new numbered run runs/run-NNN, with runs/latest pointing to it (with --resume: runs/latest).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Replace the run in --out (without it, an --out that holds a run is refused).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    #[command(flatten)]
    pub quiet: QuietArg,
}

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// A preset name, a spec file, a run directory or a run's model.json.
    #[arg(long, default_value = "keras-hw3")]
    pub model: String,
    /// A run directory or its model.json (the same as --model RUN).
    #[arg(long, conflicts_with = "model")]
    pub run: Option<PathBuf>,
    /// Input size HxWxC (default: the spec's `input` line, else 48x48x1).
    #[arg(long)]
    pub input: Option<String>,
    /// Number of classes (for presets).
    #[arg(long, default_value_t = 7, allow_negative_numbers = true, value_parser = values::at_least::<1>)]
    pub classes: usize,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub run: RunArg,
    /// Labelled data (default: the embedded sample's test split).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which split of fer2013.csv / an IDX directory: train, test, public, private, all.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Where to write confusion.csv and confusion.png (default: the run directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub quiet: QuietArg,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub run: RunArg,
    /// Data to predict (Kaggle test.csv with id,feature, or any supported format).
    #[arg(long, required_unless_present = "image")]
    pub data: Option<PathBuf>,
    /// Picture files (PNG, JPEG, BMP): print each one's class probabilities instead of writing
    /// a submission (so --split, --out, --force, --probs and --tta do not apply).
    #[arg(long, num_args = 1.., conflicts_with_all = ["data", "split", "out", "force", "probs", "tta"])]
    pub image: Vec<PathBuf>,
    /// Which split of fer2013.csv / an IDX directory: train, test, public, private, all.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Submission file to write (id,label); never an input or a file of a run.
    #[arg(long, default_value = "submission.csv")]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Also write the class probabilities to this CSV (id and one column per class).
    #[arg(long)]
    pub probs: Option<PathBuf>,
    /// Test-time augmentation: none, or flip (average with the horizontal mirror).
    #[arg(long, default_value = "none")]
    pub tta: String,
    #[command(flatten)]
    pub quiet: QuietArg,
}

/// `--run`, shared by the commands that read a trained run (eval, predict, report).
#[derive(Args, Debug)]
pub struct RunArg {
    /// Run directory written by `pupil train` (default: the latest run, runs/latest).
    #[arg(long)]
    pub run: Option<PathBuf>,
}

/// `--quiet`, shared by the commands that draw progress bars.
#[derive(Args, Debug)]
pub struct QuietArg {
    /// No progress bars (they are also hidden when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Some(t) = cli.threads {
        pupil::train::set_threads(t)?;
    }
    match cli.command {
        None => {
            use clap::CommandFactory;
            Cli::command().print_help().map_err(|e| pupil::Error::io("stdout", e))
        }
        Some(Command::Train(a)) => commands::train(a),
        Some(Command::Summary(a)) => commands::summary(a),
        Some(Command::Eval(a)) => commands::eval(a),
        Some(Command::Predict(a)) => commands::predict(a),
        Some(Command::Bench(a)) => commands::bench(a),
        Some(Command::Saliency(a)) => explain::saliency(a),
        Some(Command::Filters(a)) => explain::filters(a),
        Some(Command::Features(a)) => explain::features(a),
        Some(Command::Classviz(a)) => explain::classviz(a),
        Some(Command::Lime(a)) => lime::run(a),
        Some(Command::Report(a)) => report::run(a),
    }
}

/// The images a command that looks inside a run works on (saliency, features, lime, report).
#[derive(Args, Debug)]
pub struct DataArgs {
    /// Images (default: the data the run was last evaluated on, else its validation data; see run.json).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Picture files (PNG, JPEG, BMP) to look at instead of --data: made gray and brought to
    /// the model's input size.
    #[arg(long, num_args = 1.., conflicts_with = "data")]
    pub image: Vec<PathBuf>,
    /// Which split of --data (fer2013.csv or an IDX directory): train, test, public, private, all.
    #[arg(long, default_value = "test")]
    pub split: String,
}

/// `0,5,9`, `0-7` or a mix; every value checked against `limit` (exclusive) if given.
pub(crate) fn parse_list(s: &str, flag: &'static str) -> Result<Vec<usize>> {
    let bad = |p: &str| pupil::Error::invalid(flag, format!("{p:?} is not a number or a range like 0-7"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().map_err(|_| bad(part))?, b.trim().parse().map_err(|_| bad(part))?);
                if a > b || b - a > 100_000 {
                    return Err(bad(part));
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad(part))?),
        }
    }
    if out.is_empty() {
        return Err(pupil::Error::invalid(flag, format!("{s:?} names nothing")));
    }
    Ok(out)
}

/// `--ids`: [`parse_list`] without repeats, each id checked against the `n` images of the data.
pub(crate) fn parse_ids(s: &str, n: usize) -> Result<Vec<usize>> {
    let mut out: Vec<usize> = Vec::new();
    for id in parse_list(s, "--ids")? {
        if id >= n {
            return Err(pupil::Error::invalid("--ids", format!("id {id} is beyond the data ({n} images, ids 0 to {})", n.saturating_sub(1))));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_ids;

    #[test]
    fn ids_ranges_repeats_and_bounds() {
        assert_eq!(parse_ids("0, 5,2-4,5", 10).unwrap(), vec![0, 5, 2, 3, 4]);
        assert!(parse_ids("12", 10).unwrap_err().to_string().contains("beyond the data (10 images"));
        assert!(parse_ids("a", 10).is_err() && parse_ids("4-2", 10).is_err() && parse_ids("", 10).is_err());
    }
}
