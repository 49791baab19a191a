//! Progress of the library's long loops (reading a data file, decoding a folder of pictures,
//! evaluating, predicting), reported to one process-wide observer, the way the `log` crate
//! hands messages to one logger: the library never draws anything, and costs one uncontended
//! read lock per report when nobody listens. The CLI installs an observer that draws progress
//! bars.
//!
//! Reports of one task come in order, `done` never decreasing, and the last has
//! `done == total`.

use std::sync::RwLock;

/// `done` of `total` units of the task `task`: bytes for `"reading FILE"`, pictures for
/// `"decoding DIR"` (a class folder tree), images for `"evaluating"` and `"predicting"`. (The
/// validation within training is reported by the training loop's own events,
/// [`crate::train::Event::Validating`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    pub task: &'a str,
    pub done: u64,
    pub total: u64,
}

type Observer = Box<dyn Fn(&Report) + Send + Sync>;

static OBSERVER: RwLock<Option<Observer>> = RwLock::new(None);

/// Sends every later report to `f` (replacing any earlier observer).
pub fn set_observer(f: impl Fn(&Report) + Send + Sync + 'static) {
    *OBSERVER.write().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
}

/// Stops sending reports.
pub fn clear_observer() {
    *OBSERVER.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Reports `done` of `total` for `task` to the observer, if there is one.
pub fn report(task: &str, done: u64, total: u64) {
    let guard = OBSERVER.read().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = guard.as_ref() {
        f(&Report { task, done, total });
    }
}

/// A reader that reports the bytes read through it, at most once per MiB and once at the end.
pub(crate) struct Counted<R> {
    inner: R,
    task: String,
    done: u64,
    total: u64,
    reported: u64,
    finished: bool,
}

impl<R> Counted<R> {
    pub(crate) fn new(inner: R, task: String, total: u64) -> Self {
        Counted { inner, task, done: 0, total, reported: 0, finished: false }
    }
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        let end = n == 0 && !buf.is_empty();
        if (self.done - self.reported >= 1 << 20 || end) && !self.finished {
            self.reported = self.done;
            self.finished = end;
            report(&self.task, self.done, self.total.max(self.done));
        }
        Ok(n)
    }
}
