//! Value parsers for flags whose range clap cannot state: a negative or out-of-range value is a
//! usage error (exit 2) that says what the flag accepts, instead of clap's "unexpected argument
//! '-0'" (a leading `-` reads as a flag unless the argument allows negative numbers).

/// A whole number of at least `MIN` (`--epochs`, `--batch`, ...).
pub fn at_least<const MIN: usize>(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v >= MIN as i128 && v <= usize::MAX as i128 => Ok(v as usize),
        Ok(v) if v < MIN as i128 => Err(format!("must be a whole number of at least {MIN}, got {v}")),
        Ok(_) => Err(format!("{s} is too large")),
        Err(_) => Err(format!("must be a whole number of at least {MIN}, got {s:?}")),
    }
}

/// A seed: any whole number from 0 to 2^64 - 1.
pub fn seed(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| format!("must be a whole number from 0 to {}, got {s:?}", u64::MAX))
}

/// A fraction in [0, 1) (`--val-split`).
pub fn fraction(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("must be in [0, 1), got {v}")),
        Err(_) => Err(format!("must be a number in [0, 1), got {s:?}")),
    }
}

/// clap's rendered error, trimmed to what the project prints for every error: the `error:`
/// line (with a pointer to `--help`) and clap's `tip:` lines (its "a similar argument exists"
/// suggestion), without the usage block.
pub fn usage_error_text(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim_end).filter(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with("Usage:") && !t.starts_with("For more information")
    });
    let mut out = format!("{} (see pupil --help)\n", lines.next().unwrap_or("error: bad arguments"));
    for tip in lines {
        out.push_str(tip);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_messages() {
        assert_eq!(at_least::<1>("3"), Ok(3));
        assert_eq!(at_least::<1>("-1").unwrap_err(), "must be a whole number of at least 1, got -1");
        assert!(at_least::<1>("0").is_err() && at_least::<0>("0").is_ok() && at_least::<1>("x").is_err());
        assert_eq!(fraction("0"), Ok(0.0));
        assert_eq!(fraction("-0.1").unwrap_err(), "must be in [0, 1), got -0.1");
        assert!(fraction("1").is_err() && fraction("NaN").is_err() && fraction("a").is_err());
        assert!(seed("-1").is_err() && seed("18446744073709551615").is_ok());
    }

    #[test]
    fn usage_text_keeps_the_tip_and_drops_usage() {
        let rendered = "error: unexpected argument '--epoch' found\n\n  tip: a similar argument exists: '--epochs'\n\nUsage: pupil train --epochs <EPOCHS>\n\nFor more information, try '--help'.\n";
        let t = usage_error_text(rendered);
        assert_eq!(t, "error: unexpected argument '--epoch' found (see pupil --help)\n  tip: a similar argument exists: '--epochs'\n");
        assert_eq!(usage_error_text("error: bad\n\nUsage: x\n"), "error: bad (see pupil --help)\n");
    }
}
