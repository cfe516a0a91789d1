//! The metadata batch reader without Python: files read and parsed in chunks on the worker
//! pool, as `read_image_meta_batch` reads them, with no objects built (each parse's buffers go
//! back to the pool, as the Python reader hands them back). What the second core gains here is
//! the reference for the Python reader's gain on the same machine.
//!
//! `cargo run --release --example read_bench -- FOLDER [--rounds N] [--repeat K]`
//!
//! Each round runs one read of the folder's `.png` files (K times over, 10 by default) in a new
//! process on all cores and one in a process limited to its first core (which goes first
//! alternates), and prints files/s, CPU a file and cores busy of each, and their ratio.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use _core::limits::Limits;
use _core::metabatch::ChunkReader;

const USAGE: &str = "usage: read_bench FOLDER [--rounds N] [--repeat K]";

/// Process CPU time, seconds.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Limit this process to its first allowed core (before the pool starts its threads).
fn one_core() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: the sets are plain bit masks, zeroed before use, and passed with their size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let first = (0..libc::CPU_SETSIZE as usize)
            .find(|&c| libc::CPU_ISSET(c, &set))
            .ok_or("no allowed core")?;
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(first, &mut one);
        if libc::sched_setaffinity(0, size, &one) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
    }
    Ok(())
}

/// Read every path once in chunks of 64 (the Python reader's default): files/s, µs of CPU a
/// file, cores busy.
fn read(paths: Vec<PathBuf>) -> (f64, f64, f64) {
    let n = paths.len();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let mut reader = ChunkReader::start(paths, 64, Limits::default(), false);
    while let Ok(Some(chunk)) = reader.next_chunk() {
        for parsed in chunk.into_iter().flatten().filter_map(|m| m.itxt) {
            _core::literal::spare::give_back(parsed);
        }
    }
    drop(reader);
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    (n as f64 / wall, cpu / n as f64 * 1e6, cpu / wall)
}

/// The folder's `.png` files, in name order; an error if there are none.
fn pngs(folder: &std::path::Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")));
    if paths.is_empty() {
        return Err(format!("no .png files in {}", folder.display()).into());
    }
    paths.sort();
    Ok(paths)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut folder = None;
    let (mut rounds, mut repeat, mut child) = (5usize, 10usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().ok_or("--rounds needs a number")?.parse()?,
            "--repeat" => repeat = args.next().ok_or("--repeat needs a number")?.parse()?,
            "--child" => child = Some(args.next().ok_or("--child needs all or one")?),
            _ if arg.starts_with('-') || folder.is_some() => return Err(USAGE.into()),
            _ => folder = Some(PathBuf::from(arg)),
        }
    }
    let folder = folder.ok_or(USAGE)?;
    if repeat == 0 || rounds == 0 {
        return Err("--repeat and --rounds must be at least 1".into());
    }
    if let Some(cores) = child {
        match cores.as_str() {
            "one" => one_core()?,
            "all" => {}
            _ => return Err("--child takes all or one".into()),
        }
        let paths = pngs(&folder)?;
        read(paths.clone()); // the page cache and the pool warmed
        let all = paths.iter().cycle().take(paths.len() * repeat).cloned();
        let (files_s, cpu_us, busy) = read(all.collect());
        println!("{files_s} {cpu_us} {busy}");
        return Ok(());
    }
    pngs(&folder)?; // refused here, before any child runs
    let me = std::env::current_exe()?;
    println!(
        "round | all cores: files/s, CPU a file, busy | one core: files/s, CPU a file | ratio"
    );
    for r in 0..rounds {
        let mut out = Vec::new();
        let order = if r % 2 == 0 {
            ["all", "one"]
        } else {
            ["one", "all"]
        };
        for cores in order {
            let run = Command::new(&me)
                .arg(&folder)
                .args(["--repeat", &repeat.to_string(), "--child", cores])
                .output()?;
            if !run.status.success() {
                return Err(String::from_utf8_lossy(&run.stderr).into_owned().into());
            }
            let text = String::from_utf8(run.stdout)?;
            let v: Vec<f64> = text
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()?;
            if v.len() != 3 {
                return Err(format!("unexpected child output: {text}").into());
            }
            out.push(v);
        }
        if r % 2 == 1 {
            out.reverse();
        }
        let (a, o) = (&out[0], &out[1]);
        println!(
            "{r} | {:.0}, {:.1} us, {:.2} | {:.0}, {:.1} us | {:.2}x",
            a[0],
            a[1],
            a[2],
            o[0],
            o[1],
            a[0] / o[0]
        );
    }
    Ok(())
}
