//! The loops behind [`super::conv2d`] on plain slices.
//!
//! Forward, per group of `G` images: `pupil_kernels::im2col` writes each image's columns side by side into one
//! `[C·kh·kw] x [G·oh·ow]` matrix, one GEMM `W · cols` gives `[O] x [G·oh·ow]`, and the
//! epilogue scatters it into NCHW and adds the bias. `G` grows until a GEMM has about
//! [`TARGET_COLS`] columns, so small feature maps (10x10) still give the GEMM enough columns to
//! amortise packing `W`. `G` depends on the geometry only, never on the thread count.
//!
//! A 1-channel stride-1 forward pass takes `pupil_kernels::direct` instead where it runs
//! (AVX-512). [`forward_max_pool_relu`] pools each group's output from scratch while it is in
//! cache; its backward is [`backward_im2col`] with `dY` rebuilt per group ([`Dy::Pooled`]).
//!
//! Backward, per chunk of [`CHUNK_IMAGES`] images (a constant): `dW_chunk = Σ dY_g · cols_gᵀ`,
//! `db_chunk = Σ dY`, `dX = col2im(Wᵀ · dY_g)`. Chunks run in parallel; their partial `dW` and
//! `db` are then added in chunk order, so the result is bit-identical on any number of threads.
//!
//! 3x3 stride-1 convolutions with enough channels ([`Geom::winograd`]) take Winograd instead
//! (`pupil_kernels::winograd`): the forward pass and `dX` (a convolution with the flipped
//! filters, padding `r - 1 - p`) fused per block of tiles where the CPU has AVX-512 (else
//! unfused), and `dW` by the adjoint transforms in fixed chunks (8 images, or at most 4 chunks a
//! batch when `dU` is large: [`winograd_dw`]). With AVX-512 each of the three takes the tiles
//! `Wino::preferred` picks for the output it computes: F(4x4, 3x3) on 22x22 maps, F(3x3, 3x3)
//! on 9x9 ones (dW also needs tile rows under 16: `filter_grad::preferred`), F(2x2, 3x3)
//! elsewhere.
//! Where the CPU has AVX-512, 5x5 stride-1 convolutions take F(2x2, 5x5) the same way (fused
//! kernel only), except `dX`, which is the adjoint of their forward pass on the forward's own
//! tiles ([`winograd_dx_adjoint`]: without padding the convolution of the padded `dY` has 1.5x
//! as many tiles).

mod backward;
pub(crate) use backward::{backward, backward_im2col, Dy, PooledDy};

use crate::tensor::Tensor;
use pupil_kernels::alloc::recycle;
use pupil_kernels::direct;
use pupil_kernels::winograd::{self, PanelForm, Wino};
use pupil_kernels::{buffer, im2col, Patches, Window};
use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::Arc;

/// Columns a forward GEMM should have at least (images are batched until it does).
const TARGET_COLS: usize = 400;
/// At most this many images per GEMM.
const MAX_GROUP: usize = 8;
/// Images per backward task: the unit of the fixed-order `dW` / `db` reduction.
const CHUNK_IMAGES: usize = 8;
/// Fewest input and output channels for which a 3x3 stride-1 convolution takes Winograd.
const MIN_WINOGRAD_CHANNELS: usize = 8;
/// `dU` (floats) from which the Winograd filter gradient splits a batch into at most
/// [`LARGE_DU_CHUNKS`] chunks (512 KiB: 64 -> 128 @10's F(2x2) `dU` and larger; at 1 MiB its
/// 16 partial `dU` made its `dW` about 11% slower, twelve alternated pairs of `conv_parts`).
const LARGE_DU_FLOATS: usize = 1 << 17;
/// Chunks of a batch for a large `dU`: enough for two threads to share evenly.
const LARGE_DU_CHUNKS: usize = 4;
/// Tiles (GEMM columns) a Winograd group should have at least. Small enough that the group's
/// transformed input and products stay near L2 (measured: 1 image of 22x22, 121 tiles, runs
/// faster per image than 2; 4 images of 10x10 faster than 8).
const WINOGRAD_COLS: usize = 100;

