//! Time the payload parser alone on payload files (face headers' text, as `str(dict)`).
//!
//! `cargo run --release --example parse_bench -- [--rounds N] [--face] PAYLOAD.txt...`
//!
//! With `--face`, each parse is followed by taking the face header apart (`face_parts`), as
//! the readers of face headers do.
//!
//! Give many distinct payloads: parsing one payload over and over lets the branch predictor
//! learn its bytes, which makes the escape-heavy mask decoding look far faster than it is on
//! a folder of different faces.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rounds: usize = 5;
    let mut face = false;
    let mut texts = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--face" {
            face = true;
        } else if arg == "--rounds" {
            rounds = args.next().ok_or("--rounds needs a number")?.parse()?;
        } else {
            texts.push(std::fs::read(arg)?);
        }
    }
    if texts.is_empty() {
        return Err("usage: parse_bench [--rounds N] PAYLOAD.txt...".into());
    }
    let bytes: usize = texts.iter().map(Vec::len).sum();
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let start = Instant::now();
        for text in &texts {
            let parsed = _core::literal::parse(text, 64)?;
            if face {
                std::hint::black_box(_core::face::face_parts(&parsed));
            }
            std::hint::black_box(parsed);
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let per = best / texts.len() as f64;
    println!(
        "parse{}: {:.1} us per payload, {} payloads averaging {} bytes ({:.0} MB/s)",
        if face { " + face_parts" } else { "" },
        per * 1e6,
        texts.len(),
        bytes / texts.len(),
        bytes as f64 / best / 1e6
    );
    Ok(())
}
