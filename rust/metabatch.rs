//! The reader behind `read_image_meta_batch`: a background thread reads and parses files a
//! chunk at a time on the worker pool, at most one chunk ahead of the consumer, so the first
//! result comes early and memory stays bounded however long the list.
//!
//! Memory is bounded in bytes as well as in files (docs/format.md, "Limits"): a chunk is sent
//! as soon as the payloads parsed into it hold [`CHUNK_BYTES`], and files are parsed in groups
//! sized from the last group's mean, so that a group holds about a quarter of that. A folder
//! of faces (about 100 KB parsed each) reads in chunks of 64 files (the caller's
//! `chunk_size`), small enough that a chunk's parse is still in the caches when its objects
//! are built; files near the 16 MiB payload limit (up to about 200 MB parsed each) one or two
//! at a time.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use crate::error::Result;
use crate::limits::Limits;
use crate::meta::{self, ImageMeta};

/// One chunk of results, in input order.
pub type Chunk = Vec<Result<ImageMeta>>;

/// The first chunk is small, so the first results come quickly.
const FIRST_CHUNK: usize = 32;

/// The parsed bytes one chunk may hold before it is sent (see the module docs).
pub const CHUNK_BYTES: usize = 64 << 20;

/// Files parsed at once before their size is known (the next groups are sized from them).
const FIRST_GROUP: usize = 1;

/// Toward the end a chunk holds at most this fraction of the files left (never fewer than
/// [`FIRST_CHUNK`]): the last chunk is converted to Python objects while the parsing side has
/// nothing left to do, so it is kept small. With a full 256-file chunk last, one core sat
/// idle for a few milliseconds of a 2,000-face scan's ~70.
const TAIL_SPLIT: usize = 4;

/// The files the next chunk holds, with `left` files still to read.
fn next_chunk_files(chunk: usize, left: usize) -> usize {
    (left / TAIL_SPLIT).clamp(FIRST_CHUNK.min(chunk), chunk)
}

/// Heap bytes a result holds (its parse tape and arena).
fn held_bytes(result: &Result<ImageMeta>) -> usize {
    match result {
        Ok(ImageMeta {
            itxt: Some(parsed), ..
        }) => {
            parsed.nodes.capacity() * std::mem::size_of::<crate::literal::Node>()
                + parsed.arena.capacity()
        }
        _ => 0,
    }
}

/// Why the reader gives no more chunks.
#[derive(Debug, PartialEq, Eq)]
pub enum ReaderFailed {
    /// Its thread panicked.
    Panicked,
    /// The process forked after the batch started, and this is the child, which has none of
    /// the parent's threads: nothing would ever send it a chunk.
    OtherProcess,
}

pub struct ChunkReader {
    rx: Option<Receiver<Chunk>>,
    worker: Option<JoinHandle<()>>,
    /// The process that started the batch.
    pid: u32,
}

impl ChunkReader {
    /// Start reading `paths` in chunks of `chunk` files (the first one smaller); `facts`: take
    /// face headers' scan facts as well (`meta::read_batch`).
    pub fn start(paths: Vec<PathBuf>, chunk: usize, limits: Limits, facts: bool) -> Self {
        // One chunk ahead: parsing is the slow side, and a chunk of huge payloads is large.
        let (tx, rx) = sync_channel::<Chunk>(1);
        let chunk = chunk.max(1);
        let worker = std::thread::spawn(move || {
            let mut start = 0;
            let mut files = FIRST_CHUNK.min(chunk);
            let mut group = FIRST_GROUP;
            let mut out: Chunk = Vec::new();
            let mut held = 0;
            while start < paths.len() {
                let end = (start + group.min(files - out.len())).min(paths.len());
                let results = meta::read_batch(&paths[start..end], &limits, facts);
                let bytes: usize = results.iter().map(held_bytes).sum();
                // The next group holds about a quarter of a chunk's bytes at this group's mean.
                let mean = bytes / results.len().max(1);
                group = (CHUNK_BYTES / 4 / mean.max(1)).clamp(1, chunk);
                held += bytes;
                out.extend(results);
                start = end;
                if out.len() >= files || held >= CHUNK_BYTES || start == paths.len() {
                    if tx.send(std::mem::take(&mut out)).is_err() {
                        return; // the reader was dropped: stop reading
                    }
                    held = 0;
                    files = next_chunk_files(chunk, paths.len() - start);
                }
            }
        });
        // Parse buffers are handed back (and reused) while the batch reads; Drop ends it.
        crate::literal::spare::batch_started();
        ChunkReader {
            rx: Some(rx),
            worker: Some(worker),
            pid: std::process::id(),
        }
    }

    /// Whether this is a forked child of the process that started the batch.
    pub fn in_other_process(&self) -> bool {
        std::process::id() != self.pid
    }

    /// The next chunk (waiting for it), or `None` once every file was read.
    pub fn next_chunk(&mut self) -> std::result::Result<Option<Chunk>, ReaderFailed> {
        if self.in_other_process() {
            return Err(ReaderFailed::OtherProcess);
        }
        let Some(rx) = &self.rx else {
            return Ok(None);
        };
        if let Ok(chunk) = rx.recv() {
            return Ok(Some(chunk));
        }
        self.rx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(ReaderFailed::Panicked),
            _ => Ok(None),
        }
    }
}

impl Drop for ChunkReader {
    fn drop(&mut self) {
        if self.in_other_process() {
            // A forked child: the reading thread is not here, and it may have held the
            // channel's lock at the fork. The receiver and the handle are left alone (dropping
            // the one would take that lock, the other names a thread of the parent).
            std::mem::forget(self.rx.take());
            std::mem::forget(self.worker.take());
        } else {
            // Dropping the receiver makes the worker's next send fail, so it ends promptly.
            self.rx = None;
            if let Some(w) = self.worker.take() {
                let _ = w.join();
            }
        }
        crate::literal::spare::batch_ended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_lengths(files: usize, chunk: usize) -> Vec<usize> {
        let dir = std::env::temp_dir().join("faceio-metabatch-no-such-dir");
        let paths = (0..files).map(|i| dir.join(format!("{i}.png"))).collect();
        let mut reader = ChunkReader::start(paths, chunk, Limits::default(), false);
        let mut lengths = Vec::new();
        while let Ok(Some(c)) = reader.next_chunk() {
            lengths.push(c.len());
        }
        lengths
    }

    #[test]
    fn chunks_cover_every_file_and_shrink_toward_the_end() {
        for (files, chunk) in [
            (2000, 256),
            (300, 256),
            (40, 256),
            (10, 4),
            (1, 256),
            (0, 8),
        ] {
            let lengths = chunk_lengths(files, chunk);
            assert_eq!(
                lengths.iter().sum::<usize>(),
                files,
                "{files} files, chunk {chunk}"
            );
            assert!(
                lengths.iter().all(|&n| (1..=chunk).contains(&n)),
                "{lengths:?}"
            );
            if let Some(&last) = lengths.last() {
                assert!(last <= FIRST_CHUNK.min(chunk), "{lengths:?}");
            }
        }
        // The middle of a long list still goes in full chunks.
        assert!(chunk_lengths(2000, 256).contains(&256));
    }
}
