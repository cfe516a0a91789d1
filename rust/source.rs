//! Random-access byte sources: a whole file in memory, or a file read lazily in windows.
//!
//! The PNG walker and the image-size readers work over [`Source`], so the same code serves
//! `png_read_meta(bytes)` and `read_image_meta(path)`; the file source reads only what the walker
//! asks for: a first read sized from the thread's recent files, then only the missing bytes
//! (docs/format.md, "Limits").

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::Result;
use crate::fsio;

/// The largest first read of a file, and the first read before a thread has seen any file:
/// enough for IHDR and a typical faceswap header.
pub const FIRST_READ: usize = 64 * 1024;
/// Size of later reads that only need a chunk header.
const SMALL_READ: usize = 4 * 1024;

/// Bytes addressed by absolute offset.
pub trait Source {
    /// The bytes `[offset, offset + len)`, or fewer if the data ends first.
    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<&[u8]>;
    /// Total length, where cheaply known (used only to word error messages).
    fn len_hint(&mut self) -> Option<u64>;
}

/// A source over bytes already in memory.
pub struct MemSource<'a>(pub &'a [u8]);

impl Source for MemSource<'_> {
    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<&[u8]> {
        let data = self.0;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(len).min(data.len());
        Ok(&data[start..end])
    }

    fn len_hint(&mut self) -> Option<u64> {
        Some(self.0.len() as u64)
    }
}

/// A file read in windows: one buffer, refilled (or extended) when a request falls outside it.
///
/// The buffer comes from a per-thread spare and goes back to it on drop, and its bytes past
/// `filled` are left as the last file wrote them: a fresh zero-filled 64 KiB `Vec` per file
/// was a memset and an allocation for every face of a batch.
pub struct FileSource {
    file: File,
    /// Initialised bytes; only `buf[..filled]` belong to this file.
    buf: Vec<u8>,
    filled: usize,
    base: u64,
    /// Set once a read came back short: the file's length.
    eof: Option<u64>,
    /// The file's length when opened: reads stop there, which spares the read that would only
    /// return end-of-file (a file that grows later is read as it was when opened).
    len: u64,
    /// The end of the furthest request, which sizes this thread's next first read.
    high: u64,
    /// System calls made and bytes they returned (what the tests check the windows by).
    reads: u32,
    read_bytes: u64,
}

/// A spare buffer larger than this is not kept for the next file (a huge header read once
/// would otherwise hold its memory on every pool thread).
const SPARE_CAP: usize = 256 * 1024;
/// Files after which the recent-header-end estimate forgets its older minimum.
const WINDOW: u32 = 64;

/// Per-thread state carried from one file to the next.
struct Spare {
    buf: Vec<u8>,
    /// The nearest header end (furthest request) in this window of files, and in the window
    /// before; `u64::MAX` for none.
    seen: u64,
    before: u64,
    files: u32,
}

thread_local! {
    static SPARE: std::cell::RefCell<Spare> = const {
        std::cell::RefCell::new(Spare {
            buf: Vec::new(),
            seen: u64::MAX,
            before: u64::MAX,
            files: 0,
        })
    };
}

/// The first read for this thread's next file: the nearest header end among this thread's
/// last [`WINDOW`]-odd files (rounded down to whole pages), or [`FIRST_READ`] before any file
/// was read. A longer header then costs one more read of just the missing bytes, which
/// extends the window, so every byte up to the header's end is copied once; faces' headers
/// vary in length (22-49 KB in the bench corpus), and a first read sized to the longest
/// copied ~20 KB more than needed for most files. Uniform headers get one read each.
fn first_read_len(seen: u64, before: u64) -> usize {
    let recent = seen.min(before);
    if recent == 0 || recent == u64::MAX {
        return FIRST_READ;
    }
    let pages = (recent / 4096).max(1).saturating_mul(4096);
    usize::try_from(pages).map_or(FIRST_READ, |n| n.min(FIRST_READ))
}

impl FileSource {
    /// Open a regular file; anything else (a named pipe would block forever) is refused.
    pub fn open(path: &Path) -> Result<Self> {
        let (file, meta) = fsio::open_regular(path)?;
        let buf = SPARE
            .try_with(|s| std::mem::take(&mut s.borrow_mut().buf))
            .unwrap_or_default();
        Ok(FileSource {
            file,
            buf,
            filled: 0,
            base: 0,
            eof: None,
            len: meta.len(),
            high: 0,
            reads: 0,
            read_bytes: 0,
        })
    }

