//! PNG chunk walking, CRC checks, and the faceswap text chunk: find, build, insert, replace.
//!
//! A PNG is an 8-byte signature followed by chunks `length (u32 BE) | type (4) | data | crc`,
//! where the CRC covers type and data. faceswap stores a face's header as an uncompressed iTXt
//! chunk with keyword `faceswap`, placed before the first IDAT (docs/format.md, "The faceswap
//! chunk in PNG"). Other tools may re-save it as tEXt, zTXt or compressed iTXt; all of those are
//! read here.

use std::borrow::Cow;
use std::io::Read;

use crate::error::{Error, Result};
use crate::limits::{Limits, PNG_MAX_LENGTH};
use crate::source::Source;

pub const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
pub const KEYWORD: &[u8] = b"faceswap";
/// keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translation NUL.
const ITXT_PREFIX_TAIL: [u8; 5] = [0; 5];
/// Keywords are 1–79 bytes, so a NUL must appear within the first 80 bytes of a text chunk.
const MAX_KEYWORD_SPAN: usize = 80;

/// The text of a faceswap chunk, decoded to UTF-8, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaText {
    /// Offset of the chunk's length field in the file.
    pub chunk_offset: u64,
    /// `iTXt`, `tEXt` or `zTXt`.
    pub chunk_type: [u8; 4],
    /// The payload as UTF-8 text bytes (decompressed and transcoded as needed).
    pub text: Vec<u8>,
}

impl MetaText {
    /// A short description used to prefix errors found in the payload.
    pub fn describe(&self) -> String {
        format!(
            "faceswap {} chunk at byte {}",
            chunk_name(&self.chunk_type),
            self.chunk_offset
        )
    }
}

/// What a metadata read learns from a PNG.
#[derive(Debug, Clone, PartialEq)]
pub struct PngMeta {
    pub width: u32,
    pub height: u32,
    pub text: Option<MetaText>,
}

pub fn chunk_name(t: &[u8; 4]) -> Cow<'_, str> {
    String::from_utf8_lossy(t)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// CRC-32 (ISO 3309, as PNG uses) of a chunk's type and data.
pub fn chunk_crc(chunk_type: &[u8], data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(chunk_type);
    h.update(data);
    h.finalize()
}

/// Build a complete chunk: length, type, data, CRC.
pub fn build_chunk(chunk_type: &[u8; 4], data: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(data.len())
        .ok()
        .filter(|&l| l <= PNG_MAX_LENGTH)
        .ok_or_else(|| {
            Error::png(
                0,
                format!("chunk data of {} bytes exceeds 2^31-1", data.len()),
            )
        })?;
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(chunk_type);
    out.extend_from_slice(data);
    out.extend_from_slice(&chunk_crc(chunk_type, data).to_be_bytes());
    Ok(out)
}

/// The faceswap iTXt chunk for a payload, byte for byte (docs/format.md, "The faceswap chunk
/// in PNG").
pub fn pack_itxt(payload: &[u8]) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(KEYWORD.len() + ITXT_PREFIX_TAIL.len() + payload.len());
    data.extend_from_slice(KEYWORD);
    data.extend_from_slice(&ITXT_PREFIX_TAIL);
    data.extend_from_slice(payload);
    build_chunk(b"iTXt", &data)
}

fn is_text_chunk(t: &[u8; 4]) -> bool {
    matches!(t, b"iTXt" | b"tEXt" | b"zTXt")
}

/// One chunk's header as the walker sees it.
#[derive(Debug, Clone, Copy)]
struct ChunkHead {
    offset: u64,
    length: u32,
    kind: [u8; 4],
}

impl ChunkHead {
    fn end(&self) -> u64 {
        self.offset + 12 + u64::from(self.length)
    }
    fn name(&self) -> Cow<'_, str> {
        chunk_name(&self.kind)
    }

    /// The error for a chunk whose claimed length runs past the end of the data at `eof`.
    fn runs_past(&self, eof: u64) -> Error {
        Error::png(
            self.offset,
            format!(
                "{} chunk at byte {} claims {} data bytes but the file ends at byte {eof}",
                self.name(),
                self.offset,
                self.length
            ),
        )
    }
}