/// Shape of one conv2d call: `n` images of `pt` (input `[c, h, w]`, kernel, stride, padding,
/// output `[oh, ow]`) and `o` filters; the weight is `[o, c, kh, kw]`, the output `[n, o, oh, ow]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub n: usize,
    pub o: usize,
    pub pt: Patches,
}

impl Geom {
    /// Rows of the column matrix: `c·kh·kw`.
    fn k(&self) -> usize {
        self.pt.rows()
    }
    /// Output pixels per image.
    fn p(&self) -> usize {
        self.pt.pixels()
    }
    fn in_len(&self) -> usize {
        self.pt.image_len()
    }
    fn out_len(&self) -> usize {
        self.o * self.p()
    }
    /// 1x1, stride 1, no padding: the image `[c][h·w]` already is its column matrix.
    fn pointwise(&self) -> bool {
        let t = &self.pt;
        t.kh == 1 && t.kw == 1 && t.sh == 1 && t.sw == 1 && t.ph == 0 && t.pw == 0
    }
    /// Images per forward GEMM.
    fn group(&self) -> usize {
        TARGET_COLS.div_ceil(self.p().max(1)).clamp(1, MAX_GROUP)
    }
    /// Scratch floats [`conv_group`] needs for `gn` images: the column matrix, and for a group
    /// the GEMM's `[o] x [gn·p]` output.
    fn group_scratch(&self, gn: usize) -> usize {
        if self.direct() {
            return direct::scratch_len(&self.pt, self.o);
        }
        match gn {
            1 if self.pointwise() => 0,
            1 => self.k() * self.p(),
            _ => (self.k() + self.o) * gn * self.p(),
        }
    }
    /// True when the forward pass is the direct single-channel convolution (see
    /// `pupil_kernels::direct`) instead of im2col + GEMM.
    fn direct(&self) -> bool {
        direct::available(&self.pt)
    }
    /// Images per backward chunk: a multiple of the group size.
    fn chunk(&self) -> usize {
        let g = self.group();
        g * (CHUNK_IMAGES / g).max(1)
    }
    /// The Winograd geometry when this is a stride-1 convolution with at least
    /// [`MIN_WINOGRAD_CHANNELS`] input and output channels (with fewer, the transforms cost more
    /// than the multiplications they save) and a 3x3 kernel with padding at most 2, or a 5x5
    /// one with padding at most 4 where the fused kernel runs (AVX-512).
    pub(crate) fn winograd(&self) -> Option<Wino> {
        let t = &self.pt;
        let kernel = t.kh == t.kw && (t.kh == 3 || (t.kh == 5 && winograd::Fused::available()));
        let fits = kernel && t.sh == 1 && t.sw == 1 && t.c.min(self.o) >= MIN_WINOGRAD_CHANNELS;
        fits.then(|| Wino::new(t.kh, t.c, t.h, t.w, self.o, t.ph, t.pw)).flatten()
    }
}