    /// Read `[offset, offset + want)` (clamped to the file's length) into the buffer, keeping
    /// the bytes it holds when `offset` lies inside them, so that a header a little longer than
    /// the first read costs only the missing bytes.
    fn fill(&mut self, offset: u64, want: usize) -> io::Result<()> {
        let left = usize::try_from(self.len.saturating_sub(offset)).unwrap_or(usize::MAX);
        let want = want.min(left);
        let buf_end = self.base + self.filled as u64;
        // The window grows only while it is no larger than a first read: a walk over many
        // small chunks (a PNG without a header chunk, a JPEG's segments) would otherwise pull
        // the whole file into it, a chunk header at a time.
        let grows = offset >= self.base
            && offset <= buf_end
            && self.filled > 0
            && self.filled <= FIRST_READ;
        let (keep, read_from) = if grows {
            // Shift nothing: the window grows from its current base.
            (self.filled, buf_end)
        } else {
            self.base = offset;
            (0, offset)
        };
        let total = usize::try_from(offset - self.base)
            .unwrap_or(usize::MAX)
            .saturating_add(want);
        if self.buf.len() < total {
            // Zeroed only where the buffer grows: bytes once written stay initialised.
            self.buf.resize(total, 0);
        }
        let mut got = keep;
        while got < total {
            match read_at(
                &self.file,
                &mut self.buf[got..total],
                read_from + (got - keep) as u64,
            ) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    self.reads += 1;
                    self.read_bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.filled = keep;
                    return Err(e);
                }
            }
        }
        self.filled = got;
        let end = self.base + got as u64;
        if got < total {
            // Shorter than when opened.
            self.eof = Some(end);
        } else if end >= self.len {
            self.eof = Some(self.len);
        }
        Ok(())
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let high = self.high;
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if buf.capacity() <= SPARE_CAP {
                s.buf = buf;
            }
            if high > 0 {
                s.seen = s.seen.min(high);
            }
            s.files += 1;
            if s.files >= WINDOW {
                s.before = s.seen;
                s.seen = u64::MAX;
                s.files = 0;
            }
        });
    }
}

/// One read at `offset`: a positioned read where the system has one, which needs no seek
/// before it (the walker jumps from chunk to chunk).
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(not(any(unix, windows)))]
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read(buf)
}

impl Source for FileSource {
    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<&[u8]> {
        let buf_end = self.base + self.filled as u64;
        let end = offset.saturating_add(len as u64);
        self.high = self.high.max(end.min(self.len));
        let fresh = self.filled == 0 && self.eof.is_none();
        let covered =
            offset >= self.base && (end <= buf_end || self.eof == Some(buf_end)) && !fresh;
        if !covered {
            if self.eof.is_some_and(|eof| offset >= eof) {
                return Ok(&[]);
            }
            let floor = if fresh && offset == 0 {
                SPARE
                    .try_with(|s| {
                        let s = s.borrow();
                        first_read_len(s.seen, s.before)
                    })
                    .unwrap_or(FIRST_READ)
            } else {
                SMALL_READ
            };
            self.fill(offset, len.max(floor))?;
        }
        let start = usize::try_from(offset - self.base).unwrap_or(usize::MAX);
        let start = start.min(self.filled);
        let stop = start.saturating_add(len).min(self.filled);
        Ok(&self.buf[start..stop])
    }

