//! The training history of a run as a picture.

use super::plot::{training_curves, EpochRecord as PlotRecord};
use crate::error::Result;
use crate::train::EpochRecord;
use std::path::Path;

/// Draws loss and accuracy per epoch (train vs validation) into `path`.
pub fn write_history_plot(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let rows: Vec<PlotRecord> = history.iter().map(|r| PlotRecord { epoch: r.epoch, train_loss: r.train_loss, train_acc: r.train_acc, val_loss: r.val_loss, val_acc: r.val_acc }).collect();
    training_curves(path, &rows)
}
