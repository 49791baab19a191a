//! Progress bars for training (indicatif): one bar per epoch with loss, accuracy and ETA.

use indicatif::{ProgressBar, ProgressStyle};
use pupil::train::Event;

/// Draws training events on the terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress { bar: None, quiet }
    }

    pub fn on_event(&mut self, e: Event) {
        match e {
            Event::EpochStart { epoch, epochs, batches } => {
                if self.quiet {
                    return;
                }
                let bar = ProgressBar::new(batches as u64);
                bar.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(format!("Epoch {epoch}/{epochs}"));
                self.bar = Some(bar);
            }
            Event::Batch { batch, loss, acc, .. } => {
                if let Some(b) = &self.bar {
                    b.set_position(batch as u64);
                    b.set_message(format!("loss {loss:.4} acc {acc:.4}"));
                }
            }
            Event::EpochEnd(r) => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                let val = match (r.val_loss, r.val_acc) {
                    (Some(l), Some(a)) => format!(" - val_loss {l:.4} - val_acc {a:.4}"),
                    _ => String::new(),
                };
                println!("Epoch {}: loss {:.4} - acc {:.4}{val} - {:.1}s", r.epoch, r.train_loss, r.train_acc, r.seconds);
            }
            Event::EarlyStop { epoch, best_epoch } => {
                println!("Early stopping at epoch {epoch}; restoring the weights of epoch {best_epoch}");
            }
        }
    }
}
