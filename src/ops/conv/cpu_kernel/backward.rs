//! The backward pass of [`super::forward`] (see the parent module's docs): im2col + GEMM and
//! col2im per fixed chunk of images, or the Winograd transforms for `dX` and `dW`.

use super::{gemm, sum, winograd_run, with_scratch, Geom, Transformed, Weights, CHUNK_IMAGES, LARGE_DU_CHUNKS, LARGE_DU_FLOATS, MAX_GROUP, WINOGRAD_COLS};
use pupil_kernels::alloc::recycle;
use pupil_kernels::winograd::{self, PanelForm, Wino};
use pupil_kernels::{buffer, col2im, im2col, PADDED};
use rayon::prelude::*;

/// Gradients of one conv2d call, each present when asked for.
pub(crate) struct ConvGrads {
    pub dx: Option<Vec<f32>>,
    pub dw: Option<Vec<f32>>,
    pub db: Option<Vec<f32>>,
}

/// Partial `dW` and `db` of one chunk, accumulated in a fixed order.
struct Partial {
    dw: Vec<f32>,
    db: Vec<f32>,
}

/// Backward of [`forward`] for `dy: [n][o][oh][ow]`. When Winograd applies, `dX` is the
/// Winograd convolution of `dy` with the flipped, transposed filters, and `dW` comes from the
/// Winograd transforms too where the CPU has the fused kernel (see
/// `pupil_kernels::winograd::filter_grad`); the rest from [`backward_im2col`].
pub(crate) fn backward(g: &Geom, x: &[f32], w: Weights, dy: &[f32], need: [bool; 3]) -> ConvGrads {
    let wt = w.values.data();
    let Some(wg) = g.winograd() else {
        return backward_im2col(g, x, wt, Dy::Dense(dy), need);
    };
    let dx = need[0].then(|| {
        if wg.r == 5 && winograd::input_grad::available(&wg) {
            return winograd_dx_adjoint(&wg, g.n, dy, w);
        }
        // the form that pays on dX's own output (`input_grad` twice is the forward geometry,
        // in the tiles chosen for dX, which the flipped filters must match)
        let d = wg.input_grad().preferred();
        winograd_run(&d, g.n, dy, &Transformed::of(&d, w, PanelForm::Flipped), None, None, None)
    });
    let dw = (need[1] && winograd::filter_grad::available()).then(|| winograd_dw(&wg, g.n, x, dy));
    let rest = backward_im2col(g, x, wt, Dy::Dense(dy), [false, need[1] && dw.is_none(), need[2]]);
    ConvGrads { dx, dw: dw.or(rest.dw), db: rest.db }
}

/// `dX` of a 5x5 convolution as the adjoint of its forward pass, on the forward's tiles
/// (`pupil_kernels::winograd::input_grad`): alexnet-bn's 32 -> 64 layer without padding has 81
/// tiles an image there against 121 for the convolution of the padded `dY`, whose input
/// transform on `dY`'s 64 channels was most of its time. Images in tasks of the forward's size
/// (a geometry's choice), each task's block of `dX` zeroed and then added into in a fixed
/// order, so the bits do not depend on the thread count.
fn winograd_dx_adjoint(wg: &Wino, n: usize, dy: &[f32], w: Weights) -> Vec<f32> {
    use winograd::input_grad;
    let (in_len, out_len) = (wg.c * wg.h * wg.w, wg.o * wg.oh * wg.ow);
    let mut dx = buffer(n * in_len); // zeroed per task, then added into
    if dx.is_empty() {
        return dx;
    }
    let kept = Transformed::of(wg, w, PanelForm::Transposed);
    let Transformed::Packed(ft) = &*kept else { unreachable!("input_grad::available implies the fused kernel") };
    let gs = winograd::Fused::images_per_task(wg, MAX_GROUP);
    dx.par_chunks_mut(gs * in_len).enumerate().for_each(|(gi, dxg)| {
        dxg.fill(0.0);
        let gn = dxg.len() / in_len;
        let dyg = &dy[gi * gs * out_len..(gi * gs + gn) * out_len];
        with_scratch(input_grad::scratch_len(wg), |s| input_grad::conv_input_grad(wg, gn, dyg, ft, dxg, s));
    });
    dx
}

