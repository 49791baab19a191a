//! `pupil-kernels`: the hot loops of pupil on plain `&[f32]` / `&mut [f32]` slices.
//! No tensor type, no autodiff.
