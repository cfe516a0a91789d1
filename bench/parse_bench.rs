//! Time the payload parser alone on a payload file (a face header's text, as `str(dict)`).
//!
//! `cargo run --release --example parse_bench -- PAYLOAD.txt [ITERATIONS]`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: parse_bench PAYLOAD.txt [ITERATIONS]")?;
    let text = std::fs::read(path)?;
    let n: usize = match args.next() {
        Some(s) => s.parse()?,
        None => 2000,
    };
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(_core::literal::parse(&text, 64)?);
    }
    let per = start.elapsed().as_secs_f64() / n as f64;
    println!(
        "parse: {:.1} us per payload of {} bytes ({:.0} MB/s)",
        per * 1e6,
        text.len(),
        text.len() as f64 / per / 1e6
    );
    Ok(())
}