/// Walks chunk headers over a [`Source`], checking bounds, without reading chunk data.
struct Walker<'s, S: Source> {
    src: &'s mut S,
    pos: u64,
    prev: Option<ChunkHead>,
}

impl<'s, S: Source> Walker<'s, S> {
    fn new(src: &'s mut S) -> Result<Self> {
        let sig = src.read_at(0, 8)?;
        if sig.is_empty() {
            return Err(Error::png(0, "empty file: not a PNG"));
        }
        if sig != SIGNATURE {
            return Err(Error::png(
                0,
                "not a PNG file: the 8-byte signature is wrong",
            ));
        }
        Ok(Walker {
            src,
            pos: 8,
            prev: None,
        })
    }

    /// The next chunk header; `Ok(None)` only if the data ends exactly at a chunk boundary.
    fn next_head(&mut self) -> Result<Option<ChunkHead>> {
        let pos = self.pos;
        let head = self.src.read_at(pos, 8)?;
        if head.len() < 8 {
            let got = head.len();
            if let Some(prev) = self.prev {
                let eof = self.src.len_hint().unwrap_or(pos + got as u64);
                if eof < pos {
                    return Err(prev.runs_past(eof));
                }
            }
            if got == 0 {
                return Ok(None);
            }
            return Err(Error::png(
                pos,
                format!("truncated chunk header at byte {pos} ({got} of 8 bytes)"),
            ));
        }
        let length = be32(&head[..4]);
        let kind = [head[4], head[5], head[6], head[7]];
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(Error::png(
                pos + 4,
                format!("invalid chunk type {:?} at byte {pos}", chunk_name(&kind)),
            ));
        }
        if length > PNG_MAX_LENGTH {
            return Err(Error::png(
                pos,
                format!(
                    "{} chunk at byte {pos} has length {length}, over the PNG limit of 2^31-1",
                    chunk_name(&kind)
                ),
            ));
        }
        let chunk = ChunkHead {
            offset: pos,
            length,
            kind,
        };
        if self.prev.is_none() && (&kind != b"IHDR" || length != 13) {
            return Err(Error::png(
                pos,
                format!(
                    "the first chunk must be a 13-byte IHDR, found {} of {length} bytes at byte {pos}",
                    chunk.name()
                ),
            ));
        }
        if self.prev.is_some() && &kind == b"IHDR" {
            // A second size would make the size read depend on where the walk stops.
            return Err(Error::png(
                pos,
                format!("second IHDR chunk at byte {pos}: a PNG has exactly one"),
            ));
        }
        self.prev = Some(chunk);
        self.pos = chunk.end();
        Ok(Some(chunk))
    }

    /// The whole chunk (header, data, CRC) with its CRC checked.
    fn read_chunk(&mut self, c: ChunkHead) -> Result<&[u8]> {
        let total = 12 + c.length as usize;
        let bytes = self.src.read_at(c.offset, total)?;
        if bytes.len() < total {
            return Err(c.runs_past(c.offset + bytes.len() as u64));
        }
        let data = &bytes[8..total - 4];
        let stored = be32(&bytes[total - 4..]);
        let computed = chunk_crc(&c.kind, data);
        if stored != computed {
            return Err(Error::png(
                c.offset + total as u64 - 4,
                format!(
                    "CRC mismatch in {} chunk at byte {} (stored {stored:08x}, computed {computed:08x})",
                    c.name(),
                    c.offset
                ),
            ));
        }
        Ok(bytes)
    }

    fn missing_iend(&self) -> Error {
        Error::png(
            self.pos,
            format!("file ends at byte {} without an IEND chunk", self.pos),
        )
    }
}

