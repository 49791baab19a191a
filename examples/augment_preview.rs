//! Writes a grid of augmented versions of a few embedded sample images, to see what an
//! `--augment` spec does before training with it.
//!
//! `cargo run --release --example augment_preview -- "flip,rot=20,shift=0.1,zoom=0.1" out.png`

use pupil::data::{embedded_sample, make_batch, Augment, NormKind, Normalization, Split};
use pupil::viz::{gray_to_rgb, image_grid, Tile};
use pupil::Rng;

fn main() -> pupil::Result<()> {
    let mut args = std::env::args().skip(1);
    let spec = args.next().unwrap_or_else(|| "standard".into());
    let out = args.next().unwrap_or_else(|| "augment.png".into());
    let aug = Augment::parse(&spec)?;
    let ds = embedded_sample(Split::Training)?;
    let norm = Normalization::fit(NormKind::Scale255, &ds);
    let idx: Vec<usize> = (0..6).collect();
    let base = Rng::new(1);
    let mut tiles = vec![];
    for stream in 0..6u64 {
        let (x, _) = make_batch(&ds, &idx, &norm, if stream == 0 { None } else { Some((&aug, &base, stream)) })?;
        let per = ds.image_len();
        for (i, img) in x.data().chunks(per).enumerate() {
            let caption = if stream == 0 { format!("original {i}") } else { format!("draw {stream}") };
            tiles.push(Tile::new(gray_to_rgb(img, ds.height, ds.width), ds.height, ds.width).with_caption(caption));
        }
    }
    image_grid(&out, &tiles, 6, 96, Some(&format!("--augment {spec}")))?;
    println!("wrote {out}");
    Ok(())
}