/// `dW` by the Winograd transforms: images in groups of about [`WINOGRAD_COLS`] tiles, groups
/// summed in order within chunks of [`CHUNK_IMAGES`] images, chunks in parallel and then added
/// in chunk order, so the bits do not depend on the thread count. When `dU` is large
/// ([`LARGE_DU_FLOATS`]: alexnet-bn's 128 -> 256 is 3.3 MB) the batch goes in at most
/// [`LARGE_DU_CHUNKS`] chunks instead: each chunk's partial `dU` is written and read again,
/// which cost more than the parallelism it bought. A chunk's first group overwrites its `dU`
/// instead of adding into zeros (alexnet-bn's 128 -> 256 at batch 32: `dW` 6.0 -> 4.8 ms with
/// the vectorised `finish`, median of sixteen alternated `conv_parts` runs).
fn winograd_dw(wg: &Wino, n: usize, x: &[f32], dy: &[f32]) -> Vec<f32> {
    use winograd::filter_grad;
    let wg = &filter_grad::preferred(wg); // F(3x3) or F(4x4) where they pay, as the forward pass
    if n == 0 {
        return vec![0.0; wg.weight_len()]; // an empty sum
    }
    let (in_len, out_len, du_len) = (wg.c * wg.h * wg.w, wg.o * wg.oh * wg.ow, wg.filter_len());
    let gs = WINOGRAD_COLS.div_ceil(wg.tiles_per_image().max(1)).clamp(1, MAX_GROUP);
    let cs = if du_len >= LARGE_DU_FLOATS { gs * n.div_ceil(gs).div_ceil(LARGE_DU_CHUNKS).max(1) } else { gs * (CHUNK_IMAGES / gs).max(1) };
    let parts: Vec<Vec<f32>> = (0..n.div_ceil(cs))
        .into_par_iter()
        .map(|ci| {
            let mut du = buffer(du_len); // overwritten by the chunk's first group (every chunk has one)
            let (c0, c1) = (ci * cs, ((ci + 1) * cs).min(n));
            for n0 in (c0..c1).step_by(gs) {
                let gn = gs.min(c1 - n0);
                let (xg, dyg) = (&x[n0 * in_len..(n0 + gn) * in_len], &dy[n0 * out_len..(n0 + gn) * out_len]);
                with_scratch(filter_grad::scratch_len(wg, gn), |s| filter_grad::accumulate(wg, gn, xg, dyg, &mut du, s, n0 == c0));
            }
            du
        })
        .collect();
    let mut it = parts.into_iter();
    let mut du = it.next().expect("n > 0: at least one chunk");
    let rest: Vec<Vec<f32>> = it.collect();
    // the parts added in chunk order, element by element, in parallel over the elements (a
    // fixed cost per call, which batch 32 felt: alexnet-bn's 128 -> 256 dU is 3.3 MB; adding
    // them as `finish` reads dU's planes was slower: four times the streams)
    du.par_chunks_mut(pupil_kernels::CHUNK).enumerate().for_each(|(i, d)| {
        let at = i * pupil_kernels::CHUNK;
        let len = d.len();
        for part in &rest {
            d.iter_mut().zip(&part[at..at + len]).for_each(|(a, b)| *a += b);
        }
    });
    rest.into_iter().for_each(recycle);
    let mut dw = buffer(wg.weight_len()); // written in full
    filter_grad::finish(wg, &du, &mut dw);
    recycle(du);
    dw
}

