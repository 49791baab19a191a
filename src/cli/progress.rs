//! Progress on stderr (indicatif): one bar per training epoch with loss, accuracy and ETA, and
//! below it a bar over the epoch's validation images, a bar over the models `bench` times, a
//! spinner for a library call that reports no progress of its own (`bench --layers`), and the
//! library's own reports ([`pupil::progress`]: bytes of a data file read, pictures of a folder
//! decoded, images evaluated or predicted) as bars. All are hidden with `--quiet` and when
//! stderr is not a terminal, so piped or logged output holds only the results.

use indicatif::{MultiProgress, ProgressBar, ProgressFinish, ProgressStyle};
use pupil::train::Event;
use std::io::IsTerminal;
use std::time::Duration;

/// True if progress may be drawn: not `--quiet`, and stderr is a terminal.
pub fn visible(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A spinner showing `msg` and the time elapsed, ticking on its own thread while the caller
/// blocks in one library call; `finish_and_clear` it before printing results.
pub fn spinner(quiet: bool, msg: impl Into<String>) -> ProgressBar {
    if !visible(quiet) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.set_message(msg.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar over `len` items (models to time, ...) with the current item as its message.
pub fn items(quiet: bool, len: usize) -> ProgressBar {
    if !visible(quiet) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg} ({elapsed})").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A bar of `len` units drawn with `template` (`{bar}` and the counts filled in by indicatif).
fn styled(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
    bar
}

/// Draws training events on the terminal: the epoch's bar over its batches and, while the
/// epoch's validation runs, a second bar under it (the epoch's bar stays, full, with its loss
/// and accuracy); both are cleared before the epoch's line is printed.
pub struct Progress {
    multi: MultiProgress,
    bar: Option<ProgressBar>,
    validation: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress { multi: MultiProgress::new(), bar: None, validation: None, quiet }
    }

    pub fn on_event(&mut self, e: Event) {
        match e {
            Event::EpochStart { epoch, epochs, batches } => {
                if !visible(self.quiet) {
                    return;
                }
                let bar = self.multi.add(styled(batches as u64, "{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}"));
                bar.set_prefix(format!("Epoch {epoch}/{epochs}"));
                self.bar = Some(bar);
            }
            Event::Batch { batch, loss, acc, .. } => {
                if let Some(b) = &self.bar {
                    b.set_position(batch as u64);
                    b.set_message(format!("loss {loss:.4} acc {acc:.4}"));
                }
            }
            Event::Validating { done, total, .. } => {
                if self.bar.is_none() {
                    return; // hidden
                }
                let bar = self.validation.get_or_insert_with(|| self.multi.add(styled(total as u64, "  validating [{bar:30}] {pos}/{len} images ETA {eta}")));
                bar.set_position(done as u64);
            }
            Event::EpochEnd(r) => {
                for b in [self.validation.take(), self.bar.take()].into_iter().flatten() {
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

/// Draws the library's own progress reports ([`pupil::progress`]) as one bar at a time: bytes
/// while a data file is read, pictures while a folder of them is decoded, images while a model
/// evaluates or predicts. Installs nothing when progress is hidden (`--quiet`, or stderr is not
/// a terminal). A bar left unfinished (the loop failed) is cleared when the observer goes.
pub fn observe_library(quiet: bool) {
    if !visible(quiet) {
        return;
    }
    let current: std::sync::Mutex<Option<(String, ProgressBar)>> = std::sync::Mutex::new(None);
    pupil::progress::set_observer(move |r| {
        let mut cur = current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_none_or(|(task, _)| task != r.task) {
            if let Some((_, old)) = cur.take() {
                old.finish_and_clear();
            }
            let template = match r.task.split_once(' ') {
                Some(("reading", _)) => "{msg} [{bar:25}] {bytes}/{total_bytes} ETA {eta}",
                Some(("decoding", _)) => "{msg} [{bar:25}] {pos}/{len} pictures ETA {eta}",
                _ => "{msg} [{bar:25}] {pos}/{len} ETA {eta}",
            };
            let bar = styled(r.total, template).with_finish(ProgressFinish::AndClear);
            // "reading /a/long/path/train.csv" as "reading train.csv", to stay on one line
            let msg = match r.task.split_once(' ') {
                Some((verb @ ("reading" | "decoding"), path)) => {
                    format!("{verb} {}", std::path::Path::new(path).file_name().map_or(path.into(), |f| f.to_string_lossy()))
                }
                _ => r.task.to_string(),
            };
            bar.set_message(msg);
            *cur = Some((r.task.to_string(), bar));
        }
        if let Some((_, bar)) = cur.as_ref() {
            bar.set_length(r.total);
            bar.set_position(r.done);
        }
        if r.done >= r.total {
            if let Some((_, bar)) = cur.take() {
                bar.finish_and_clear();
            }
        }
    });
}
