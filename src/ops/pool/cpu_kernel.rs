//! The loops behind max and average pooling: the `pupil_kernels` plane loops, run in
//! parallel over blocks of planes. Every plane is independent, so the result does not depend
//! on the split.

use pupil_kernels::{avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, zeroed};
use rayon::prelude::*;

/// Window geometry of one pooling call over `planes` planes of `h x w`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub oh: usize,
    pub ow: usize,
}

/// Input elements per parallel task (pooling is memory-bound: small tasks do not pay).
const ELEMS_PER_TASK: usize = 1 << 15;

impl PoolGeom {
    fn planes_per_task(&self) -> usize {
        (ELEMS_PER_TASK / (self.h * self.w).max(1)).max(1)
    }
    fn in_plane(&self) -> usize {
        self.h * self.w
    }
    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// Max pooling: the output and, per output, the index of the max within its input plane.
pub(crate) fn max_forward(g: &PoolGeom, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let mut y = zeroed(g.planes * g.out_plane());
    let mut arg = vec![0u32; y.len()];
    if y.is_empty() {
        return (y, arg);
    }
    let t = g.planes_per_task();
    x.par_chunks(t * g.in_plane()).zip(y.par_chunks_mut(t * g.out_plane())).zip(arg.par_chunks_mut(t * g.out_plane())).for_each(|((x, y), a)| {
        let planes = x.len() / g.in_plane();
        max_pool2d(x, planes, g.h, g.w, g.kh, g.kw, g.sh, g.sw, y, a);
    });
    (y, arg)
}

/// Backward of max pooling: each output gradient goes to its argmax.
pub(crate) fn max_backward(g: &PoolGeom, dy: &[f32], arg: &[u32]) -> Vec<f32> {
    let mut dx = zeroed(g.planes * g.in_plane());
    if dy.is_empty() {
        return dx;
    }
    let t = g.planes_per_task();
    dx.par_chunks_mut(t * g.in_plane()).zip(dy.par_chunks(t * g.out_plane())).zip(arg.par_chunks(t * g.out_plane())).for_each(|((dx, dy), a)| {
        let planes = dx.len() / g.in_plane();
        max_pool2d_backward(dy, a, planes, g.h, g.w, g.oh, g.ow, dx);
    });
    dx
}

/// Average pooling (each window divided by `kh·kw`).
pub(crate) fn avg_forward(g: &PoolGeom, x: &[f32]) -> Vec<f32> {
    let mut y = zeroed(g.planes * g.out_plane());
    if y.is_empty() {
        return y;
    }
    let t = g.planes_per_task();
    x.par_chunks(t * g.in_plane()).zip(y.par_chunks_mut(t * g.out_plane())).for_each(|(x, y)| {
        let planes = x.len() / g.in_plane();
        avg_pool2d(x, planes, g.h, g.w, g.kh, g.kw, g.sh, g.sw, y);
    });
    y
}

/// Backward of average pooling: each output gradient spread evenly over its window.
pub(crate) fn avg_backward(g: &PoolGeom, dy: &[f32]) -> Vec<f32> {
    let mut dx = zeroed(g.planes * g.in_plane());
    if dy.is_empty() {
        return dx;
    }
    let t = g.planes_per_task();
    dx.par_chunks_mut(t * g.in_plane()).zip(dy.par_chunks(t * g.out_plane())).for_each(|(dx, dy)| {
        let planes = dx.len() / g.in_plane();
        avg_pool2d_backward(dy, planes, g.h, g.w, g.kh, g.kw, g.sh, g.sw, dx);
    });
    dx
}