/// Where [`backward_im2col`] finds the gradient `dY` of the convolution's output.
pub(crate) enum Dy<'a> {
    /// `dY` itself, `[n][o][oh][ow]`.
    Dense(&'a [f32]),
    /// The convolution fed `relu(max_pool(·))` ([`forward_max_pool_relu`]): `dY` is rebuilt
    /// per group of images, in cache, from that op's output gradient.
    Pooled(PooledDy<'a>),
}

/// The gradient of `relu(max_pool(y))` and what its forward pass kept, per pooled plane of
/// `plane = poh·pow` outputs: the values `yv`, the gradient `gy` and the argmax `arg` (an
/// index into the convolution's output plane, or `PADDED`).
pub(crate) struct PooledDy<'a> {
    pub plane: usize,
    pub yv: &'a [f32],
    pub gy: &'a [f32],
    pub arg: &'a [u32],
}

impl PooledDy<'_> {
    /// `dY` of images `n0..n0 + gn` (`o` channels of `p` pixels) into `dym: [o][gn·p]`: each
    /// pooled output's gradient goes to its window's winner if its value is positive (ReLU's
    /// rule on the output), in output order, as `ops::max_pool2d_relu`'s backward adds them.
    fn unpool(&self, o: usize, n0: usize, gn: usize, p: usize, dym: &mut [f32]) {
        let ld = gn * p;
        for i in 0..gn {
            for c in 0..o {
                let d = &mut dym[c * ld + i * p..c * ld + (i + 1) * p];
                d.fill(0.0);
                let at = ((n0 + i) * o + c) * self.plane;
                let (yv, gy, arg) = (&self.yv[at..at + self.plane], &self.gy[at..at + self.plane], &self.arg[at..at + self.plane]);
                for ((&y, &gv), &idx) in yv.iter().zip(gy).zip(arg) {
                    // a masked gradient adds +0.0, which leaves every sum as it is (a sum that
                    // starts at +0.0 is never -0.0), so skipping it gives the same bits
                    if idx != PADDED && y > 0.0 {
                        d[idx as usize] += gv;
                    }
                }
            }
        }
    }
}

