//! Sliding-window geometry: the one output-size formula of convolution and pooling.

/// Number of positions of a window of size `k` sliding with `stride` over `size` elements
/// padded by `pad` on each side:
///
/// ```text
/// out = floor((size + 2·pad - k) / stride) + 1        (Keras "valid" / PyTorch, floor mode)
/// ```
///
/// `None` when the window does not fit in the padded input (`k > size + 2·pad`), when `k` or
/// `stride` is 0, or when `size + 2·pad` overflows `usize`. Never panics.
pub fn out_size(size: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    if k == 0 || stride == 0 {
        return None;
    }
    let padded = pad.checked_mul(2)?.checked_add(size)?;
    Some(padded.checked_sub(k)? / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::out_size;

    #[test]
    fn floors_like_keras_and_rejects_what_does_not_fit() {
        assert_eq!(out_size(28, 5, 1, 0), Some(24));
        assert_eq!(out_size(28, 5, 1, 2), Some(28));
        assert_eq!(out_size(24, 2, 2, 0), Some(12));
        assert_eq!(out_size(7, 3, 2, 1), Some(4));
        assert_eq!(out_size(48, 5, 1, 0), Some(44));
        assert_eq!(out_size(44, 5, 2, 0), Some(20));
        assert_eq!(out_size(5, 2, 2, 0), Some(2)); // the last column is dropped (floor)
        assert_eq!(out_size(2, 3, 1, 0), None);
        assert_eq!(out_size(2, 3, 1, 1), Some(2));
        assert_eq!(out_size(3, 0, 1, 0), None);
        assert_eq!(out_size(3, 1, 0, 0), None);
        assert_eq!(out_size(usize::MAX, 1, 1, 1), None);
        assert_eq!(out_size(1, 1, 1, usize::MAX / 2 + 1), None);
        assert_eq!(out_size(usize::MAX, usize::MAX, 1, 0), Some(1));
    }
}