/// `C = A·B + beta·C` (see `pupil_kernels::sgemm`); `par` uses the parallel driver, which
/// gives the same bits.
#[allow(clippy::too_many_arguments)]
#[inline]
fn gemm(par: bool, m: usize, k: usize, n: usize, a: &[f32], rsa: usize, csa: usize, b: &[f32], rsb: usize, csb: usize, beta: f32, c: &mut [f32], ldc: usize) {
    if par {
        pupil_kernels::sgemm_par(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, ldc);
    } else {
        pupil_kernels::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, ldc);
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a per-thread scratch buffer of `len` floats (reused across calls, so no page
/// faults in the hot loop). Its contents are stale: every user overwrites before reading.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < len {
                v.resize(len, 0.0);
            }
            f(&mut v[..len])
        }
        // re-entered (a rayon task stolen while this thread's buffer is lent out)
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Sum in a fixed order that vectorises: 16 interleaved partial sums, then the tail.
fn sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut chunks = v.chunks_exact(16);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// What an inference convolution does to its output while each group of images is still in
/// cache, instead of in passes of their own over the whole batch: batch norm's per-channel map
/// `(v - mean)·scale + shift` (evaluation mode), then ReLU. The same f32 operations, in the
/// same order, as `ops::batch_norm` (eval) and `ops::relu` on the stored output: the same bits.
pub(crate) struct Post<'a> {
    /// `(mean, scale, shift)`, one value per output channel.
    pub affine: Option<(&'a [f32], &'a [f32], &'a [f32])>,
    pub relu: bool,
}

impl Post<'_> {
    /// Applies the map to `y: [images][o][p]`.
    fn apply(&self, y: &mut [f32], o: usize, p: usize) {
        for (r, row) in y.chunks_exact_mut(p.max(1)).enumerate() {
            self.apply_row(r % o, row);
        }
    }
    /// Applies the map to one row of output channel `ch`.
    #[inline]
    fn apply_row(&self, ch: usize, row: &mut [f32]) {
        if let Some((mean, scale, shift)) = self.affine {
            let (mu, a, b) = (mean[ch], scale[ch], shift[ch]);
            row.iter_mut().for_each(|v| *v = (*v - mu) * a + b);
        }
        if self.relu {
            row.iter_mut().for_each(|v| *v = crate::ops::activation::relu_f(*v));
        }
    }
}

/// `y = conv(x, w) + b`, `y: [n][o][oh][ow]`: Winograd when [`Geom::winograd`] applies,
/// im2col + GEMM otherwise; then `post` (inference) on each group as soon as it is written.
pub(crate) fn forward(g: &Geom, x: &[f32], w: Weights, bias: Option<&[f32]>, post: Option<&Post>) -> Vec<f32> {
    forward_then(g, x, w, bias, post, None)
}

/// [`forward`] with `post` and then the max pool `win` of every output plane (values only),
/// per task while the task's convolution output is in cache, so that output never goes to
/// memory (alexnet-bn's first layer: 32 MB a batch of 128). The bits of [`forward`] followed by
/// `pupil_kernels::max_pool2d_padded` without argmax: the pooled `[n][o][poh][pow]`.
pub(crate) fn forward_pooled(g: &Geom, x: &[f32], w: Weights, bias: Option<&[f32]>, post: &Post, win: &Window) -> Vec<f32> {
    forward_then(g, x, w, bias, Some(post), Some(win))
}

/// [`forward`], pooled by `pool` when given ([`forward_pooled`]).
fn forward_then(g: &Geom, x: &[f32], w: Weights, bias: Option<&[f32]>, post: Option<&Post>, pool: Option<&Window>) -> Vec<f32> {
    match g.winograd() {
        Some(wg) => {
            let wg = wg.preferred(); // F(3x3) or F(4x4) where they pay
            winograd_run(&wg, g.n, x, &Transformed::of(&wg, w, PanelForm::Forward), bias, post, pool)
        }
        None => im2col_run(g, x, w.values.data(), bias, post, pool),
    }
}

