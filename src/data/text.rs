//! Byte-level field parsing for the CSV readers: pixel lists, unsigned integers, quoting,
//! and short renderings of bad input for error messages. Never panics on any bytes.

/// Shows at most 24 characters of a field in an error message.
pub(crate) fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 24 {
        format!("{:?}...", s.chars().take(24).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

/// Trims ASCII whitespace and one pair of surrounding double quotes.
pub(crate) fn unquote(mut b: &[u8]) -> &[u8] {
    b = b.trim_ascii();
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        b = b[1..b.len() - 1].trim_ascii();
    }
    b
}

/// Parses space-separated pixel values `0..=255` into `out`, which must receive exactly
/// `out.len()` values. Returns the error message (without file/line/field).
pub(crate) fn parse_pixels(s: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    // Fast path: one pass, no detail; any problem re-parses with `pixel_error`.
    let n = out.len();
    let mut count = 0usize;
    let mut v: u32 = 0;
    let mut in_tok = false;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            v = (v * 10 + d as u32).min(1000);
            in_tok = true;
        } else if b == b' ' || b == b'\t' {
            if in_tok {
                if v > 255 || count >= n {
                    return Err(pixel_error(s, n));
                }
                out[count] = v as u8;
                count += 1;
                v = 0;
                in_tok = false;
            }
        } else {
            return Err(pixel_error(s, n));
        }
    }
    if in_tok {
        if v > 255 || count >= n {
            return Err(pixel_error(s, n));
        }
        out[count] = v as u8;
        count += 1;
    }
    if count != n {
        return Err(pixel_error(s, n));
    }
    Ok(())
}

/// The message for a pixel field that [`parse_pixels`] rejected.
pub(crate) fn pixel_error(s: &[u8], n: usize) -> String {
    match parse_pixels_detailed(s, &mut vec![0u8; n]) {
        Err(m) => m,
        Ok(()) => format!("cannot parse the {n} pixel values"),
    }
}

/// Like [`parse_pixels`], slower, with the position of the first bad value.
pub(crate) fn parse_pixels_detailed(s: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    let n = out.len();
    let mut count = 0usize;
    let mut i = 0usize;
    let len = s.len();
    loop {
        while i < len && (s[i] == b' ' || s[i] == b'\t') {
            i += 1;
        }
        if i >= len {
            break;
        }
        let start = i;
        let mut v: u32 = 0;
        while i < len && s[i].is_ascii_digit() {
            v = (v * 10 + (s[i] - b'0') as u32).min(100_000);
            i += 1;
        }
        if i < len && s[i] != b' ' && s[i] != b'\t' || i == start {
            let mut end = i;
            while end < len && s[end] != b' ' && s[end] != b'\t' {
                end += 1;
            }
            let tok = &s[start..end];
            let negative = tok.len() > 1 && tok[0] == b'-' && tok[1..].iter().all(u8::is_ascii_digit);
            return Err(if negative {
                format!("value {} at position {} is outside 0..=255", show_plain(tok), count + 1)
            } else {
                format!("not a number: {} at position {}", show(tok), count + 1)
            });
        }
        if v > 255 {
            return Err(format!("value {} at position {} is outside 0..=255", show_plain(&s[start..i]), count + 1));
        }
        if count < n {
            out[count] = v as u8;
        }
        count += 1;
    }
    if count != n {
        return Err(format!("expected {n} pixel values, found {count}"));
    }
    Ok(())
}

/// A number token as text, shortened if very long.
pub(crate) fn show_plain(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 24 {
        format!("{}...", &s[..24])
    } else {
        s.into_owned()
    }
}

/// Counts whitespace-separated tokens.
pub(crate) fn count_tokens(s: &[u8]) -> usize {
    s.split(|&b| b == b' ' || b == b'\t').filter(|t| !t.is_empty()).count()
}

pub(crate) fn parse_uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add((d - b'0') as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(s: &str, n: usize) -> std::result::Result<Vec<u8>, String> {
        let mut out = vec![0u8; n];
        parse_pixels(s.as_bytes(), &mut out).map(|_| out)
    }

    #[test]
    fn pixel_parsing() {
        assert_eq!(px("1 2  255\t0", 4).unwrap(), vec![1, 2, 255, 0]);
        assert_eq!(px("1 2 3", 4).unwrap_err(), "expected 4 pixel values, found 3");
        assert_eq!(px("1 2 3 4 5", 4).unwrap_err(), "expected 4 pixel values, found 5");
        assert_eq!(px("1 256 3 4", 4).unwrap_err(), "value 256 at position 2 is outside 0..=255");
        assert_eq!(px("1 -1 3 4", 4).unwrap_err(), "value -1 at position 2 is outside 0..=255");
        assert_eq!(px("1 2 12a 4", 4).unwrap_err(), "not a number: \"12a\" at position 3");
        assert_eq!(px("1 2 a 4", 4).unwrap_err(), "not a number: \"a\" at position 3");
        let big = format!("1 {} 3 4", "9".repeat(100));
        assert!(px(&big, 4).unwrap_err().contains("is outside 0..=255"));
        assert_eq!(px("", 1).unwrap_err(), "expected 1 pixel values, found 0");
    }

    #[test]
    fn fast_and_detailed_parsers_agree_on_random_input() {
        let mut rng = crate::Rng::new(11);
        let alphabet = b"0123456789012345678901234567  \t-a,\xff";
        for _ in 0..20_000 {
            let len = rng.below(24);
            let s: Vec<u8> = (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect();
            let n = rng.below(6);
            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
            let (ra, rb) = (parse_pixels(&s, &mut a), parse_pixels_detailed(&s, &mut b));
            assert_eq!(ra.is_ok(), rb.is_ok(), "{:?}", String::from_utf8_lossy(&s));
            if ra.is_ok() {
                assert_eq!(a, b);
            }
            let _ = (parse_uint(&s), show(&s), unquote(&s), count_tokens(&s));
        }
    }
}
