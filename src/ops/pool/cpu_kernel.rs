//! The loops behind max and average pooling: the `pupil_kernels` plane loops, run in
//! parallel over blocks of planes. Every plane is independent, so the result does not depend
//! on the split.

use crate::ops::activation::relu_f;
use pupil_kernels::{avg_pool2d_padded, avg_pool2d_padded_backward, buffer, max_pool2d_backward, max_pool2d_padded, Window};
use rayon::prelude::*;

/// Window geometry of one pooling call over `planes` planes: the kernels' [`Window`] (with
/// its virtual zero padding) and the output size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolGeom {
    pub planes: usize,
    pub win: Window,
    pub oh: usize,
    pub ow: usize,
}

/// Input elements per parallel task (pooling is memory-bound: small tasks do not pay).
const ELEMS_PER_TASK: usize = 1 << 15;

impl PoolGeom {
    fn planes_per_task(&self) -> usize {
        (ELEMS_PER_TASK / self.in_plane().max(1)).max(1)
    }
    fn in_plane(&self) -> usize {
        self.win.h * self.win.w
    }
    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// Max pooling: the output and, when `argmax` is asked for (training), per output the index
/// of the max within its input plane (or `pupil_kernels::PADDED`).
/// With `relu`, each task's outputs then go through `relu_f` while they are in cache.
pub(crate) fn max_forward(g: &PoolGeom, x: &[f32], argmax: bool, relu: bool) -> (Vec<f32>, Option<Vec<u32>>) {
    // every output is written by the kernel
    let mut y = buffer(g.planes * g.out_plane());
    if y.is_empty() || g.in_plane() == 0 {
        y.fill(0.0); // no input: windows of padding only
        return (y, argmax.then(Vec::new));
    }
    let t = g.planes_per_task();
    let (tin, tout) = (t * g.in_plane(), t * g.out_plane());
    let task = |x: &[f32], y: &mut [f32], a: Option<&mut [u32]>| {
        max_pool2d_padded(x, x.len() / g.in_plane(), &g.win, y, a);
        if relu {
            y.iter_mut().for_each(|v| *v = relu_f(*v));
        }
    };
    if !argmax {
        x.par_chunks(tin).zip(y.par_chunks_mut(tout)).for_each(|(x, y)| task(x, y, None));
        return (y, None);
    }
    let mut arg = vec![0u32; y.len()];
    x.par_chunks(tin).zip(y.par_chunks_mut(tout)).zip(arg.par_chunks_mut(tout)).for_each(|((x, y), a)| task(x, y, Some(a)));
    (y, Some(arg))
}

/// Backward of max pooling: each output gradient goes to its argmax.
pub(crate) fn max_backward(g: &PoolGeom, dy: &[f32], arg: &[u32]) -> Vec<f32> {
    // each task zeroes its own block right before adding into it (in cache, and in parallel)
    let mut dx = buffer(g.planes * g.in_plane());
    if dy.is_empty() || dx.is_empty() {
        dx.fill(0.0);
        return dx;
    }
    let t = g.planes_per_task();
    dx.par_chunks_mut(t * g.in_plane()).zip(dy.par_chunks(t * g.out_plane())).zip(arg.par_chunks(t * g.out_plane())).for_each(|((dx, dy), a)| {
        let planes = dx.len() / g.in_plane();
        dx.fill(0.0);
        max_pool2d_backward(dy, a, planes, g.win.h, g.win.w, g.oh, g.ow, dx);
    });
    dx
}

/// Average pooling (each window divided by `kh·kw`, padding zeros included).
pub(crate) fn avg_forward(g: &PoolGeom, x: &[f32]) -> Vec<f32> {
    // every output is written by the kernel
    let mut y = buffer(g.planes * g.out_plane());
    if y.is_empty() || g.in_plane() == 0 {
        y.fill(0.0); // no input: windows of padding only
        return y;
    }
    let t = g.planes_per_task();
    x.par_chunks(t * g.in_plane()).zip(y.par_chunks_mut(t * g.out_plane())).for_each(|(x, y)| {
        avg_pool2d_padded(x, x.len() / g.in_plane(), &g.win, y);
    });
    y
}

/// Backward of average pooling: each output gradient spread evenly over its window.
pub(crate) fn avg_backward(g: &PoolGeom, dy: &[f32]) -> Vec<f32> {
    // each task zeroes its own block right before adding into it (in cache, and in parallel)
    let mut dx = buffer(g.planes * g.in_plane());
    if dy.is_empty() || dx.is_empty() {
        dx.fill(0.0);
        return dx;
    }
    let t = g.planes_per_task();
    dx.par_chunks_mut(t * g.in_plane()).zip(dy.par_chunks(t * g.out_plane())).for_each(|(dx, dy)| {
        dx.fill(0.0);
        avg_pool2d_padded_backward(dy, dx.len() / g.in_plane(), &g.win, dx);
    });
    dx
}
