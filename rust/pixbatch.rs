//! One file of a pixel batch (`read_image_batch`): read once, header parsed from the same
//! bytes when asked, pixels decoded into the file's slot when the fast path takes the file.

use std::path::Path;

use crate::decode;
use crate::error::Error;
use crate::fsio;
use crate::limits::Limits;
use crate::meta::{self, FacePayload};

/// What became of one file. Files the fast path does not take are left to the caller (OpenCV);
/// a header, when asked for, is parsed for those too.
pub enum FileOutcome {
    /// Decoded into its slot.
    Decoded(Option<FacePayload>),
    /// Not an 8-bit RGB/RGBA PNG, or one that does not decode here: for OpenCV, which names
    /// what is wrong with it.
    OpenCv(Option<FacePayload>),
    /// A PNG the fast path takes, of another size than the batch's.
    OtherSize { width: u32, height: u32 },
    /// The file or its header could not be read (the error names the file).
    Failed(Error),
}

impl FileOutcome {
    /// Whether the batch cannot succeed any more (the other files need not be read).
    pub fn is_fatal(&self) -> bool {
        matches!(self, FileOutcome::Failed(_) | FileOutcome::OtherSize { .. })
    }
}

/// The batch's frame: width and height of every image, and the bytes of one BGR slot.
#[derive(Clone, Copy)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
}

impl Frame {
    pub fn bytes(self) -> usize {
        self.width as usize * self.height as usize * 3
    }
}

/// Read `path` (or take `data`, already read), parse its header if `with_meta`, and decode
/// its pixels into `out` (`frame.bytes()` long) if the fast path takes it at that size.
pub fn read_one(
    path: &Path,
    data: Option<&[u8]>,
    frame: Frame,
    out: &mut [u8],
    with_meta: bool,
    limits: &Limits,
) -> FileOutcome {
    let read;
    let data = match data {
        Some(d) => d,
        None => match fsio::read_regular(path) {
            Ok(d) => {
                read = d;
                &read
            }
            Err(e) => return FileOutcome::Failed(e.with_path(path)),
        },
    };
    let header = match with_meta {
        true => match meta::parse_face_payload(data, limits) {
            Ok(h) => Some(h),
            Err(e) => return FileOutcome::Failed(e.with_path(path)),
        },
        false => None,
    };
    match decode::fast_path_size(data) {
        Some((width, height, _)) if (width, height) != (frame.width, frame.height) => {
            FileOutcome::OtherSize { width, height }
        }
        Some(_) => match decode::decode_bgr(data, frame.width, frame.height, out) {
            Some(()) => FileOutcome::Decoded(header),
            None => FileOutcome::OpenCv(header),
        },
        None => FileOutcome::OpenCv(header),
    }
}