/// [`backward`] as im2col + GEMM (and col2im for `dX`), whatever the geometry.
pub(crate) fn backward_im2col(g: &Geom, x: &[f32], wt: &[f32], dy: Dy, need: [bool; 3]) -> ConvGrads {
    let [need_dx, need_dw, need_db] = need;
    let (k, p, gs, cs) = (g.k(), g.p(), g.group(), g.chunk());
    let chunks = g.n.div_ceil(cs);
    let par = chunks == 1 && g.n <= gs;
    let run = |ci: usize, dx: Option<&mut [f32]>| -> Partial {
        let mut part = Partial { dw: vec![0.0; if need_dw { g.o * k } else { 0 }], db: vec![0.0; if need_db { g.o } else { 0 }] };
        let (c0, c1) = (ci * cs, ((ci + 1) * cs).min(g.n));
        let mut dx = dx;
        if let Some(d) = dx.as_deref_mut() {
            d.fill(0.0); // this chunk's block, zeroed here (in parallel, and in cache) since col2im adds into it
        }
        for n0 in (c0..c1).step_by(gs) {
            let gn = gs.min(c1 - n0);
            let ld = gn * p;
            if let (Dy::Dense(dy), false) = (&dy, need_dw || need_dx) {
                // the bias alone: no copy of dY
                for dyi in dy[n0 * g.out_len()..(n0 + gn) * g.out_len()].chunks_exact(g.out_len()) {
                    for (db, row) in part.db.iter_mut().zip(dyi.chunks_exact(p)) {
                        *db += sum(row);
                    }
                }
                continue;
            }
            let direct_x = gn == 1 && g.pointwise();
            let cols_len = if need_dw && !direct_x { k * ld } else { 0 };
            let dy_len = if gn > 1 || matches!(dy, Dy::Pooled { .. }) { g.o * ld } else { 0 };
            let dcols_len = if need_dx && !direct_x { k * ld } else { 0 };
            with_scratch(cols_len + dy_len + dcols_len, |buf| {
                let (cols, rest) = buf.split_at_mut(cols_len);
                let (dyp, dcols) = rest.split_at_mut(dy_len);
                // dY of the group as one [o] x [gn·p] matrix
                let dym: &[f32] = match &dy {
                    Dy::Dense(dy) if gn == 1 => &dy[n0 * g.out_len()..(n0 + 1) * g.out_len()],
                    Dy::Dense(dy) => {
                        for (i, dyi) in dy[n0 * g.out_len()..(n0 + gn) * g.out_len()].chunks_exact(g.out_len()).enumerate() {
                            for (o, row) in dyi.chunks_exact(p).enumerate() {
                                dyp[o * ld + i * p..o * ld + (i + 1) * p].copy_from_slice(row);
                            }
                        }
                        dyp
                    }
                    Dy::Pooled(pool) => {
                        pool.unpool(g.o, n0, gn, p, dyp);
                        dyp
                    }
                };
                if need_db {
                    // image by image, as the sums of the rows of dY (the same order for any group)
                    for i in 0..gn {
                        for (o, db) in part.db.iter_mut().enumerate() {
                            *db += sum(&dym[o * ld + i * p..o * ld + (i + 1) * p]);
                        }
                    }
                }
                if !need_dw && !need_dx {
                    return;
                }
                let xg = &x[n0 * g.in_len()..(n0 + gn) * g.in_len()];
                if need_dw {
                    let colm: &[f32] = if direct_x {
                        xg
                    } else {
                        let il = g.in_len(); // may be 0 (an empty image with padding)
                        for i in 0..gn {
                            im2col(&g.pt, &xg[i * il..(i + 1) * il], cols, ld, i * p);
                        }
                        cols
                    };
                    // dW[o][k] += Σ_j dY[o][j] · cols[k][j]
                    gemm(par, g.o, ld, k, dym, ld, 1, colm, 1, ld, 1.0, &mut part.dw, k);
                }
                if let Some(d) = dx.as_deref_mut() {
                    let dxg = &mut d[(n0 - c0) * g.in_len()..(n0 - c0 + gn) * g.in_len()];
                    if direct_x {
                        // dX[c][j] = Σ_o W[o][c] · dY[o][j]
                        gemm(par, k, g.o, ld, wt, 1, k, dym, ld, 1, 0.0, dxg, ld);
                    } else {
                        gemm(par, k, g.o, ld, wt, 1, k, dym, ld, 1, 0.0, dcols, ld);
                        let il = g.in_len();
                        for i in 0..gn {
                            col2im(&g.pt, dcols, ld, i * p, &mut dxg[i * il..(i + 1) * il]);
                        }
                    }
                }
            });
        }
        part
    };
    let mut dx = if need_dx { Some(buffer(g.n * g.in_len())) } else { None }; // zeroed per chunk by `run`
    let parts: Vec<Partial> = match dx.as_deref_mut() {
        Some(d) if !d.is_empty() => d.par_chunks_mut(cs * g.in_len()).enumerate().map(|(ci, d)| run(ci, Some(d))).collect(),
        _ => (0..chunks).into_par_iter().map(|ci| run(ci, None)).collect(),
    };
    // fixed-order reduction over chunks
    let mut it = parts.into_iter();
    let (mut dw, mut db) = match it.next() {
        Some(first) => (first.dw, first.db),
        None => (vec![0.0; if need_dw { g.o * k } else { 0 }], vec![0.0; if need_db { g.o } else { 0 }]),
    };
    for part in it {
        dw.iter_mut().zip(&part.dw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(&part.db).for_each(|(a, b)| *a += b);
    }
    ConvGrads { dx, dw: need_dw.then_some(dw), db: need_db.then_some(db) }
}
