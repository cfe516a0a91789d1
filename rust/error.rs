//! One error type for the whole core: what went wrong, where (byte offset), and in which file.
//!
//! The core never panics on outside data; every failure becomes an [`Error`] that `lib.rs` maps
//! once to the Python exception family (`PngFormatError`, `MetadataSyntaxError`, ...).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Which domain an error belongs to; decides the Python exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed PNG structure: signature, chunk bounds, CRC, text chunk layout, limits.
    Png,
    /// The faceswap payload is not a valid Python literal.
    Syntax,
    /// Malformed or unsupported TIFF structure.
    Tiff,
    /// A well-formed file that carries no faceswap metadata.
    NotFound,
    /// A file whose format faceio cannot read the size of (the caller may fall back to decoding).
    Unsupported,
    /// An operating-system error; the `io` field holds it.
    Io,
}

/// An error with its location.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    /// Byte offset in the file (or in the payload, for syntax errors) where the problem is.
    pub offset: Option<u64>,
    /// What is wrong, naming the chunk or field.
    pub message: String,
    /// The file the error is about, once known.
    pub path: Option<PathBuf>,
    /// The underlying OS error for [`ErrorKind::Io`].
    pub io: Option<io::Error>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, offset: Option<u64>, message: impl Into<String>) -> Self {
        Error {
            kind,
            offset,
            message: message.into(),
            path: None,
            io: None,
        }
    }

    pub fn png(offset: u64, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Png, Some(offset), message)
    }

    pub fn syntax(offset: u64, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Syntax, Some(offset), message)
    }

    pub fn tiff(offset: u64, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Tiff, Some(offset), message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, None, message)
    }

    pub fn io(err: io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            offset: None,
            message: err.to_string(),
            path: None,
            io: Some(err),
        }
    }

    /// Attach the file name (kept if one is already set).
    pub fn with_path(mut self, path: &Path) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_path_buf());
        }
        self
    }

    /// Prefix the message with where the text came from (e.g. the chunk it sits in).
    pub fn context(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::io(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
