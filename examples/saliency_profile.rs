//! Where one batch of vanilla saliency (forward + gradient to the input, frozen weights) spends
//! its time, by op: `cargo run --release --example saliency_profile [batch] [reps]`.
use pupil::autograd::Graph;
use pupil::explain::net::Net;
use pupil::nn::{preset, Sequential};
use pupil::Tensor;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (b, reps) = (args.first().copied().unwrap_or(64), args.get(1).copied().unwrap_or(10));
    let spec = preset("keras-hw3", 7).unwrap();
    let model = Sequential::build(&spec, &[1, 48, 48], 1).unwrap();
    let net = Net::new(&model).unwrap();
    let x = Tensor::rand_uniform(&[b, 1, 48, 48], 0.0, 1.0, 7);
    let mut profs = vec![];
    let mut walls = vec![];
    for _ in 0..reps {
        let g = Graph::profiled();
        let t = Instant::now();
        let xv = g.leaf(x.clone());
        let l = net.logits(&xv).unwrap();
        let k = l.shape()[1];
        let mut oh = vec![0f32; b * k];
        for n in 0..b {
            oh[n * k + n % k] = 1.0;
        }
        let gr = l.backward_with(Tensor::from_vec(oh, &[b, k]).unwrap()).unwrap();
        let _ = gr.wrt(&xv).unwrap();
        walls.push(t.elapsed().as_secs_f64());
        profs.push(g.profile());
    }
    walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let w = walls[walls.len() / 2];
    println!("batch {b}: median {:.1} ms, {:.0} img/s", w * 1e3, b as f64 / w);
    let n = profs[0].len();
    for i in 0..n {
        let mut f: Vec<f64> = profs.iter().map(|p| p[i].forward.as_secs_f64()).collect();
        let mut bw: Vec<f64> = profs.iter().map(|p| p[i].backward.as_secs_f64()).collect();
        f.sort_by(|a, b| a.partial_cmp(b).unwrap());
        bw.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let o = &profs[0][i];
        println!("{:>14} {:>12} {:?}: fwd {:6.2} bwd {:6.2}", o.layer, o.op, o.shape, f[f.len() / 2] * 1e3, bw[bw.len() / 2] * 1e3);
    }
}
