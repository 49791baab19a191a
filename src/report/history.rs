//! Reading a run's `history.csv` (written by [`crate::train::history_csv`]) back into
//! [`EpochRecord`]s.

use crate::error::{Error, Result};
use crate::train::EpochRecord;
use std::path::Path;

const HEADER: [&str; 7] = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"];

/// The epochs of `path` (`epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds`; empty
/// validation fields for runs without validation). Errors name the file, line and field.
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().map(|(_, l)| l.split(',').map(str::trim).collect()).unwrap_or_default();
    if header != HEADER {
        return Err(Error::parse(path, 1, "header", format!("expected {}", HEADER.join(","))));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != HEADER.len() {
            return Err(Error::parse(path, i + 1, "row", format!("expected {} fields, found {}", HEADER.len(), f.len())));
        }
        let num = |k: usize| -> Result<f32> { f[k].parse::<f32>().map_err(|_| Error::parse(path, i + 1, HEADER[k], format!("{:?} is not a number", f[k]))) };
        let opt = |k: usize| -> Result<Option<f32>> {
            if f[k].is_empty() {
                Ok(None)
            } else {
                num(k).map(Some)
            }
        };
        let epoch = f[0].parse::<usize>().map_err(|_| Error::parse(path, i + 1, "epoch", format!("{:?} is not an epoch number", f[0])))?;
        out.push(EpochRecord { epoch, train_loss: num(1)?, train_acc: num(2)?, val_loss: opt(3)?, val_acc: opt(4)?, lr: num(5)?, seconds: num(6)? });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::history_csv;

    #[test]
    fn round_trips_and_names_bad_fields() {
        let dir = std::env::temp_dir().join(format!("pupil-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let recs = vec![
            EpochRecord { epoch: 1, train_loss: 1.5, train_acc: 0.4, val_loss: Some(1.25), val_acc: Some(0.5), lr: 0.001, seconds: 3.5 },
            EpochRecord { epoch: 2, train_loss: 1.0, train_acc: 0.625, val_loss: None, val_acc: None, lr: 0.001, seconds: 3.25 },
        ];
        let p = dir.join("history.csv");
        std::fs::write(&p, history_csv(&recs)).unwrap();
        assert_eq!(read_history(&p).unwrap(), recs);
        std::fs::write(&p, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,abc,0.5,,,0.1,1\n").unwrap();
        let e = read_history(&p).unwrap_err().to_string();
        assert!(e.contains("history.csv:2") && e.contains("train_loss"), "{e}");
        std::fs::write(&p, "a,b\n").unwrap();
        assert!(read_history(&p).unwrap_err().to_string().contains("header"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
