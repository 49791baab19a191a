//! Readers of a spec: the line format (one layer per line, `key=value` options, errors
//! naming the file, line and field) and its JSON form.

use super::layer::{Act, LayerSpec, ModelSpec, Padding};
use crate::error::{Error, Result};
use crate::nn::init::Init;
use std::path::Path;

impl ModelSpec {
    /// Reads a spec file: JSON if it starts with `{`, else the line format.
    pub fn from_file(path: &Path) -> Result<ModelSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_named(&text, path)
    }

    /// Parses spec text given inline (the line format or JSON); errors name it `spec`, e.g.
    /// `spec:2: layer: ...`.
    ///
    /// ```
    /// use pupil::nn::ModelSpec;
    /// let spec = ModelSpec::parse("input 28x28x1\nconv 8 3x3 same relu\nmaxpool 2\nflatten\ndense 10").unwrap();
    /// assert_eq!((spec.layers.len(), spec.input.as_deref()), (4, Some(&[1, 28, 28][..])));
    /// assert!(ModelSpec::parse("dense 7\ndesne 3").unwrap_err().to_string().starts_with("spec:2:"));
    /// ```
    pub fn parse(text: &str) -> Result<ModelSpec> {
        Self::parse_named(text, Path::new("spec"))
    }

    /// Parses spec text read from `path` (only used in error messages).
    pub fn parse_named(text: &str, path: &Path) -> Result<ModelSpec> {
        let text = text.trim_start_matches('\u{feff}');
        if text.trim_start().starts_with('{') {
            return serde_json::from_str(text).map_err(|e| Error::parse(path, e.line(), "json", e.to_string()));
        }
        let mut spec = ModelSpec { input: None, layers: vec![] };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |field: &str, msg: String| Error::parse(path, i + 1, field, msg);
            let toks: Vec<&str> = line.split_whitespace().collect();
            if toks[0].eq_ignore_ascii_case("input") {
                let s = toks.get(1).ok_or_else(|| err("input", "expected a size like 48x48x1".into()))?;
                let dims = parse_dims(s)
                    .filter(|d| d.len() == 3 && d.iter().all(|&x| x > 0))
                    .ok_or_else(|| err("input", format!("{s:?} is not HxWxC like 48x48x1")))?;
                spec.input = Some(vec![dims[2], dims[0], dims[1]]);
                continue;
            }
            spec.layers.push(parse_layer(&toks).map_err(|(f, m)| err(&f, m))?);
        }
        if spec.layers.is_empty() {
            return Err(Error::parse(path, 0, "layers", "the spec has no layers"));
        }
        Ok(spec)
    }
}

fn parse_dims(s: &str) -> Option<Vec<usize>> {
    s.split(['x', 'X']).map(|p| p.parse().ok()).collect()
}

fn parse_kernel(s: &str) -> Option<(usize, usize)> {
    match parse_dims(s)?.as_slice() {
        [k] if *k > 0 => Some((*k, *k)),
        [a, b] if *a > 0 && *b > 0 => Some((*a, *b)),
        _ => None,
    }
}

/// Parses an activation name (and its optional argument).
pub fn parse_act(name: &str, arg: Option<&str>) -> Option<Act> {
    let num = |d: f32| arg.and_then(|a| a.parse().ok()).unwrap_or(d);
    Some(match name.to_ascii_lowercase().as_str() {
        "relu" => Act::Relu,
        "leakyrelu" | "leaky_relu" => Act::LeakyRelu { alpha: num(0.3) },
        "elu" => Act::Elu { alpha: num(1.0) },
        "selu" => Act::Selu,
        "softplus" => Act::Softplus,
        "sigmoid" => Act::Sigmoid,
        "tanh" => Act::Tanh,
        "softmax" => Act::Softmax,
        "logsoftmax" | "log_softmax" => Act::LogSoftmax,
        _ => return None,
    })
}

type ParseErr = (String, String);

/// The optional argument of an activation must be a finite number, and only LeakyReLU and
/// ELU take one.
fn check_act_arg(name: &str, arg: &str) -> std::result::Result<(), String> {
    let n = name.to_ascii_lowercase();
    if !matches!(n.as_str(), "leakyrelu" | "leaky_relu" | "elu") {
        return Err(format!("{name} takes no argument, got {arg:?}"));
    }
    match arg.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(()),
        _ => Err(format!("{arg:?} is not a number for {name}")),
    }
}

