//! Times the Winograd filter transforms of keras-hw3's and alexnet-bn's 3x3 layers (median of
//! 51 calls, forward and flipped), the fused kernel's packed filters two ways, and the filter
//! gradient's way back (`filter_grad::finish`, dU to dW): `cargo run --release -p pupil-kernels --example filter_time`
//! (`RAYON_NUM_THREADS=1` for one thread).
use pupil_kernels::winograd::{self, PanelForm, Wino};
use std::time::Instant;
fn main() {
    for (c, o, side, m) in [(64, 64, 22, 4), (64, 128, 10, 2), (128, 128, 10, 2), (128, 256, 9, 3), (32, 64, 22, 2)] {
        let r = if c == 32 { 5 } else { 3 };
        let pad = if r == 5 { 0 } else { 1 };
        let g = Wino::new(r, c, side, side, o, pad, pad).and_then(|g| g.with_tiles(m)).expect("a Winograd geometry");
        let w: Vec<f32> = (0..g.weight_len()).map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5).collect();
        let mut u = vec![0.0; g.filter_len()];
        for (name, flipped) in [("forward", false), ("flipped", true)] {
            let mut ts: Vec<f64> = (0..51)
                .map(|_| {
                    let t = Instant::now();
                    if flipped {
                        winograd::filter_transform_flipped(&g, &w, &mut u);
                    } else {
                        winograd::filter_transform(&g, &w, &mut u);
                    }
                    t.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            ts.sort_by(f64::total_cmp);
            println!("{c}->{o} {r}x{r} F({m}x{m}) {name}: {:.0} µs ({:.1} ns a filter)", ts[25], ts[25] * 1e3 / (c * o) as f64);
        }
        // the fused kernel's packed filters, forward and for dX's flipped convolution:
        // transformed into [α²][o][c] and packed, or transformed straight into the panels
        // (`Fused::from_weights`), alternately
        if winograd::Fused::available() {
            let d = g.input_grad();
            let mut uf = vec![0.0; d.filter_len()];
            for (name, gp, form) in [("forward", g, PanelForm::Forward), ("flipped", d, PanelForm::Flipped)] {
                let (mut two, mut one) = (vec![], vec![]);
                for _ in 0..51 {
                    let t = Instant::now();
                    if form == PanelForm::Forward {
                        winograd::filter_transform(&g, &w, &mut u);
                        drop(winograd::Fused::new(&g, &u));
                    } else {
                        winograd::filter_transform_flipped(&g, &w, &mut uf);
                        drop(winograd::Fused::new(&d, &uf));
                    }
                    two.push(t.elapsed().as_secs_f64() * 1e6);
                    let t = Instant::now();
                    drop(winograd::Fused::from_weights(&gp, &w, form));
                    one.push(t.elapsed().as_secs_f64() * 1e6);
                }
                two.sort_by(f64::total_cmp);
                one.sort_by(f64::total_cmp);
                println!("{c}->{o} {r}x{r} F({m}x{m}) {name} packed: transform + pack {:.0} µs, from the weights {:.0} µs", two[25], one[25]);
            }
        }
        let mut dw = vec![0.0; g.weight_len()];
        let mut ts: Vec<f64> = (0..51)
            .map(|_| {
                let t = Instant::now();
                winograd::filter_grad::finish(&g, &u, &mut dw);
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        ts.sort_by(f64::total_cmp);
        println!("{c}->{o} {r}x{r} F({m}x{m}) finish: {:.0} µs ({:.1} ns a filter)", ts[25], ts[25] * 1e3 / (c * o) as f64);
    }
}
