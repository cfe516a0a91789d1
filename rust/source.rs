//! Random-access byte sources: a whole file in memory, or a file read lazily in windows.
//!
//! The PNG walker and the image-size readers work over [`Source`], so the same code serves
//! `png_read_meta(bytes)` and `read_image_meta(path)`; the file source reads only what the walker
//! asks for (a first read of 64 KiB covers a face's header chunk in one system call).

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::Result;
use crate::fsio;

/// Size of the first read of a file: enough for IHDR and a typical faceswap header.
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

/// A file read in windows: one buffer, refilled when a request falls outside it.
pub struct FileSource {
    file: File,
    buf: Vec<u8>,
    base: u64,
    /// Set once a read came back short: the file's length.
    eof: Option<u64>,
    /// The file's length when opened: reads stop there, which spares the read that would only
    /// return end-of-file (a file that grows later is read as it was when opened).
    len: u64,
}

impl FileSource {
    /// Open a regular file; anything else (a named pipe would block forever) is refused.
    pub fn open(path: &Path) -> Result<Self> {
        let (file, meta) = fsio::open_regular(path)?;
        Ok(FileSource {
            file,
            buf: Vec::new(),
            base: 0,
            eof: None,
            len: meta.len(),
        })
    }

    fn fill(&mut self, offset: u64, want: usize) -> io::Result<()> {
        let left = usize::try_from(self.len.saturating_sub(offset)).unwrap_or(usize::MAX);
        let want = want.min(left);
        self.buf.clear();
        self.buf.resize(want, 0);
        let mut got = 0;
        while got < want {
            match read_at(&self.file, &mut self.buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(got);
        self.base = offset;
        let end = offset + got as u64;
        if got < want {
            // Shorter than when opened.
            self.eof = Some(end);
        } else if end >= self.len {
            self.eof = Some(self.len);
        }
        Ok(())
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
        let buf_end = self.base + self.buf.len() as u64;
        let end = offset.saturating_add(len as u64);
        let covered = offset >= self.base
            && (end <= buf_end || self.eof == Some(buf_end))
            && !(self.buf.is_empty() && self.eof.is_none());
        if !covered {
            if self.eof.is_some_and(|eof| offset >= eof) {
                return Ok(&[]);
            }
            let first = self.buf.is_empty() && self.eof.is_none() && offset == 0;
            let floor = if first { FIRST_READ } else { SMALL_READ };
            self.fill(offset, len.max(floor))?;
        }
        let start = usize::try_from(offset - self.base).unwrap_or(usize::MAX);
        let start = start.min(self.buf.len());
        let stop = start.saturating_add(len).min(self.buf.len());
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
}
