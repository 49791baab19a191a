//! Checks of user input that the library's entry points share: data against a model, an
//! input size `HxWxC`, the bench settings, the thread count.

use crate::data::Dataset;
use crate::error::{Error, Result};

/// Checks that `ds` fits a model for `input` ([C, H, W]) and `classes`: same image size, at
/// least one image, labels below the class count. `what` names the data in the error.
pub fn check_data(ds: &Dataset, input: &[usize], classes: usize, what: &str) -> Result<()> {
    if ds.is_empty() {
        return Err(Error::invalid("data", format!("{what}: no images")));
    }
    let got = [ds.channels, ds.height, ds.width];
    if got != input {
        return Err(Error::Shape { op: "data", lhs: input.to_vec(), rhs: got.to_vec(), detail: format!("{what}: images [C, H, W] differ from the model's") });
    }
    if let Some(&max) = ds.labels.as_ref().and_then(|l| l.iter().max()) {
        if max as usize >= classes {
            return Err(Error::invalid("data", format!("{what}: label {max} is not one of the model's {classes} classes")));
        }
    }
    Ok(())
}

/// [`check_data`], and the data must have labels.
pub fn check_labelled(ds: &Dataset, input: &[usize], classes: usize, what: &str) -> Result<()> {
    check_data(ds, input, classes, what)?;
    if ds.labels.is_none() {
        return Err(Error::invalid("data", format!("{what}: the file has no labels")));
    }
    Ok(())
}

/// An input size `HxWxC` (e.g. `48x48x1`) as `[C, H, W]`.
pub fn parse_input(s: &str) -> Result<[usize; 3]> {
    let bad = || Error::invalid("--input", format!("{s:?} is not HxWxC like 48x48x1"));
    let dims: Vec<usize> = s.split(['x', 'X']).map(|d| d.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    match dims[..] {
        [h, w, c] if h > 0 && w > 0 && c > 0 => Ok([c, h, w]),
        _ => Err(bad()),
    }
}

/// The limits of `pupil bench`: batch from 1 to 65536, at least one repetition, 1 to 256
/// classes.
pub fn check_bench(batch: usize, reps: usize, classes: usize) -> Result<()> {
    if batch == 0 || batch > 65536 || reps == 0 {
        return Err(Error::invalid("bench", "--batch must be from 1 to 65536 and --reps at least 1"));
    }
    if !(1..=256).contains(&classes) {
        return Err(Error::invalid("--classes", format!("{classes} is not from 1 to 256")));
    }
    Ok(())
}

/// Most worker threads a pool may have.
pub(crate) const MAX_THREADS: usize = 256;

/// A thread count from 1 to [`MAX_THREADS`], or the `--threads` error.
pub(crate) fn check_threads(t: usize) -> Result<()> {
    if t == 0 || t > MAX_THREADS {
        return Err(Error::invalid("--threads", format!("{t} is not from 1 to {MAX_THREADS}")));
    }
    Ok(())
}

/// Sets the number of worker threads of the global pool (1 to 256); call once, before any
/// parallel work.
pub fn set_threads(t: usize) -> Result<()> {
    check_threads(t)?;
    rayon::ThreadPoolBuilder::new().num_threads(t).build_global().map_err(|e| Error::invalid("--threads", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_sizes() {
        assert_eq!(parse_input("48x48x1").unwrap(), [1, 48, 48]);
        assert_eq!(parse_input("32X16x3").unwrap(), [3, 32, 16]);
        for bad in ["48x48", "48x48x0", "axbxc", "", "1x2x3x4"] {
            assert!(parse_input(bad).unwrap_err().to_string().contains("--input"), "{bad}");
        }
    }

    #[test]
    fn bench_limits_and_threads() {
        check_bench(128, 10, 7).unwrap();
        assert!(check_bench(0, 1, 7).unwrap_err().to_string().contains("--batch"));
        assert!(check_bench(65537, 1, 7).is_err());
        assert!(check_bench(1, 0, 7).unwrap_err().to_string().contains("--reps"));
        assert!(check_bench(1, 1, 0).unwrap_err().to_string().contains("--classes"));
        assert!(check_bench(1, 1, 257).is_err());
        assert!(set_threads(0).unwrap_err().to_string().contains("--threads"));
        assert!(set_threads(100_000).unwrap_err().to_string().contains("--threads"));
    }

    #[test]
    fn data_must_fit_the_model() {
        let ds = Dataset { channels: 1, height: 2, width: 2, pixels: vec![0; 8], labels: Some(vec![0, 3]), ids: None, class_names: vec![] };
        check_data(&ds, &[1, 2, 2], 4, "x").unwrap();
        assert!(check_data(&ds, &[1, 2, 2], 3, "val.csv").unwrap_err().to_string().contains("val.csv: label 3"));
        assert!(check_data(&ds, &[1, 3, 2], 4, "x").is_err());
        let unlabelled = Dataset { labels: None, ..ds };
        assert!(check_labelled(&unlabelled, &[1, 2, 2], 4, "test.csv").unwrap_err().to_string().contains("test.csv: the file has no labels"));
    }
}