/// Every word that starts a layer line: the layers, then the activations.
const LAYER_WORDS: [&str; 22] = [
    "conv",
    "conv2d",
    "dense",
    "linear",
    "zeropad",
    "pad",
    "maxpool",
    "avgpool",
    "batchnorm",
    "bn",
    "prelu",
    "dropout",
    "flatten",
    "relu",
    "leakyrelu",
    "elu",
    "selu",
    "softplus",
    "sigmoid",
    "tanh",
    "softmax",
    "logsoftmax",
];

/// Levenshtein distance: the fewest single-character insertions, deletions and substitutions
/// that turn `a` into `b` (one row of the dynamic programme at a time).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The layer word nearest to `word` (a transposition such as `desne` counts 2).
fn nearest_layer(word: &str) -> &'static str {
    LAYER_WORDS.iter().min_by_key(|w| edit_distance(word, w)).copied().unwrap_or("dense")
}

fn parse_layer(toks: &[&str]) -> std::result::Result<LayerSpec, ParseErr> {
    let kind = toks[0].to_ascii_lowercase();
    let e = |f: &str, m: String| (f.to_string(), m);
    if !LAYER_WORDS.contains(&kind.as_str()) && parse_act(&kind, None).is_none() {
        return Err(e(
            "layer",
            format!(
                "unknown layer {:?}; did you mean {:?}? (conv, dense, zeropad, maxpool, avgpool, batchnorm, dropout, flatten, prelu, or an activation)",
                toks[0],
                nearest_layer(&kind)
            ),
        ));
    }
    // split positional words and key=value options
    let mut pos = vec![];
    let mut opts: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for t in &toks[1..] {
        match t.split_once('=') {
            Some((k, v)) => {
                opts.insert(k.to_ascii_lowercase(), v);
            }
            None => pos.push(*t),
        }
    }
    let num = |name: &str, v: &str| v.parse::<usize>().map_err(|_| e(name, format!("{v:?} is not a whole number")));
    let float = |name: &str, v: &str| v.parse::<f32>().ok().filter(|x| x.is_finite()).ok_or_else(|| e(name, format!("{v:?} is not a number")));
    let init = match opts.get("init") {
        Some(v) => Init::parse(v).map_err(|er| e("init", er.to_string()))?,
        None => Init::default(),
    };
    let l2 = opts.get("l2").map(|v| float("l2", v)).transpose()?.unwrap_or(0.0);
    let act_from = |words: &[&str]| -> std::result::Result<Option<Act>, ParseErr> {
        match words {
            [] => Ok(None),
            [a] => parse_act(a, None).map(Some).ok_or_else(|| e("activation", format!("unknown activation {a:?}"))),
            [a, b] => {
                check_act_arg(a, b).map_err(|m| e("activation", m))?;
                parse_act(a, Some(b)).map(Some).ok_or_else(|| e("activation", format!("unknown activation {a:?}")))
            }
            _ => Err(e("layer", format!("unexpected words {words:?}"))),
        }
    };
    // every option and word must mean something: a typo is an error, not silently ignored
    let (allowed, max_words): (&[&str], usize) = match kind.as_str() {
        "conv" | "conv2d" => (&["stride", "init", "l2"], 5),
        "dense" | "linear" => (&["init", "l2"], 3),
        "zeropad" | "pad" => (&[], 4),
        "maxpool" | "avgpool" => (&["stride"], 1),
        "batchnorm" | "bn" => (&["momentum", "eps"], 0),
        "prelu" | "dropout" => (&[], 1),
        "flatten" => (&[], 0),
        _ => (&[], 1),
    };
    if let Some(k) = opts.keys().find(|k| !allowed.contains(&k.as_str())) {
        let hint = if allowed.is_empty() { "it takes no options".to_string() } else { format!("it takes {}", allowed.join(", ")) };
        return Err(e(k, format!("{kind} has no option {k:?}; {hint}")));
    }
    if pos.len() > max_words {
        return Err(e("layer", format!("too many words for {kind}: {:?}", &pos[max_words..])));
    }
    if l2 < 0.0 {
        return Err(e("l2", format!("{l2} must not be negative")));
    }
    let stride_of = |k: (usize, usize)| -> std::result::Result<(usize, usize), ParseErr> {
        match opts.get("stride") {
            Some(v) => parse_kernel(v).ok_or_else(|| e("stride", format!("{v:?} is not a stride like 2 or 2x2"))),
            None => Ok(k),
        }
    };
    Ok(match kind.as_str() {
        "conv" | "conv2d" => {
            let filters = num("filters", pos.first().ok_or_else(|| e("filters", "expected: conv FILTERS KxK [valid|same|PAD] [activation]".into()))?)?;
            let ks = pos.get(1).ok_or_else(|| e("kernel", "expected a kernel size like 3x3".into()))?;
            let kernel = parse_kernel(ks).ok_or_else(|| e("kernel", format!("{ks:?} is not a kernel size like 3x3")))?;
            let mut rest = &pos[2..];
            let padding = match rest.first().map(|s| s.to_ascii_lowercase()) {
                Some(p) if p == "valid" => {
                    rest = &rest[1..];
                    Padding::Valid
                }
                Some(p) if p == "same" => {
                    rest = &rest[1..];
                    Padding::Same
                }
                Some(p) if p.parse::<usize>().is_ok() => {
                    rest = &rest[1..];
                    Padding::Explicit(p.parse().unwrap_or(0))
                }
                _ => Padding::Valid,
            };
            let stride = stride_of((1, 1))?;
            LayerSpec::Conv2d { filters, kernel, stride, padding, activation: act_from(rest)?, init, l2 }
        }
        "dense" | "linear" => {
            let units = num("units", pos.first().ok_or_else(|| e("units", "expected: dense UNITS [activation]".into()))?)?;
            LayerSpec::Dense { units, activation: act_from(&pos[1..])?, init, l2 }
        }
        "zeropad" | "pad" => match pos.as_slice() {
            [p] => {
                let p = num("padding", p)?;
                LayerSpec::ZeroPad { top: p, bottom: p, left: p, right: p }
            }
            [t, b, l, r] => LayerSpec::ZeroPad { top: num("top", t)?, bottom: num("bottom", b)?, left: num("left", l)?, right: num("right", r)? },
            _ => return Err(e("padding", "expected: zeropad P or zeropad TOP BOTTOM LEFT RIGHT".into())),
        },
        "maxpool" | "avgpool" => {
            let ks = pos.first().ok_or_else(|| e("kernel", format!("expected: {kind} K [stride=S]")))?;
            let kernel = parse_kernel(ks).ok_or_else(|| e("kernel", format!("{ks:?} is not a pool size like 2 or 3x3")))?;
            let stride = stride_of(kernel)?;
            if kind == "maxpool" {
                LayerSpec::MaxPool { kernel, stride }
            } else {
                LayerSpec::AvgPool { kernel, stride }
            }
        }
        "batchnorm" | "bn" => {
            let momentum = opts.get("momentum").map(|v| float("momentum", v)).transpose()?.unwrap_or(0.1);
            let eps = opts.get("eps").map(|v| float("eps", v)).transpose()?.unwrap_or(1e-5);
            LayerSpec::BatchNorm { momentum, eps }
        }
        "prelu" => match pos.first() {
            None => LayerSpec::Prelu { per_channel: false },
            Some(p) if p.eq_ignore_ascii_case("channel") => LayerSpec::Prelu { per_channel: true },
            Some(p) => return Err(e("prelu", format!("{p:?}: expected nothing (per element) or `channel`"))),
        },
        "dropout" => {
            let rate = float("rate", pos.first().ok_or_else(|| e("rate", "expected: dropout RATE".into()))?)?;
            if !(0.0..1.0).contains(&rate) {
                return Err(e("rate", format!("{rate} is outside [0, 1)")));
            }
            LayerSpec::Dropout { rate }
        }
        "flatten" => LayerSpec::Flatten,
        other => {
            match pos.first().map(|a| check_act_arg(other, a)).transpose().map_err(|m| e("activation", m)).and(Ok(parse_act(other, pos.first().copied())))? {
                Some(act) => LayerSpec::Activation { act },
                None => {
                    return Err(e(
                        "layer",
                        format!("unknown layer {other:?} (conv, dense, zeropad, maxpool, avgpool, batchnorm, dropout, flatten, prelu, or an activation)"),
                    ))
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_text_parses_like_a_file_and_errors_name_it_spec() {
        let text = "input 12x10x3\nconv 4 3x3 valid relu\nbatchnorm\nflatten\ndense 5\n";
        let inline = ModelSpec::parse(text).unwrap();
        let named = ModelSpec::parse_named(text, Path::new("m.txt")).unwrap();
        assert_eq!(serde_json::to_string(&inline).unwrap(), serde_json::to_string(&named).unwrap());
        assert_eq!(inline.input, Some(vec![3, 12, 10]));
        // its JSON form parses inline too
        let back = ModelSpec::parse(&serde_json::to_string(&inline).unwrap()).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), serde_json::to_string(&inline).unwrap());
        let e = ModelSpec::parse("dense 7\nconv 3 axb\n").unwrap_err().to_string();
        assert!(e.starts_with("spec:2:") && e.contains("kernel"), "{e}");
        assert!(ModelSpec::parse("# only a comment\n").unwrap_err().to_string().contains("no layers"));
    }

    #[test]
    fn parses_and_reports_errors_with_line() {
        let p = Path::new("m.txt");
        let s = ModelSpec::parse_named("input 48x48x1\nconv 64 5x5 valid relu\nzeropad 2\nmaxpool 5 stride=2\nflatten\ndense 7\n", p).unwrap();
        assert_eq!(s.input, Some(vec![1, 48, 48]));
        assert_eq!(s.layers.len(), 5);
        let shapes = s.shapes(&[1, 48, 48]).unwrap();
        assert_eq!(shapes[1], vec![64, 44, 44]);
        assert_eq!(shapes[3], vec![64, 22, 22]);
        let e = ModelSpec::parse_named("conv 64 5x5\nconv 3 axb\n", p).unwrap_err().to_string();
        assert!(e.contains("m.txt:2") && e.contains("kernel"), "{e}");
        let e = ModelSpec::parse_named("dense 7\nfoo\n", p).unwrap_err().to_string();
        assert!(e.contains("m.txt:2") && e.contains("unknown layer"), "{e}");
        let e = ModelSpec::parse_named("dropout 1.5\n", p).unwrap_err().to_string();
        assert!(e.contains("rate"), "{e}");
        // typos and meaningless words are errors, with the line
        for (text, what) in [
            ("conv 8 3x3 strde=2\n", "strde"),
            ("maxpool 2 3\n", "too many words"),
            ("flatten 5\n", "too many words"),
            ("dense 10 leakyrelu abc\n", "not a number"),
            ("leakyrelu nan\n", "not a number"),
            ("relu 3\n", "takes no argument"),
            ("batchnorm momentum=5\n", "momentum"),
            ("prelu chanel\n", "channel"),
        ] {
            let e = match ModelSpec::parse_named(text, p) {
                Err(e) => e.to_string(),
                Ok(s) => s.shapes(&[1, 8, 8]).unwrap_err().to_string(),
            };
            assert!(e.contains(what), "{text}: {e}");
        }
        // absurd sizes are errors, not overflows or failed allocations
        for text in [
            "conv 4000000 3x3\n",
            "zeropad 18446744073709551615\n",
            "conv 2 3x3 1000000\nflatten\ndense 1000000\n",
            "flatten\ndense 1000\ndense 1048576\ndense 1048576\n",
        ] {
            let s = ModelSpec::parse_named(text, p).unwrap();
            let e = s.shapes(&[1, 48, 48]).unwrap_err().to_string();
            assert!(e.contains("limit"), "{text}: {e}");
        }
    }

    #[test]
    fn unknown_layers_suggest_the_nearest_name() {
        let p = Path::new("m.txt");
        for (text, want) in
            [("desne 7\n", "dense"), ("cnov 16 3x3 same\n", "conv"), ("maxpol 2\n", "maxpool"), ("batchnrom\n", "batchnorm"), ("rleu\n", "relu")]
        {
            let e = ModelSpec::parse_named(&format!("flatten\n{text}"), p).unwrap_err().to_string();
            assert!(e.contains("m.txt:2: layer: unknown layer") && e.contains(&format!("did you mean {want:?}")), "{text}: {e}");
        }
        assert_eq!(edit_distance("desne", "dense"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn json_unknown_fields_are_errors() {
        let good = r#"{"input": null, "layers": [{"type": "flatten"}, {"type": "dense", "units": 7, "activation": null}]}"#;
        ModelSpec::parse_named(good, Path::new("m.json")).unwrap();
        let typo = r#"{"input": null, "layers": [{"type": "flatten"}, {"type": "dense", "unit": 7, "activation": null}]}"#;
        let e = ModelSpec::parse_named(typo, Path::new("m.json")).unwrap_err().to_string();
        assert!(e.contains("m.json") && e.contains("unit"), "{e}");
        let extra = r#"{"input": null, "layers": [{"type": "batch_norm", "momentum": 0.1, "eps": 0.001, "momentom": 0.2}]}"#;
        assert!(ModelSpec::parse_named(extra, Path::new("m.json")).is_err());
        let top = r#"{"input": null, "layer": []}"#;
        assert!(ModelSpec::parse_named(top, Path::new("m.json")).is_err());
    }

    #[test]
    fn json_round_trip() {
        let s = ModelSpec::parse_named("conv 8 3x3 same relu\nbatchnorm\nflatten\ndense 7 softmax\n", Path::new("x")).unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(ModelSpec::parse_named(&j, Path::new("x")).unwrap(), s);
    }
}