/// The keyword of a text chunk, if the chunk is a text chunk whose keyword we can see.
fn text_keyword<S: Source>(src: &mut S, c: &ChunkHead) -> Result<Vec<u8>> {
    let span = (c.length as usize).min(MAX_KEYWORD_SPAN);
    let head = src.read_at(c.offset + 8, span)?;
    match head.iter().position(|&b| b == 0) {
        Some(n) if n > 0 => Ok(head[..n].to_vec()),
        Some(_) => Err(Error::png(
            c.offset + 8,
            format!(
                "{} chunk at byte {} has an empty keyword",
                c.name(),
                c.offset
            ),
        )),
        None if head.len() < span => Err(c.runs_past(c.offset + 8 + head.len() as u64)),
        None => Err(Error::png(
            c.offset + 8,
            format!(
                "{} chunk at byte {} has no NUL after its keyword (keywords are 1-79 bytes)",
                c.name(),
                c.offset
            ),
        )),
    }
}

fn inflate_limited(data: &[u8], limit: usize, at: u64, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut dec = flate2::read::ZlibDecoder::new(data).take(limit as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| Error::png(at, format!("{what}: bad zlib stream ({e})")))?;
    if out.len() > limit {
        return Err(Error::png(
            at,
            format!("{what}: decompressed text exceeds the {limit}-byte limit"),
        ));
    }
    Ok(out)
}

fn latin1_to_utf8(bytes: &[u8]) -> Vec<u8> {
    if bytes.is_ascii() {
        return bytes.to_vec();
    }
    bytes
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .into_bytes()
}

/// Decode a faceswap text chunk's data (after the keyword and its NUL) into UTF-8 text.
fn decode_text(kind: &[u8; 4], rest: &[u8], at: u64, limits: &Limits) -> Result<Vec<u8>> {
    let what = format!("faceswap {} chunk at byte {at}", chunk_name(kind));
    match kind {
        b"tEXt" => Ok(latin1_to_utf8(rest)),
        b"zTXt" => {
            match rest.first() {
                Some(0) => {}
                Some(m) => {
                    return Err(Error::png(
                        at,
                        format!("{what}: unknown compression method {m}"),
                    ))
                }
                None => {
                    return Err(Error::png(
                        at,
                        format!("{what}: no compression method byte"),
                    ))
                }
            }
            let text = inflate_limited(&rest[1..], limits.max_text, at, &what)?;
            Ok(latin1_to_utf8(&text))
        }
        _ => {
            // iTXt: flag, method, language tag NUL, translated keyword NUL, text.
            if rest.len() < 2 {
                return Err(Error::png(
                    at,
                    format!("{what}: missing compression flag and method"),
                ));
            }
            let (flag, method) = (rest[0], rest[1]);
            let after_lang = rest[2..]
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| Error::png(at, format!("{what}: language tag has no NUL")))?;
            let tail = &rest[2 + after_lang + 1..];
            let after_trans = tail
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| Error::png(at, format!("{what}: translated keyword has no NUL")))?;
            let text = &tail[after_trans + 1..];
            match (flag, method) {
                (0, _) => Ok(text.to_vec()),
                (1, 0) => inflate_limited(text, limits.max_text, at, &what),
                (1, m) => Err(Error::png(
                    at,
                    format!("{what}: unknown compression method {m}"),
                )),
                (f, _) => Err(Error::png(
                    at,
                    format!("{what}: invalid compression flag {f}"),
                )),
            }
        }
    }
}

