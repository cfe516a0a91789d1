//! The reader behind `read_image_meta_batch`: a background thread reads and parses files a
//! chunk at a time on the rayon pool, at most two chunks ahead of the consumer, so the first
//! result comes early and memory stays bounded however long the list.

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

/// The background reader's thread panicked.
#[derive(Debug)]
pub struct ReaderPanicked;

pub struct ChunkReader {
    rx: Option<Receiver<Chunk>>,
    worker: Option<JoinHandle<()>>,
}

impl ChunkReader {
    /// Start reading `paths` in chunks of `chunk` files (the first one smaller).
    pub fn start(paths: Vec<PathBuf>, chunk: usize, limits: Limits) -> Self {
        let (tx, rx) = sync_channel::<Chunk>(2);
        let chunk = chunk.max(1);
        let worker = std::thread::spawn(move || {
            let mut start = 0;
            let mut size = FIRST_CHUNK.min(chunk);
            while start < paths.len() {
                let end = (start + size).min(paths.len());
                let out = meta::read_batch(&paths[start..end], &limits);
                if tx.send(out).is_err() {
                    return; // the reader was dropped: stop reading
                }
                start = end;
                size = chunk;
            }
        });
        ChunkReader {
            rx: Some(rx),
            worker: Some(worker),
        }
    }

    /// The next chunk (waiting for it), or `None` once every file was read.
    pub fn next_chunk(&mut self) -> std::result::Result<Option<Chunk>, ReaderPanicked> {
        let Some(rx) = &self.rx else {
            return Ok(None);
        };
        if let Ok(chunk) = rx.recv() {
            return Ok(Some(chunk));
        }
        self.rx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(ReaderPanicked),
            _ => Ok(None),
        }
    }
}

impl Drop for ChunkReader {
    fn drop(&mut self) {
        // Dropping the receiver makes the worker's next send fail, so it ends promptly.
        self.rx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