/// Runs `conv(n0, scratch, out)` on tasks of `gs` images in parallel, `out` the convolution
/// output `[gn][o][oh][ow]` (`out_len` floats an image) of images `n0..n0 + gn` and `scratch`
/// `scratch_len(gn)` floats: `out` is the task's part of the result, or with `pool` a buffer in
/// scratch that is then max-pooled (values only) into it while in cache. The tasks depend on
/// `gs` only, so the bits do not depend on the thread count.
#[allow(clippy::too_many_arguments)]
fn by_tasks(
    n: usize,
    o: usize,
    out_len: usize,
    gs: usize,
    pool: Option<&Window>,
    scratch_len: impl Fn(usize) -> usize + Sync,
    conv: impl Fn(usize, &mut [f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let per = pool.map_or(out_len, |w| {
        let (poh, pow) = w.out().expect("pool window checked by the caller");
        o * poh * pow
    });
    let mut y = buffer(n * per); // every output is written, by the convolution or the pool
    if y.is_empty() {
        return y;
    }
    y.par_chunks_mut(gs * per).enumerate().for_each(|(gi, yg)| {
        let gn = yg.len() / per;
        let s = scratch_len(gn);
        match pool {
            None => with_scratch(s, |s| conv(gi * gs, s, yg)),
            Some(win) => with_scratch(s + gn * out_len, |buf| {
                let (s, out) = buf.split_at_mut(s);
                conv(gi * gs, s, out);
                pupil_kernels::max_pool2d_padded(out, gn * o, win, yg, None);
            }),
        }
    });
    y
}

/// The transformed filters of a Winograd convolution: packed for the fused kernel straight
/// from the weights where the CPU has it (no `[α²][o][c]` copy to write, read and pack on every
/// call), else `[α²][o][c]` for [`winograd::conv3x3`].
pub(super) enum Transformed {
    Packed(winograd::Fused),
    Plain(Vec<f32>),
}

impl Transformed {
    /// The filters of geometry `g` from the forward weights `wt: [o][c][r][r]`: with
    /// [`PanelForm::Flipped`], `g` is the input gradient's geometry ([`Wino::input_grad`]);
    /// [`PanelForm::Transposed`] only where the fused kernel runs.
    pub(super) fn new(g: &Wino, wt: &[f32], form: PanelForm) -> Transformed {
        if let Some(f) = winograd::Fused::from_weights(g, wt, form) {
            return Transformed::Packed(f);
        }
        let mut u = buffer(g.filter_len()); // written in full
        match form {
            PanelForm::Forward => winograd::filter_transform(g, wt, &mut u),
            PanelForm::Flipped => winograd::filter_transform_flipped(&g.input_grad(), wt, &mut u),
            PanelForm::Transposed => unreachable!("the transposed filters serve the fused input gradient only"),
        }
        Transformed::Plain(u)
    }

    /// [`Transformed::new`] of the weights `w`, kept with them until they change when
    /// `w.keep` ([`Tensor::derived`]): an inference or explanation pass then transforms each
    /// layer's filters once, not on every call (at batch 1 the transforms were a quarter of a
    /// keras-hw3 pass). The transform depends on the filter size, the tile, the two channel
    /// counts and the form.
    pub(super) fn of(g: &Wino, w: Weights, form: PanelForm) -> Arc<Transformed> {
        if !w.keep {
            return Arc::new(Transformed::new(g, w.values.data(), form));
        }
        let form_id = match form {
            PanelForm::Forward => 0,
            PanelForm::Flipped => 1,
            PanelForm::Transposed => 2,
        };
        w.values.derived([g.r, g.m, g.o, g.c, form_id, 0], || Transformed::new(g, w.values.data(), form))
    }
}

/// A convolution's weights `[o][c][r][r]`, and whether their Winograd filter transforms are
/// kept with them ([`Transformed::of`]): for weights that take no gradient (inference, the
/// frozen copies explanations work on), which many passes use unchanged. A training step's
/// weights change every step: their transforms are made per call and dropped, as keeping
/// them would only hold memory through the step.
#[derive(Clone, Copy)]
pub(crate) struct Weights<'a> {
    pub values: &'a Tensor,
    pub keep: bool,
}

impl Drop for Transformed {
    fn drop(&mut self) {
        if let Transformed::Plain(u) = self {
            recycle(std::mem::take(u));
        }
    }
}

/// A Winograd convolution over `n` images in parallel tasks of a size fixed by the geometry
/// (so the bits do not depend on the thread count) with the transformed filters `f`: the
/// fused kernel ([`winograd::conv_fused`]) when they are packed for it, else
/// [`winograd::conv3x3`]; then `post`, and `pool` ([`by_tasks`]).
fn winograd_run(wg: &Wino, n: usize, x: &[f32], f: &Transformed, bias: Option<&[f32]>, post: Option<&Post>, pool: Option<&Window>) -> Vec<f32> {
    let (in_len, out_len) = (wg.c * wg.h * wg.w, wg.o * wg.oh * wg.ow);
    let gs = match f {
        Transformed::Packed(_) => winograd::Fused::images_per_task(wg, MAX_GROUP),
        Transformed::Plain(_) => WINOGRAD_COLS.div_ceil(wg.tiles_per_image()).clamp(1, MAX_GROUP),
    };
    // the unfused path has one group only for a small batch: its GEMMs then use both threads
    let par = n <= gs;
    let scratch_len = |gn: usize| match f {
        Transformed::Packed(fused) => fused.scratch_len(),
        Transformed::Plain(_) => wg.scratch_len(gn),
    };
    by_tasks(n, wg.o, out_len, gs, pool, scratch_len, |n0, s, yg| {
        let gn = yg.len() / out_len;
        let xg = &x[n0 * in_len..(n0 + gn) * in_len];
        match f {
            Transformed::Packed(fused) => winograd::conv_fused(wg, gn, xg, fused, bias, yg, s),
            Transformed::Plain(u) => winograd::conv3x3(wg, gn, xg, u, bias, yg, s, par),
        }
        if let Some(post) = post {
            post.apply(yg, wg.o, wg.oh * wg.ow);
        }
    })
}

/// [`forward`] as im2col + GEMM, whatever the geometry (the tests' reference for Winograd).
#[cfg(test)]
pub(crate) fn forward_im2col(g: &Geom, x: &[f32], wt: &[f32], bias: Option<&[f32]>, post: Option<&Post>) -> Vec<f32> {
    im2col_run(g, x, wt, bias, post, None)
}

/// [`forward`] as im2col + GEMM whatever the geometry, pooled by `pool` when given
/// ([`by_tasks`]).
fn im2col_run(g: &Geom, x: &[f32], wt: &[f32], bias: Option<&[f32]>, post: Option<&Post>, pool: Option<&Window>) -> Vec<f32> {
    let gs = g.group();
    let par = g.n.div_ceil(gs) == 1;
    by_tasks(g.n, g.o, g.out_len(), gs, pool, |gn| g.group_scratch(gn), |n0, buf, yg| conv_group(g, x, wt, bias, post, n0, par, buf, yg))
}

/// `relu(max_pool(conv(x, w) + b))` by [`conv_group`] (im2col + GEMM, or the direct
/// single-channel kernel), `win` the pool's window over one output
/// plane (its zero padding virtual): each group of images is convolved into scratch and pooled
/// from there while it is in cache, so the convolution's output never goes to memory. The
/// same bits as [`im2col_run`] followed by the ReLU'd max pool (`ops::max_pool2d_relu`).
/// Returns the pooled `[n][o][poh][pow]` and, with `argmax`, each output's winner within its
/// convolution plane (`pupil_kernels::PADDED` for a padding zero).
pub(crate) fn forward_max_pool_relu(g: &Geom, x: &[f32], wt: &[f32], bias: Option<&[f32]>, win: &Window, argmax: bool) -> (Vec<f32>, Option<Vec<u32>>) {
    let gs = g.group();
    let (poh, pow) = win.out().expect("pool window checked by the caller");
    let pooled = g.o * poh * pow;
    let mut y = buffer(g.n * pooled); // every output is written by the pool
    let mut arg = argmax.then(|| vec![0u32; y.len()]);
    if y.is_empty() {
        return (y, arg);
    }
    let par = g.n.div_ceil(gs) == 1;
    let task = |gi: usize, yg: &mut [f32], ag: Option<&mut [u32]>| {
        let gn = yg.len() / pooled;
        let scratch = g.group_scratch(gn);
        with_scratch(scratch + gn * g.out_len(), |buf| {
            let (buf, conv) = buf.split_at_mut(scratch);
            conv_group(g, x, wt, bias, None, gi * gs, par, buf, conv);
            pupil_kernels::max_pool2d_padded(conv, gn * g.o, win, yg, ag);
        });
        yg.iter_mut().for_each(|v| *v = crate::ops::activation::relu_f(*v));
    };
    match arg.as_deref_mut() {
        Some(a) => y.par_chunks_mut(gs * pooled).zip(a.par_chunks_mut(gs * pooled)).enumerate().for_each(|(gi, (yg, ag))| task(gi, yg, Some(ag))),
        None => y.par_chunks_mut(gs * pooled).enumerate().for_each(|(gi, yg)| task(gi, yg, None)),
    }
    (y, arg)
}

/// The convolution of the `gn = yg.len() / out_len` images from `n0` into `yg`
/// (`[gn][o][oh][ow]`), with the bias and then `post`; `buf` holds
/// [`Geom::group_scratch`]`(gn)` floats (contents ignored). `par`: the GEMM uses every thread.
#[allow(clippy::too_many_arguments)]
fn conv_group(g: &Geom, x: &[f32], wt: &[f32], bias: Option<&[f32]>, post: Option<&Post>, n0: usize, par: bool, buf: &mut [f32], yg: &mut [f32]) {
    let (k, p) = (g.k(), g.p());
    let gn = yg.len() / g.out_len();
    if g.direct() {
        for (i, yi) in yg.chunks_exact_mut(g.out_len()).enumerate() {
            direct::conv_single_channel(&g.pt, g.o, &x[(n0 + i) * g.in_len()..(n0 + i + 1) * g.in_len()], wt, bias, yi, buf);
            if let Some(post) = post {
                post.apply(yi, g.o, p);
            }
        }
        return;
    }
    let beta = if bias.is_some() { 1.0 } else { 0.0 };
    if gn == 1 {
        // one image: the GEMM writes straight into y, pre-filled with the bias
        if let Some(b) = bias {
            for (row, &bo) in yg.chunks_exact_mut(p).zip(b) {
                row.fill(bo);
            }
        }
        let xi = &x[n0 * g.in_len()..(n0 + 1) * g.in_len()];
        if g.pointwise() {
            gemm(par, g.o, k, p, wt, k, 1, xi, p, 1, beta, yg, p);
        } else {
            let cols = &mut buf[..k * p];
            im2col(&g.pt, xi, cols, p, 0);
            gemm(par, g.o, k, p, wt, k, 1, cols, p, 1, beta, yg, p);
        }
        if let Some(post) = post {
            post.apply(yg, g.o, p);
        }
        return;
    }
    let ld = gn * p;
    let (cols, out) = buf[..(k + g.o) * ld].split_at_mut(k * ld);
    for i in 0..gn {
        let xi = &x[(n0 + i) * g.in_len()..(n0 + i + 1) * g.in_len()];
        im2col(&g.pt, xi, cols, ld, i * p);
    }
    gemm(par, g.o, k, ld, wt, k, 1, cols, ld, 1, 0.0, out, ld);
    for (i, yi) in yg.chunks_exact_mut(g.out_len()).enumerate() {
        for (o, row) in yi.chunks_exact_mut(p).enumerate() {
            let src = &out[o * ld + i * p..o * ld + (i + 1) * p];
            match bias {
                Some(b) => row.iter_mut().zip(src).for_each(|(d, s)| *d = s + b[o]),
                None => row.copy_from_slice(src),
            }
            if let Some(post) = post {
                post.apply_row(o, row);
            }
        }
    }
}
