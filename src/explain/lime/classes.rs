//! Which classes LIME explains for an image: the words of `pupil lime --classes`.

use super::PREDICTED;
use crate::error::{Error, Result};

/// One entry of a class list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassPick {
    /// The class the model predicts for the image.
    Predicted,
    /// The image's label.
    True,
    /// Every class.
    All,
    /// One class by index.
    Class(usize),
}

/// Parses a comma-separated list of `predicted`, `true`, `all`, class indices and class names
/// (case-insensitive) against the model's class `names`. Errors name `--classes` and, for an
/// unknown word, list the names.
pub fn parse_class_picks(s: &str, names: &[String]) -> Result<Vec<ClassPick>> {
    let mut out = Vec::new();
    for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let pick = match p.to_ascii_lowercase().as_str() {
            "predicted" | "pred" => ClassPick::Predicted,
            "true" | "label" => ClassPick::True,
            "all" => ClassPick::All,
            _ => match p.parse::<usize>() {
                Ok(k) if k < names.len() => ClassPick::Class(k),
                Ok(k) => return Err(Error::invalid("--classes", format!("class {k} is not below the model's {} classes", names.len()))),
                Err(_) => match names.iter().position(|n| n.eq_ignore_ascii_case(p)) {
                    Some(k) => ClassPick::Class(k),
                    None => {
                        return Err(Error::invalid("--classes", format!("{p:?} is not predicted, true, all, a class index or one of: {}", names.join(", "))))
                    }
                },
            },
        };
        out.push(pick);
    }
    if out.is_empty() {
        return Err(Error::invalid("--classes", "no class given"));
    }
    Ok(out)
}

/// The classes of [`explain`](super::explain) for one image with `label` (None: unlabelled)
/// and `k` classes: [`PREDICTED`] for `Predicted`; `True` gives nothing on an unlabelled image
/// (check [`needs_labels`] first to refuse it). Repeats are dropped later by `explain`.
pub fn expand_picks(picks: &[ClassPick], label: Option<usize>, k: usize) -> Vec<usize> {
    let mut classes = Vec::new();
    for p in picks {
        match p {
            ClassPick::Predicted => classes.push(PREDICTED),
            ClassPick::True => classes.extend(label),
            ClassPick::All => classes.extend(0..k),
            ClassPick::Class(c) => classes.push(*c),
        }
    }
    classes
}

/// True if the list asks for the true class, which needs labelled data.
pub fn needs_labels(picks: &[ClassPick]) -> bool {
    picks.contains(&ClassPick::True)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["Angry", "Happy", "Sad"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_indices_and_names_parse_with_clear_errors() {
        let n = names();
        assert_eq!(
            parse_class_picks("predicted, HAPPY,0,true", &n).unwrap(),
            vec![ClassPick::Predicted, ClassPick::Class(1), ClassPick::Class(0), ClassPick::True]
        );
        assert_eq!(parse_class_picks("all", &n).unwrap(), vec![ClassPick::All]);
        assert!(parse_class_picks("7", &n).unwrap_err().to_string().contains("3 classes"));
        assert!(parse_class_picks("glad", &n).unwrap_err().to_string().contains("Angry, Happy, Sad"));
        assert!(parse_class_picks(" , ", &n).unwrap_err().to_string().contains("no class given"));
    }

    #[test]
    fn picks_expand_per_image() {
        let picks = [ClassPick::Predicted, ClassPick::True, ClassPick::Class(2)];
        assert_eq!(expand_picks(&picks, Some(1), 3), vec![PREDICTED, 1, 2]);
        assert_eq!(expand_picks(&picks, None, 3), vec![PREDICTED, 2]);
        assert_eq!(expand_picks(&[ClassPick::All], None, 3), vec![0, 1, 2]);
        assert!(needs_labels(&picks) && !needs_labels(&[ClassPick::All]));
    }
}