    fn len_hint(&mut self) -> Option<u64> {
        self.eof.or(Some(self.len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn mem_source_clamps() {
        let data = [1u8, 2, 3, 4];
        let mut s = MemSource(&data);
        assert_eq!(s.read_at(1, 2).unwrap(), &[2, 3]);
        assert_eq!(s.read_at(3, 10).unwrap(), &[4]);
        assert_eq!(s.read_at(10, 10).unwrap(), &[] as &[u8]);
        assert_eq!(s.read_at(u64::MAX, 10).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn file_source_windows() {
        let dir = std::env::temp_dir().join(format!("faceio-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.bin");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let mut s = FileSource::open(&path).unwrap();
        assert_eq!(s.read_at(0, 8).unwrap(), &data[..8]);
        assert_eq!(s.read_at(100_000, 16).unwrap(), &data[100_000..100_016]);
        assert_eq!(s.read_at(10, 100_000).unwrap(), &data[10..100_010]);
        assert_eq!(s.read_at(199_990, 100).unwrap(), &data[199_990..]);
        assert_eq!(s.read_at(250_000, 4).unwrap(), &[] as &[u8]);
        assert_eq!(s.read_at(5, 3).unwrap(), &data[5..8]);
        assert_eq!(s.len_hint(), Some(200_000));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn write_file(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(data)
            .unwrap();
        path
    }

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(seed) % 251) as u8)
            .collect()
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("faceio-src-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn first_read_follows_the_nearest_recent_header_end() {
        assert_eq!(first_read_len(u64::MAX, u64::MAX), FIRST_READ);
        assert_eq!(first_read_len(20_000, u64::MAX), 16_384);
        assert_eq!(first_read_len(u64::MAX, 30_000), 28_672);
        assert_eq!(first_read_len(40_000, 30_000), 28_672);
        assert_eq!(first_read_len(100, u64::MAX), 4096);
        assert_eq!(first_read_len(10 << 20, u64::MAX), FIRST_READ);
    }

    #[test]
    fn a_reused_buffer_never_shows_an_earlier_file() {
        // Each test runs on its own thread, so the spare buffer starts empty here.
        let dir = scratch("reuse");
        let long = pattern(200_000, 7);
        let short = pattern(100, 13);
        let mid = pattern(40_000, 29);
        let paths = [
            write_file(&dir, "long.bin", &long),
            write_file(&dir, "short.bin", &short),
            write_file(&dir, "mid.bin", &mid),
        ];
        let mut s = FileSource::open(&paths[0]).unwrap();
        assert_eq!(s.read_at(0, 150_000).unwrap(), &long[..150_000]);
        drop(s);
        let mut s = FileSource::open(&paths[1]).unwrap();
        assert_eq!(s.read_at(0, 1000).unwrap(), &short[..]);
        assert_eq!(s.read_at(50, 200).unwrap(), &short[50..]);
        assert_eq!(s.read_at(100, 8).unwrap(), &[] as &[u8]);
        assert_eq!(s.len_hint(), Some(100));
        drop(s);
        let mut s = FileSource::open(&paths[2]).unwrap();
        assert_eq!(s.read_at(0, 8).unwrap(), &mid[..8]);
        assert_eq!(s.read_at(30, 39_990).unwrap(), &mid[30..]);
        assert_eq!(s.read_at(39_000, 4096).unwrap(), &mid[39_000..]);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_longer_header_costs_one_read_of_the_missing_bytes() {
        let dir = scratch("extend");
        let data = pattern(100_000, 11);
        let path = write_file(&dir, "face.bin", &data);
        // Three files whose header ends at 20,000 bytes, as a walker asks for it.
        for _ in 0..3 {
            let mut s = FileSource::open(&path).unwrap();
            assert_eq!(s.read_at(0, 8).unwrap(), &data[..8]);
            assert_eq!(s.read_at(37, 19_963).unwrap(), &data[37..20_000]);
        }
        let mut s = FileSource::open(&path).unwrap();
        assert_eq!(s.read_at(0, 8).unwrap(), &data[..8]);
        assert_eq!((s.reads, s.read_bytes), (1, 16_384));
        // Past the first read: only the bytes after it are read, and the window holds both.
        assert_eq!(s.read_at(37, 30_000).unwrap(), &data[37..30_037]);
        assert_eq!((s.reads, s.read_bytes), (2, 30_037));
        assert_eq!(s.read_at(0, 30_037).unwrap(), &data[..30_037]);
        // A request beyond the window starts a new one there.
        assert_eq!(s.read_at(90_000, 16).unwrap(), &data[90_000..90_016]);
        assert_eq!(s.reads, 3);
        assert_eq!(s.read_at(95_000, 10_000).unwrap(), &data[95_000..]);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_walk_over_small_chunks_keeps_the_window_small() {
        let dir = scratch("walk");
        let data = pattern(2_000_000, 5);
        let path = write_file(&dir, "chunks.bin", &data);
        let mut s = FileSource::open(&path).unwrap();
        // A chunk header every 4,090 bytes, as the PNG walker asks for them to the end: each
        // one runs a few bytes past the window the one before it was read into.
        for at in (0..data.len() - 8).step_by(SMALL_READ - 6) {
            assert_eq!(s.read_at(at as u64, 8).unwrap(), &data[at..at + 8]);
            assert!(
                s.buf.len() <= FIRST_READ + SMALL_READ,
                "window {} at {at}",
                s.buf.len()
            );
        }
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_huge_window_is_not_kept_as_the_spare() {
        let dir = scratch("cap");
        let big = pattern(SPARE_CAP + 50_000, 3);
        let path = write_file(&dir, "big.bin", &big);
        let mut s = FileSource::open(&path).unwrap();
        assert_eq!(s.read_at(0, big.len()).unwrap(), &big[..]);
        drop(s);
        assert_eq!(SPARE.with(|s| s.borrow().buf.capacity()), 0);
        let mut s = FileSource::open(&path).unwrap();
        assert_eq!(s.read_at(0, 50_000).unwrap(), &big[..50_000]);
        drop(s);
        assert!(SPARE.with(|s| s.borrow().buf.capacity()) >= 50_000);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_source_matches_memory_over_random_requests_and_files() {
        // Many files read in turn on one thread (so each reuses the last one's buffer and
        // first-read size), each with random requests: every answer must be the in-memory one.
        let dir = scratch("random");
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n.max(1)
        };
        for f in 0..60 {
            let size = match f % 4 {
                0 => next(100) as usize,
                1 => 20_000 + next(30_000) as usize,
                2 => next(SPARE_CAP as u64 * 2) as usize,
                _ => FIRST_READ - 2 + next(4) as usize,
            };
            let data = pattern(size, 2 * f + 3);
            let path = write_file(&dir, &format!("f{f}.bin"), &data);
            let mut file = FileSource::open(&path).unwrap();
            for _ in 0..40 {
                let offset = match next(3) {
                    0 => next(size as u64 + 10),
                    1 => next(64),
                    _ => next(size as u64 / 2 + 1) + next(1 << 16),
                };
                let len = match next(3) {
                    0 => next(16) as usize,
                    1 => next(70_000) as usize,
                    _ => 8,
                };
                let want = MemSource(&data).read_at(offset, len).unwrap().to_vec();
                let got = file.read_at(offset, len).unwrap();
                assert!(
                    got == want,
                    "file {f} ({size} bytes): read_at({offset}, {len})"
                );
            }
            assert_eq!(file.len_hint(), Some(size as u64));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