/// Walk a PNG: size from IHDR and the first faceswap text chunk, wherever it is.
///
/// Chunk bounds are checked for every chunk; CRCs for the chunks whose contents are used (IHDR
/// and the faceswap chunk). The walk stops at the faceswap chunk, or at IEND.
pub fn read_meta<S: Source>(src: &mut S, limits: &Limits) -> Result<PngMeta> {
    let mut w = Walker::new(src)?;
    let mut size = (0u32, 0u32);
    loop {
        let Some(c) = w.next_head()? else {
            return Err(w.missing_iend());
        };
        match &c.kind {
            b"IHDR" => {
                let bytes = w.read_chunk(c)?;
                let (width, height) = (be32(&bytes[8..12]), be32(&bytes[12..16]));
                if width == 0 || height == 0 {
                    return Err(Error::png(
                        c.offset + 8,
                        format!(
                            "IHDR at byte {} gives a zero size {width}x{height}",
                            c.offset
                        ),
                    ));
                }
                size = (width, height);
            }
            b"IEND" => {
                return Ok(PngMeta {
                    width: size.0,
                    height: size.1,
                    text: None,
                })
            }
            k if is_text_chunk(k) => {
                if text_keyword(w.src, &c)? != KEYWORD {
                    continue;
                }
                if c.length as usize > limits.max_chunk {
                    return Err(Error::png(
                        c.offset,
                        format!(
                            "faceswap {} chunk at byte {} claims {} bytes, over the {}-byte limit",
                            c.name(),
                            c.offset,
                            c.length,
                            limits.max_chunk
                        ),
                    ));
                }
                let bytes = w.read_chunk(c)?;
                let rest = &bytes[8 + KEYWORD.len() + 1..bytes.len() - 4];
                let text = decode_text(&c.kind, rest, c.offset, limits)?;
                return Ok(PngMeta {
                    width: size.0,
                    height: size.1,
                    text: Some(MetaText {
                        chunk_offset: c.offset,
                        chunk_type: c.kind,
                        text,
                    }),
                });
            }
            _ => {}
        }
    }
}

/// Where the chunks of an in-memory PNG are: used by the writers.
struct Layout {
    /// Offset of the first IDAT chunk.
    first_idat: Option<usize>,
    /// (start, end) of the first faceswap text chunk.
    faceswap: Option<(usize, usize)>,
}

/// Walk every chunk of an in-memory PNG up to IEND, checking bounds (a write must not turn a
/// broken file into a differently broken one).
fn layout(png: &[u8]) -> Result<Layout> {
    let mut src = crate::source::MemSource(png);
    let mut w = Walker::new(&mut src)?;
    let mut out = Layout {
        first_idat: None,
        faceswap: None,
    };
    loop {
        let Some(c) = w.next_head()? else {
            return Err(w.missing_iend());
        };
        if c.end() > png.len() as u64 {
            return Err(c.runs_past(png.len() as u64));
        }
        match &c.kind {
            b"IDAT" if out.first_idat.is_none() => out.first_idat = Some(c.offset as usize),
            b"IEND" => return Ok(out),
            k if is_text_chunk(k)
                && out.faceswap.is_none()
                && text_keyword(w.src, &c)? == KEYWORD =>
            {
                out.faceswap = Some((c.offset as usize, c.end() as usize));
            }
            _ => {}
        }
    }
}

/// Check that every chunk of an in-memory PNG lies inside it, up to IEND (CRCs unchecked): a
/// length field is not to be trusted by a decoder that allocates from it.
pub fn check_chunks(png: &[u8]) -> Result<()> {
    layout(png).map(|_| ())
}

/// Put `chunk` into `png`: in place of the first faceswap text chunk if there is one, else
/// immediately before the first IDAT. Every other byte is kept as it was.
pub fn put_meta_chunk(png: &[u8], chunk: &[u8]) -> Result<Vec<u8>> {
    let lay = layout(png)?;
    let (start, end) = match (lay.faceswap, lay.first_idat) {
        (Some(span), _) => span,
        (None, Some(idat)) => (idat, idat),
        (None, None) => {
            return Err(Error::png(
                8,
                "PNG has no IDAT chunk to place the header before",
            ))
        }
    };
    let mut out = Vec::with_capacity(png.len() - (end - start) + chunk.len());
    out.extend_from_slice(&png[..start]);
    out.extend_from_slice(chunk);
    out.extend_from_slice(&png[end..]);
    Ok(out)
}

/// Check every chunk of an in-memory PNG: bounds, CRC, IHDR first, IEND last.
pub fn verify(png: &[u8]) -> Result<()> {
    let mut src = crate::source::MemSource(png);
    let mut w = Walker::new(&mut src)?;
    let mut seen_idat = false;
    loop {
        let Some(c) = w.next_head()? else {
            return Err(w.missing_iend());
        };
        w.read_chunk(c)?;
        match &c.kind {
            b"IDAT" => seen_idat = true,
            b"IEND" => {
                if !seen_idat {
                    return Err(Error::png(c.offset, "PNG has no IDAT chunk"));
                }
                return Ok(());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
