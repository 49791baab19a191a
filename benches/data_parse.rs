//! Parse timing of a synthetic full-size FER2013 Kaggle train.csv (28,709 rows of 48x48), on
//! one thread and on all of them. It writes ~265 MB to the temp dir (removed afterwards):
//! `cargo bench --bench data_parse`

use pupil::data::{self, Split};
use pupil::Rng;
use std::io::Write;
use std::time::Instant;

const ROWS: usize = 28_709;

fn main() {
    let path = std::env::temp_dir().join(format!("pupil-bench-{}-train.csv", std::process::id()));
    let t = Instant::now();
    {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        f.write_all(b"label,feature\n").unwrap();
        let mut rng = Rng::new(2013);
        let names: Vec<String> = (0..256).map(|v| v.to_string()).collect();
        let mut line = String::with_capacity(10_000);
        for r in 0..ROWS {
            line.clear();
            line.push_str(&format!("{},", r % 7));
            for k in 0..2304 {
                if k > 0 {
                    line.push(' ');
                }
                // Real FER pixels are mostly 2-3 digits; use the full 0..=255 range.
                line.push_str(&names[rng.below(256)]);
            }
            line.push('\n');
            f.write_all(line.as_bytes()).unwrap();
        }
        f.flush().unwrap();
    }
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!("generated {} MB in {:.2?}", bytes >> 20, t.elapsed());
    for threads in [1, rayon::current_num_threads()] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let ds = pool.install(|| data::load(&path, Split::Training)).unwrap();
        let (dt, cpu) = (t.elapsed(), cpu_seconds() - cpu);
        assert_eq!((ds.len(), ds.height, ds.width), (ROWS, 48, 48));
        println!(
            "parsed {ROWS} rows ({} MB) with {threads} thread(s) in {dt:.2?} wall, {cpu:.2} s CPU ({:.0} MB/s wall)",
            bytes >> 20,
            bytes as f64 / (1 << 20) as f64 / dt.as_secs_f64()
        );
    }
    std::fs::remove_file(&path).unwrap();
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    if f.len() > 13 {
        (f[11] + f[12]) / 100.0
    } else {
        0.0
    }
}
