//! Times one conv layer's forward pass, input gradient and weight gradient apart at batch 128
//! (`pupil::train::conv_layer_parts`, medians of 9 rounds):
//! `cargo run --release --example conv_parts -- C O side k pad [batch]`, e.g. `32 64 22 5 0`
//! for alexnet-bn's 5x5 layer.
fn main() {
    let a: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let (ci, co, hw, k, pad, batch) = match a[..] {
        [ci, co, hw, k, pad] => (ci, co, hw, k, pad, 128),
        [ci, co, hw, k, pad, batch] => (ci, co, hw, k, pad, batch),
        _ => {
            eprintln!("usage: conv_parts C O side k pad [batch] (five or six numbers)");
            std::process::exit(2);
        }
    };
    let oh = (hw + 2 * pad + 1).saturating_sub(k);
    let flops = 2.0 * (batch * co * oh * oh * ci * k * k) as f64;
    let p = pupil::train::conv_layer_parts(batch, ci, co, hw, k, pad, 9).unwrap_or_else(|e| {
        eprintln!("conv_parts: {e}");
        std::process::exit(1);
    });
    let show = |s: f64| format!("{:.2} ms ({:.0} GFLOP/s)", s * 1e3, flops / s / 1e9);
    println!("batch {batch}: forward {}; dX {}; dW {}", show(p.forward), show(p.dx), show(p.dw));
}
