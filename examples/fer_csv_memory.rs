//! Peak memory of reading a large FER CSV: generates a fer2013.csv-layout file of about `MB`
//! megabytes of random 48x48 images, or loads one and prints the image bytes, so that the peak
//! resident set of the load can be compared with the decoded size:
//!
//! ```sh
//! cargo run --release --example fer_csv_memory -- gen /tmp/big.csv 300
//! /usr/bin/time -v target/release/examples/fer_csv_memory load /tmp/big.csv   # "Maximum resident set size"
//! ```

use pupil::data::{self, Split};
use pupil::Rng;
use std::io::{BufWriter, Write};
use std::path::Path;

fn main() -> pupil::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 4 => {
            let path = Path::new(&args[2]);
            let mb: usize = args[3].parse().map_err(|_| pupil::Error::invalid("fer_csv_memory", "MB must be a whole number"))?;
            let file = std::fs::File::create(path).map_err(|e| pupil::Error::io(path, e))?;
            let mut w = BufWriter::new(file);
            let mut rng = Rng::new(1);
            let mut written = 0usize;
            let mut line = String::with_capacity(10_000);
            let mut row = 0usize;
            let io = |e| pupil::Error::io(path, e);
            w.write_all(b"emotion,pixels,Usage\n").map_err(io)?;
            while written < mb << 20 {
                line.clear();
                line.push_str(&format!("{},", row % 7));
                for i in 0..2304 {
                    if i > 0 {
                        line.push(' ');
                    }
                    line.push_str(&rng.below(256).to_string());
                }
                line.push_str(if row.is_multiple_of(10) { ",PublicTest\n" } else { ",Training\n" });
                w.write_all(line.as_bytes()).map_err(io)?;
                written += line.len();
                row += 1;
            }
            w.flush().map_err(io)?;
            println!("{row} rows, {written} bytes");
        }
        Some("load") if args.len() == 3 => {
            let ds = data::load(Path::new(&args[2]), Split::All)?;
            println!("{} images, {} bytes of pixels", ds.len(), ds.pixels.len());
        }
        _ => eprintln!("usage: fer_csv_memory gen PATH MB | load PATH"),
    }
    Ok(())
}
