//! Classification metrics: accuracy, confusion matrix, per-class precision and recall, their
//! macro and weighted averages (scikit-learn's `classification_report`), and the most-confused
//! pairs.

use serde::{Deserialize, Serialize};

/// A confusion matrix: `counts[true][predicted]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub class_names: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

/// Precision, recall and F1 of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub name: String,
    pub support: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Confusion {
    /// Counts pairs of true and predicted labels (labels must be `< class_names.len()`;
    /// others are ignored).
    pub fn new(class_names: &[String], truth: &[usize], pred: &[usize]) -> Self {
        let k = class_names.len();
        let mut counts = vec![vec![0u64; k]; k];
        for (&t, &p) in truth.iter().zip(pred) {
            if t < k && p < k {
                counts[t][p] += 1;
            }
        }
        Confusion { class_names: class_names.to_vec(), counts }
    }

    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Fraction predicted correctly (0 for no samples).
    pub fn accuracy(&self) -> f64 {
        let diag: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        diag as f64 / self.total().max(1) as f64
    }

    /// Each row divided by its sum (a row with no sample stays 0).
    pub fn row_normalized(&self) -> Vec<Vec<f64>> {
        self.counts
            .iter()
            .map(|r| {
                let s: u64 = r.iter().sum();
                r.iter().map(|&c| if s == 0 { 0.0 } else { c as f64 / s as f64 }).collect()
            })
            .collect()
    }

    /// Precision, recall and F1 per class.
    pub fn per_class(&self) -> Vec<ClassScore> {
        let k = self.counts.len();
        (0..k)
            .map(|c| {
                let tp = self.counts[c][c] as f64;
                let support: u64 = self.counts[c].iter().sum();
                let predicted: u64 = (0..k).map(|t| self.counts[t][c]).sum();
                let precision = if predicted == 0 { 0.0 } else { tp / predicted as f64 };
                let recall = if support == 0 { 0.0 } else { tp / support as f64 };
                let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
                ClassScore { name: self.class_names[c].clone(), support, precision, recall, f1 }
            })
            .collect()
    }

    /// The macro and weighted averages of precision, recall and F1, as scikit-learn's
    /// `classification_report` gives them (named "macro avg" and "weighted avg", support =
    /// all samples): the macro average is the plain mean over the classes, the weighted one
    /// the mean weighted by each class's support. The macro F1 is the mean of the classes'
    /// F1, not the F1 of the mean precision and recall. As scikit-learn does, a class that
    /// occurs neither in the truth nor in the predictions is left out (its scores are
    /// undefined, not 0).
    pub fn averages(&self) -> (ClassScore, ClassScore) {
        let k = self.counts.len();
        let seen: Vec<ClassScore> =
            self.per_class().into_iter().enumerate().filter(|(c, s)| s.support > 0 || (0..k).any(|t| self.counts[t][*c] > 0)).map(|(_, s)| s).collect();
        let total = self.total();
        let avg = |name: &str, weight: &dyn Fn(&ClassScore) -> f64| {
            let w: f64 = seen.iter().map(weight).sum();
            let mean = |f: &dyn Fn(&ClassScore) -> f64| if w == 0.0 { 0.0 } else { seen.iter().map(|s| weight(s) * f(s)).sum::<f64>() / w };
            ClassScore { name: name.to_string(), support: total, precision: mean(&|s| s.precision), recall: mean(&|s| s.recall), f1: mean(&|s| s.f1) }
        };
        (avg("macro avg", &|_| 1.0), avg("weighted avg", &|s| s.support as f64))
    }

    /// The `n` largest off-diagonal entries of the row-normalised matrix:
    /// (true class, predicted class, fraction of the true class, count).
    pub fn most_confused(&self, n: usize) -> Vec<(usize, usize, f64, u64)> {
        let rn = self.row_normalized();
        let mut v = vec![];
        for (t, row) in self.counts.iter().enumerate() {
            for (p, &c) in row.iter().enumerate() {
                if t != p && c > 0 {
                    v.push((t, p, rn[t][p], c));
                }
            }
        }
        v.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.3.cmp(&a.3)));
        v.truncate(n);
        v
    }

    /// The matrix as aligned text: counts, each row followed by its recall; rows are true
    /// classes, columns predicted ones (class names shortened to 8 characters).
    pub fn to_text(&self) -> String {
        let short: Vec<String> = self.class_names.iter().map(|n| n.chars().take(8).collect()).collect();
        let w = self.counts.iter().flatten().map(|c| c.to_string().len()).max().unwrap_or(1).max(short.iter().map(|s| s.len()).max().unwrap_or(1)) + 1;
        let mut s = format!("{:>9}", "true\\pred");
        for n in &short {
            s.push_str(&format!("{n:>w$}"));
        }
        s.push_str("   recall\n");
        let rn = self.row_normalized();
        for (i, row) in self.counts.iter().enumerate() {
            s.push_str(&format!("{:>9}", short[i]));
            for c in row {
                s.push_str(&format!("{c:>w$}"));
            }
            s.push_str(&format!("   {:.3}\n", rn[i].get(i).copied().unwrap_or(0.0)));
        }
        s
    }

    /// CSV: a header of predicted class names, then one row per true class with counts.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("true\\predicted");
        for n in &self.class_names {
            s.push(',');
            s.push_str(&csv_field(n));
        }
        s.push('\n');
        for (n, row) in self.class_names.iter().zip(&self.counts) {
            s.push_str(&csv_field(n));
            for c in row {
                s.push_str(&format!(",{c}"));
            }
            s.push('\n');
        }
        s
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_metrics() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let c = Confusion::new(&names, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 1, 2, 0]);
        assert_eq!(c.counts, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]);
        assert!((c.accuracy() - 4.0 / 6.0).abs() < 1e-12);
        let pc = c.per_class();
        assert!((pc[1].precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((pc[0].recall - 0.5).abs() < 1e-12);
        assert_eq!(c.most_confused(1)[0].0, 0);
        assert!(c.to_csv().starts_with("true\\predicted,a,b,c\n"));
        let t = c.to_text();
        assert_eq!(t.lines().count(), 4);
        assert!(t.lines().nth(1).unwrap().trim_start().starts_with("a 1 1 0") && t.lines().nth(1).unwrap().ends_with("0.500"), "{t}");
    }

    /// Truth 0 0 0 1 1 2, predictions 0 0 1 1 2 2, class 3 never seen:
    /// precision 1, 1/2, 1/2; recall 2/3, 1/2, 1; F1 4/5, 1/2, 2/3; supports 3, 2, 1.
    /// Macro: P 2/3, R 13/18, F1 (4/5 + 1/2 + 2/3)/3 = 59/90. Weighted (by 3, 2, 1 of 6): P 3/4, R 2/3, F1 61/90.
    #[test]
    fn macro_and_weighted_averages() {
        let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let c = Confusion::new(&names, &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2]);
        let (m, w) = c.averages();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert_eq!((m.name.as_str(), m.support, w.name.as_str(), w.support), ("macro avg", 6, "weighted avg", 6));
        assert!(close(m.precision, 2.0 / 3.0) && close(m.recall, 13.0 / 18.0) && close(m.f1, 59.0 / 90.0), "{m:?}");
        assert!(close(w.precision, 0.75) && close(w.recall, 2.0 / 3.0) && close(w.f1, 61.0 / 90.0), "{w:?}");
    }
}
