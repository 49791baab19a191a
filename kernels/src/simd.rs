//! Loops on slices compiled twice: for the baseline target and for AVX2 + FMA, the build
//! picked at run time ([`multiversion`]). The crate is built for the baseline x86-64 (SSE2),
//! so plain loops vectorise 4 wide unless compiled again with the wider instructions.

/// True if the CPU has AVX2 and FMA (the fast build of the [`multiversion`] loops).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Runs `f` compiled for AVX2 when the CPU has it (the generic body is inlined into a
/// `target_feature` function, so its loops vectorise 8 wide), else the portable build. Mark the
/// body and what it calls `#[inline(always)]`: a body left as its own function is compiled
/// once, for the baseline, and the AVX2 build then just calls it.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:path) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if $crate::simd::has_avx2() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above); `avx2` is
                    // the same safe code compiled for them.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use multiversion;
