//! Image width and height from file headers, without decoding: PNG, JPEG, BMP, TIFF, WebP.
//!
//! The size is the one `cv2.imread` gives, as faceswap's `read_image_meta` reports it: where
//! OpenCV turns an image by its EXIF Orientation (JPEG, WebP, PNG, TIFF), the Orientation is
//! read too and 5-8 swap width and height. Which Orientation OpenCV honours in each format, and
//! what it ignores, is in docs/format.md, "Image sizes and EXIF orientation"; the Exif block
//! itself is read by [`crate::exif`].

use crate::error::{Error, ErrorKind, Result};
use crate::exif;
use crate::png::chunk_crc;
use crate::source::Source;

/// The largest PNG eXIf chunk OpenCV reads (libpng's limit on a chunk it keeps); a larger one
/// makes OpenCV refuse the whole file. Also the largest WebP EXIF chunk read here.
const EXIF_MAX: u32 = 8_000_000;

/// The container formats whose size can be read from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Bmp,
    Tiff,
    WebP,
}

/// Recognise a format by its magic bytes.
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(&crate::png::SIGNATURE) {
        Some(Format::Png)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if head.starts_with(b"BM") && head.len() >= 26 {
        Some(Format::Bmp)
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        Some(Format::Tiff)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(Format::WebP)
    } else {
        None
    }
}

fn need<'a, S: Source>(src: &'a mut S, at: u64, len: usize, what: &str) -> Result<&'a [u8]> {
    let b = src.read_at(at, len)?;
    if b.len() < len {
        return Err(Error::new(
            ErrorKind::Unsupported,
            Some(at),
            format!("truncated {what} at byte {at}"),
        ));
    }
    Ok(b)
}

fn bad(at: u64, msg: String) -> Error {
    Error::new(ErrorKind::Unsupported, Some(at), msg)
}

/// The bytes `[at, at + len)`, or `None` when the data ends first.
fn get<S: Source>(src: &mut S, at: u64, len: usize) -> Result<Option<&[u8]>> {
    let b = src.read_at(at, len)?;
    Ok((b.len() == len).then_some(b))
}

/// The size `cv2.imread` gives an image stored `(width, height)` whose EXIF Orientation is
/// `orientation`: width and height swapped for the transposing ones.
fn as_turned((w, h): (u32, u32), orientation: Option<u16>) -> (u32, u32) {
    if exif::swaps(orientation) {
        (h, w)
    } else {
        (w, h)
    }
}

/// Width and height of an image (for a PNG, one read as its content says, not by its name),
/// as `cv2.imread` gives them: turned as its EXIF Orientation says where OpenCV turns it
/// (docs/format.md, "Image sizes and EXIF orientation").
pub fn size<S: Source>(src: &mut S, format: Format) -> Result<(u32, u32)> {
    match format {
        Format::Png => {
            let ihdr = need(src, 16, 8, "PNG IHDR")?;
            let stored = (
                u32::from_be_bytes([ihdr[0], ihdr[1], ihdr[2], ihdr[3]]),
                u32::from_be_bytes([ihdr[4], ihdr[5], ihdr[6], ihdr[7]]),
            );
            Ok(as_turned(stored, png_orientation(src)?))
        }
        Format::Jpeg => jpeg_size(src),
        Format::Bmp => {
            let h = need(src, 0, 26, "BMP header")?;
            let dib = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
            if dib == 12 {
                Ok((
                    u32::from(u16::from_le_bytes([h[18], h[19]])),
                    u32::from(u16::from_le_bytes([h[20], h[21]])),
                ))
            } else {
                let w = i32::from_le_bytes([h[18], h[19], h[20], h[21]]);
                let hh = i32::from_le_bytes([h[22], h[23], h[24], h[25]]);
                // A negative height marks a top-down bitmap.
                Ok((w.unsigned_abs(), hh.unsigned_abs()))
            }
        }
        Format::Tiff => tiff_size(src),
        Format::WebP => webp_size(src),
    }
}

/// What marks an APP1 segment as an Exif block.
const JPEG_EXIF: &[u8] = b"Exif\0\0";

fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// The largest piece of a JPEG scanned for a marker in one request.
const SCAN_MAX: usize = 64 * 1024;

/// The next marker from `pos` as libjpeg's `next_marker` finds it between two segments: bytes
/// other than 0xFF are skipped, then any run of 0xFF fill bytes, and an `FF 00` pair (a
/// stuffed zero) is skipped as garbage too. Gives the marker code and the position after it,
/// or `None` when the data ends first. Each byte is looked at once; the pieces asked for start
/// small (the marker is nearly always right at `pos`) and double, so that a long run of garbage
/// costs few requests and a short one asks for little past it.
fn next_marker<S: Source>(src: &mut S, mut pos: u64) -> Result<Option<(u8, u64)>> {
    let mut after_ff = false;
    let mut want = 9usize;
    loop {
        let piece = src.read_at(pos, want)?;
        if piece.is_empty() {
            return Ok(None);
        }
        for (i, &c) in piece.iter().enumerate() {
            if after_ff {
                match c {
                    0xFF => {}
                    0x00 => after_ff = false,
                    m => return Ok(Some((m, pos + i as u64 + 1))),
                }
            } else {
                after_ff = c == 0xFF;
            }
        }
        pos += piece.len() as u64;
        want = (want * 2).min(SCAN_MAX);
    }
}

/// The SOF size, turned by the first Exif APP1 segment (before SOS) that holds an Orientation.
///
/// Markers are found as libjpeg finds them (stray bytes and fill bytes between segments are
/// skipped: [`next_marker`]), and a segment libjpeg skips whose length is below 2 moves the
/// walk only past its length, as in libjpeg. Whatever makes libjpeg give up before SOS is an
/// error here (the caller may decode the file instead): the data ending before SOS, EOI or a
/// second SOI or SOF before SOS, a marker libjpeg does not know, a table segment shorter than
/// its length field.
fn jpeg_size<S: Source>(src: &mut S) -> Result<(u32, u32)> {
    let mut pos = 2u64;
    let mut stored: Option<(u32, u32)> = None;
    let mut orientation: Option<u16> = None;
    // On to SOS even with SOF and an Orientation in hand: a file libjpeg gives up on before
    // SOS is an error, whatever was found first (docs/format.md, "Image sizes and EXIF
    // orientation"). SOS is nearly always in the bytes already read.
    loop {
        let Some((m, at)) = next_marker(src, pos)? else {
            return Err(bad(
                pos,
                format!("JPEG data ends at byte {pos}, before SOS"),
            ));
        };
        match m {
            0x01 | 0xD0..=0xD7 => pos = at, // no length, nothing to read
            0xDA => {
                return match stored {
                    Some(s) => Ok(as_turned(s, orientation)),
                    None => Err(bad(at, format!("no SOF marker before byte {at} in JPEG"))),
                };
            }
            0xC8 => return Err(bad(at, format!("JPEG marker 0xC8 at byte {at}"))),
            // SOF5-7 and SOF13-15: libjpeg gives up on a hierarchical JPEG at its SOF.
            0xC5..=0xC7 | 0xCD..=0xCF => {
                let why = "a hierarchical JPEG, which libjpeg does not decode";
                return Err(bad(at, format!("JPEG marker {m:#04X} at byte {at}: {why}")));
            }
            0xC0..=0xCF | 0xDB | 0xDC | 0xDD | 0xE0..=0xEF | 0xFE => {
                // The segment's length and (for SOF) its first 5 bytes in one request.
                let mut head = [0u8; 7];
                let n = {
                    let b = src.read_at(at, head.len())?;
                    head[..b.len()].copy_from_slice(b);
                    b.len()
                };
                if n < 2 {
                    return Err(bad(
                        at,
                        format!("truncated JPEG segment length at byte {at}"),
                    ));
                }
                let length = u16::from_be_bytes([head[0], head[1]]);
                let body = at + 2;
                if is_sof(m) {
                    if stored.is_some() {
                        return Err(bad(at, format!("a second SOF marker at byte {at} in JPEG")));
                    }
                    if n < 7 {
                        return Err(bad(
                            body,
                            format!("truncated JPEG SOF segment at byte {body}"),
                        ));
                    }
                    let h = u32::from(u16::from_be_bytes([head[3], head[4]]));
                    let w = u32::from(u16::from_be_bytes([head[5], head[6]]));
                    stored = Some((w, h));
                } else if m == 0xDD && length != 4 {
                    // DRI holds one 2-byte interval: libjpeg fails on any other length.
                    return Err(bad(at, format!("JPEG DRI marker of length {length}")));
                } else if length < 2 && matches!(m, 0xC4 | 0xCC | 0xDB) {
                    // libjpeg reads tables (or refuses the marker) and fails on these.
                    return Err(bad(at, format!("JPEG marker {m:#04X} of length {length}")));
                } else if m == 0xE1 && orientation.is_none() {
                    let len = usize::from(length).saturating_sub(2);
                    if len >= JPEG_EXIF.len() && get(src, body, JPEG_EXIF.len())? == Some(JPEG_EXIF)
                    {
                        if let Some(segment) = get(src, body, len)? {
                            orientation = exif::orientation(&segment[JPEG_EXIF.len()..]);
                        }
                    }
                }
                // A length below 2 covers only itself, as libjpeg's skip_variable takes it.
                pos = at + u64::from(length.max(2));
            }
            // EOI, a second SOI, or a marker libjpeg does not know: it fails before SOS.
            _ => {
                return Err(bad(
                    at,
                    format!("JPEG marker {m:#04X} before SOS at byte {at}"),
                ))
            }
        }
    }
}

/// The Orientation of a PNG read by its content: that of the first eXIf chunk (before or
/// after the pixels) that libpng takes, which is one with a good CRC, at least 4 bytes and a
/// TIFF mark (`II*\0` or `MM\0*`); later eXIf chunks are duplicates it ignores.
fn png_orientation<S: Source>(src: &mut S) -> Result<Option<u16>> {
    let mut pos = 8u64;
    // Each chunk moves the walk at least 12 bytes on, and it ends with the data.
    while let Some(head) = get(src, pos, 8)? {
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        if &kind == b"IEND" || length > crate::limits::PNG_MAX_LENGTH {
            break;
        }
        if &kind == b"eXIf" && (4..=EXIF_MAX).contains(&length) {
            let len = length as usize; // at most EXIF_MAX
            let Some(chunk) = get(src, pos + 8, len + 4)? else {
                break;
            };
            let (data, crc) = chunk.split_at(len);
            let good = chunk_crc(b"eXIf", data).to_be_bytes() == crc
                && (data.starts_with(b"II*\0") || data.starts_with(b"MM\0*"));
            if good {
                return Ok(exif::orientation(data));
            }
        }
        pos += 12 + u64::from(length);
    }
    Ok(None)
}

fn tiff_size<S: Source>(src: &mut S) -> Result<(u32, u32)> {
    let h = need(src, 0, 8, "TIFF header")?;
    let le = &h[..2] == b"II";
    let u16_at = |b: &[u8], i: usize| {
        let v = [b[i], b[i + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], i: usize| {
        let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let ifd = u64::from(u32_at(h, 4));
    let n = usize::from(u16_at(need(src, ifd, 2, "TIFF IFD")?, 0));
    let entries = need(src, ifd + 2, 12 * n, "TIFF IFD")?.to_vec();
    let (mut w, mut hgt) = (None, None);
    // libtiff's Orientation: the first entry with tag 274 decides, even one it cannot take.
    let mut orientation: Option<Option<u16>> = None;
    for e in entries.chunks_exact(12) {
        let tag = u16_at(e, 0);
        if tag == 274 && orientation.is_none() {
            let value = match u16_at(e, 2) {
                1 => Some(i64::from(e[8])),
                6 => Some(i64::from(e[8] as i8)),
                3 => Some(i64::from(u16_at(e, 8))),
                8 => Some(i64::from(u16_at(e, 8) as i16)),
                4 => Some(i64::from(u32_at(e, 8))),
                9 => Some(i64::from(u32_at(e, 8) as i32)),
                // LONG8 and SLONG8: 8 bytes, which in a classic TIFF are out of line, at the
                // offset the entry holds; one that is not all in the file is ignored.
                16 | 17 => get(src, u64::from(u32_at(e, 8)), 8)?.map(|b| {
                    let b: [u8; 8] = b.try_into().unwrap_or_default();
                    let v = if le {
                        u64::from_le_bytes(b)
                    } else {
                        u64::from_be_bytes(b)
                    };
                    // Past 1..=8 either way: only the range check below matters.
                    i64::try_from(v).unwrap_or(-1)
                }),
                _ => None,
            };
            // One value, of an integer type, 1-8: libtiff ignores the tag otherwise.
            let valid = value.filter(|v| u32_at(e, 4) == 1 && (1..=8).contains(v));
            orientation = Some(valid.and_then(|v| u16::try_from(v).ok()));
            continue;
        }
        if (tag == 256 || tag == 257) && u32_at(e, 4) != 1 {
            // With several values the field holds an offset, not the size: let OpenCV decide.
            return Err(bad(
                ifd,
                format!("TIFF tag {tag} has {} values, not 1", u32_at(e, 4)),
            ));
        }
        let value = match u16_at(e, 2) {
            3 => u32::from(u16_at(e, 8)),
            4 => u32_at(e, 8),
            _ => continue,
        };
        match tag {
            256 => w = Some(value),
            257 => hgt = Some(value),
            _ => {}
        }
    }
    match (w, hgt) {
        (Some(w), Some(h)) => Ok(as_turned((w, h), orientation.flatten())),
        _ => Err(bad(ifd, "TIFF IFD lacks ImageWidth/ImageLength".into())),
    }
}

fn webp_size<S: Source>(src: &mut S) -> Result<(u32, u32)> {
    // OpenCV reads no WebP shorter than 32 bytes.
    let h = need(src, 0, 32, "WebP header")?.to_vec();
    let u24 = |i: usize| u32::from(h[i]) | u32::from(h[i + 1]) << 8 | u32::from(h[i + 2]) << 16;
    let le32 = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    // libwebp's decoder (and so OpenCV) refuses a RIFF too small for the "WEBP" tag and a
    // chunk head, or too large for a chunk, one that runs past the end of the file (a file
    // cut short), and a first chunk that runs past the RIFF; bytes after the RIFF are ignored.
    let riff = le32(4);
    if !(12..=0xFFFF_FFF6).contains(&riff) || 12 + u64::from(le32(16)) > u64::from(riff) {
        return Err(bad(
            4,
            format!("WebP RIFF size {riff} does not hold its first chunk"),
        ));
    }
    let riff_end = 8 + u64::from(riff);
    if get(src, riff_end - 1, 1)?.is_none() {
        return Err(bad(
            riff_end,
            format!("WebP file ends before the end of its RIFF (byte {riff_end})"),
        ));
    }
    match &h[12..16] {
        kind @ (b"VP8 " | b"VP8L") => webp_image_size(kind, &h[20..30], le32(16))
            .ok_or_else(|| bad(20, "a WebP image header libwebp refuses".into())),
        // libwebp takes a VP8X chunk of 10 bytes only.
        b"VP8X" if le32(16) != 10 => Err(bad(16, format!("WebP VP8X chunk of {} bytes", le32(16)))),
        b"VP8X" => {
            let stored = (u24(24) + 1, u24(27) + 1);
            let vp8x = u64::from(le32(16));
            let flags = h[20];
            // A still file's canvas is its image's size, or libwebp refuses it.
            if flags & WEBP_ANIMATION == 0 && webp_image_fits(src, riff_end)? != stored {
                return Err(bad(24, "a WebP canvas other than its image's size".into()));
            }
            // Bit 3 of the flags says the file has Exif; without it libwebp's demuxer skips it.
            // A flag it does not know makes it refuse the file.
            let orientation = if flags & !WEBP_FLAGS == 0 && flags & 0x08 != 0 {
                let animation = flags & WEBP_ANIMATION != 0;
                webp_orientation(src, 20 + vp8x + (vp8x & 1), riff_end, animation)?
            } else {
                None
            };
            Ok(as_turned(stored, orientation))
        }
        _ => Err(bad(12, "unrecognised WebP chunk layout".into())),
    }
}

/// The size in a VP8 or VP8L image chunk's first 10 bytes (`data`; `size`: the chunk's), or
/// `None` where libwebp refuses its header (`VP8GetInfo`, `VP8LGetInfo`): a VP8 frame that is
/// not a shown key frame of a known profile with its start code and a first partition inside
/// the chunk, or a VP8L image without its signature or of another version than 0.
fn webp_image_size(kind: &[u8], data: &[u8], size: u32) -> Option<(u32, u32)> {
    match (kind, data) {
        (b"VP8 ", &[a, b, c, d, e, f, g, h, i, j, ..]) => {
            let tag = u32::from_le_bytes([a, b, c, 0]);
            let key_frame = tag & 1 == 0;
            let (profile, shown, first_partition) = ((tag >> 1) & 7, (tag >> 4) & 1, tag >> 5);
            let ok = key_frame && profile <= 3 && shown == 1 && first_partition < size;
            let size = (
                u32::from(u16::from_le_bytes([g, h]) & 0x3fff),
                u32::from(u16::from_le_bytes([i, j]) & 0x3fff),
            );
            (ok && [d, e, f] == [0x9d, 0x01, 0x2a]).then_some(size)
        }
        (b"VP8L", &[a, b, c, d, e, ..]) => {
            let bits = u32::from_le_bytes([b, c, d, e]);
            let size = ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
            (a == 0x2f && bits >> 29 == 0).then_some(size)
        }
        _ => None,
    }
}

/// Check a still extended WebP's layout as OpenCV's decoder takes it, and give its image's
/// size: the chunks after VP8X, up to and with the first VP8 or VP8L chunk (the image), each
/// end inside the RIFF, which ends at `riff_end` (inside the file: checked before), and the
/// image's header is one libwebp takes.
fn webp_image_fits<S: Source>(src: &mut S, riff_end: u64) -> Result<(u32, u32)> {
    // After RIFF, its size, WEBP and the 10-byte VP8X chunk.
    let mut pos = 30u64;
    loop {
        let Some(head) = get(src, pos, 8)? else {
            return Err(bad(
                pos,
                format!("WebP data ends at byte {pos}, before an image"),
            ));
        };
        let size32 = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let size = u64::from(size32);
        // Each chunk, the image's too, padded to an even size.
        let end = pos + 8 + size + (size & 1);
        if end > riff_end {
            return Err(bad(
                pos,
                format!("WebP chunk at byte {pos} runs past the RIFF"),
            ));
        }
        let kind = [head[0], head[1], head[2], head[3]];
        if matches!(&kind, b"VP8 " | b"VP8L") {
            // As much of the image header as the file holds (VP8L's is 5 bytes, VP8's 10).
            let data = src.read_at(pos + 8, 10)?;
            return webp_image_size(&kind, data, size32).ok_or_else(|| {
                bad(
                    pos,
                    format!("a WebP image header at byte {pos} libwebp refuses"),
                )
            });
        }
        pos = end;
    }
}

/// The VP8X flags libwebp's demuxer knows (ICC, alpha, Exif, XMP, animation); a file with any
/// other bit set is one it refuses.
const WEBP_FLAGS: u8 = 0x3E;
/// The VP8X flag of an animation.
const WEBP_ANIMATION: u8 = 0x02;

/// The Orientation of the first EXIF chunk of an extended WebP, as libwebp's demuxer (which
/// OpenCV asks for it) finds it, or `None` where the demuxer fails and OpenCV turns nothing:
/// the chunks from `pos` must fill the RIFF exactly, each whole, with no second VP8X. A still
/// file (no animation flag) holds one image, a VP8 or VP8L chunk right after at most one ALPH
/// (ALPH before VP8L is refused), and no ANIM before it; an animation holds no top-level image
/// and at least one ANMF frame after an ANIM. An ANMF before any ANIM is refused in both.
fn webp_orientation<S: Source>(
    src: &mut S,
    mut pos: u64,
    riff_end: u64,
    animation: bool,
) -> Result<Option<u16>> {
    let mut exif: Option<(u64, u32)> = None;
    // The image: none yet, an ALPH waiting for its VP8, or whole.
    #[derive(PartialEq)]
    enum Image {
        None,
        Alpha,
        Whole,
    }
    let mut image = Image::None;
    let mut anim = false;
    let mut frames = 0u32;
    // Each chunk moves the walk at least 8 bytes on, and it ends with the data.
    while pos < riff_end {
        let Some(head) = get(src, pos, 8)? else {
            return Ok(None);
        };
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let kind = [head[0], head[1], head[2], head[3]];
        if image == Image::Alpha && &kind != b"VP8 " {
            // ALPH then VP8L, or ALPH then anything but an image: refused, or a frame cut short.
            return Ok(None);
        }
        match &kind {
            b"ALPH" | b"VP8 " | b"VP8L" => {
                if animation || anim || image == Image::Whole {
                    return Ok(None);
                }
                image = if &kind == b"ALPH" {
                    Image::Alpha
                } else {
                    Image::Whole
                };
            }
            b"VP8X" => return Ok(None),
            b"ANMF" if !anim => return Ok(None),
            b"ANMF" => frames += 1,
            b"ANIM" => {
                if size < 6 {
                    return Ok(None);
                }
                anim = true;
            }
            b"EXIF" if exif.is_none() => exif = Some((pos + 8, size)),
            _ => {}
        }
        let size = u64::from(size);
        pos += 8 + size + (size & 1);
        if pos > riff_end {
            return Ok(None);
        }
    }
    let whole = if animation {
        frames > 0
    } else {
        image == Image::Whole
    };
    let Some((at, size)) = exif.filter(|_| whole && pos == riff_end) else {
        return Ok(None);
    };
    if size > EXIF_MAX {
        return Ok(None);
    }
    Ok(get(src, at, size as usize)?.and_then(exif::orientation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    #[test]
    fn jpeg_walks_to_sof() {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB];
        j.extend_from_slice(&[
            0xFF, 0xC0, 0x00, 0x0B, 8, 0x01, 0x2C, 0x00, 0xC8, 1, 1, 0x11, 0,
        ]);
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02]);
        assert_eq!(sniff(&j), Some(Format::Jpeg));
        assert_eq!(size(&mut MemSource(&j), Format::Jpeg).unwrap(), (200, 300));
        assert!(size(&mut MemSource(&j[..9]), Format::Jpeg).is_err());
    }

    #[test]
    fn bmp_and_webp() {
        let mut b = b"BM".to_vec();
        b.resize(14, 0);
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&7i32.to_le_bytes());
        b.extend_from_slice(&(-5i32).to_le_bytes());
        assert_eq!(size(&mut MemSource(&b), Format::Bmp).unwrap(), (7, 5));
        // An extended file: VP8X, then a VP8L chunk of 6 bytes.
        let mut w = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        w.resize(24, 0);
        w.extend_from_slice(&[9, 0, 0, 19, 0, 0]);
        w.extend_from_slice(b"VP8L\x06\0\0\0\x2f\x09\xc0\x04\0\0"); // 10 x 20
        assert_eq!(sniff(&w), Some(Format::WebP));
        let size_of = |w: &[u8]| size(&mut MemSource(w), Format::WebP);
        // The RIFF's size must hold its first chunk and lie within the file, a VP8X chunk is
        // 10 bytes, and the image chunk must fit in the RIFF and the file.
        w[16] = 10;
        assert!(size_of(&w).is_err());
        w[4] = 36;
        assert_eq!(size_of(&w).unwrap(), (10, 20));
        for bad in [0, 11, 12] {
            w[16] = bad;
            assert!(size_of(&w).is_err(), "{bad}");
        }
        w[16] = 10;
        assert!(size_of(&w[..w.len() - 1]).is_err());
        w.push(0);
        assert_eq!(size_of(&w).unwrap(), (10, 20));
        w[4] = 37;
        assert_eq!(size_of(&w).unwrap(), (10, 20));
        w[4] = 38;
        assert!(size_of(&w).is_err());
        // Chunks before the image must end inside the RIFF.
        let mut iccp = w[..30].to_vec();
        iccp.extend_from_slice(b"ICCP\x02\0\0\0ab");
        iccp.extend_from_slice(&w[30..]);
        iccp[4] = 46;
        assert_eq!(size_of(&iccp).unwrap(), (10, 20));
        iccp[30 + 4] = 40;
        assert!(size_of(&iccp).is_err());
        // A simple file's image chunk must fit in the RIFF.
        let mut simple = b"RIFF\x18\0\0\0WEBPVP8L\x0c\0\0\0\x2f\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        assert_eq!(size_of(&simple).unwrap(), (1, 1));
        assert!(size_of(&simple[..31]).is_err());
        simple[16] = 13;
        assert!(size_of(&simple).is_err());
    }

    #[test]
    fn webp_image_headers_as_libwebp_takes_them() {
        let vp8 = |tag: [u8; 3], start: [u8; 3]| {
            let data = [&tag[..], &start, &[10, 0, 20, 0]].concat();
            webp_image_size(b"VP8 ", &data, 10)
        };
        let code = [0x9d, 0x01, 0x2a];
        assert_eq!(vp8([0x10, 0, 0], code), Some((10, 20)));
        assert_eq!(vp8([0x16, 0, 0], code), Some((10, 20))); // profile 3
        for bad in [[0x11, 0, 0], [0x18, 0, 0], [0x00, 0, 0], [0x50, 0x01, 0]] {
            // An inter frame, profile 4, not shown, a first partition of 10 bytes.
            assert_eq!(vp8(bad, code), None, "{bad:?}");
        }
        assert_eq!(vp8([0x10, 0, 0], [0x9d, 0x01, 0x2b]), None);
        let vp8l =
            |word: u32| webp_image_size(b"VP8L", &[&[0x2f][..], &word.to_le_bytes()].concat(), 5);
        assert_eq!(vp8l(9 | 19 << 14 | 1 << 28), Some((10, 20))); // the alpha bit
        for version in 1..8u32 {
            assert_eq!(vp8l(9 | 19 << 14 | version << 29), None, "{version}");
        }
        assert_eq!(webp_image_size(b"VP8L", &[0x2e, 0, 0, 0, 0], 5), None);
        assert_eq!(webp_image_size(b"VP8L", &[0x2f, 0, 0, 0], 4), None);
        assert_eq!(
            webp_image_size(b"VP8 ", &[0x10, 0, 0, 0x9d, 0x01, 0x2a, 10, 0, 20], 9),
            None
        );
    }

    #[test]
    fn an_extended_webps_odd_image_chunk_needs_its_pad_byte_in_the_riff() {
        let mut w = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        w.extend_from_slice(b"VP8L\x05\0\0\0\x2f\0\0\0\0\0");
        w[4] = (w.len() - 8) as u8;
        assert_eq!(size(&mut MemSource(&w), Format::WebP).unwrap(), (1, 1));
        w[4] -= 1; // the file keeps the pad byte; the RIFF ends before it
        assert!(size(&mut MemSource(&w), Format::WebP).is_err());
    }

    /// A little-endian Exif block whose IFD0 holds one Orientation entry.
    fn exif_block(value: u16) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend(8u32.to_le_bytes());
        b.extend(1u16.to_le_bytes());
        b.extend([0x12, 0x01, 3, 0]);
        b.extend(1u32.to_le_bytes());
        b.extend(u32::from(value).to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b
    }

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend((body.len() as u16 + 2).to_be_bytes());
        s.extend(body);
        s
    }

    fn app1_exif(value: u16) -> Vec<u8> {
        segment(0xE1, &[b"Exif\0\0".as_slice(), &exif_block(value)].concat())
    }

    /// SOI, `before`, SOF0 of 200 x 300, `after`, SOS, EOI.
    fn jpeg(before: &[Vec<u8>], after: &[Vec<u8>]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        before.iter().for_each(|s| j.extend(s));
        j.extend(segment(0xC0, &[8, 0x01, 0x2C, 0x00, 0xC8, 1, 1, 0x11, 0]));
        after.iter().for_each(|s| j.extend(s));
        j.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        j.extend([0x12, 0x34, 0xFF, 0xD9]);
        j
    }

    fn jpeg_size_of(j: &[u8]) -> (u32, u32) {
        size(&mut MemSource(j), Format::Jpeg).unwrap()
    }

    #[test]
    fn jpeg_exif_orientation_turns_the_size() {
        for v in 0..=9 {
            let want = if (5..=8).contains(&v) {
                (300, 200)
            } else {
                (200, 300)
            };
            assert_eq!(jpeg_size_of(&jpeg(&[app1_exif(v)], &[])), want, "{v}");
            // An APP1 after SOF (before SOS) counts too.
            assert_eq!(jpeg_size_of(&jpeg(&[], &[app1_exif(v)])), want, "{v}");
        }
        // Only "Exif\0\0" APP1 segments, and the first that holds an Orientation.
        let xmp = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x/>");
        let other = segment(
            0xE1,
            &[b"Exif\0\0".as_slice(), b"II*\0\x08\0\0\0\0\0"].concat(),
        );
        assert_eq!(
            jpeg_size_of(&jpeg(&[xmp, other, app1_exif(6)], &[])),
            (300, 200)
        );
        assert_eq!(
            jpeg_size_of(&jpeg(&[app1_exif(1)], &[app1_exif(6)])),
            (200, 300)
        );
        let app2 = segment(0xE2, &[b"Exif\0\0".as_slice(), &exif_block(6)].concat());
        assert_eq!(jpeg_size_of(&jpeg(&[app2], &[])), (200, 300));
        let no_prefix = segment(0xE1, &[b"Exif\0X".as_slice(), &exif_block(6)].concat());
        assert_eq!(jpeg_size_of(&jpeg(&[no_prefix], &[])), (200, 300));
        // After SOS it is not looked at.
        let mut late = jpeg(&[], &[]);
        let eoi = late.len() - 2;
        late.splice(eoi..eoi, app1_exif(6));
        assert_eq!(jpeg_size_of(&late), (200, 300));
    }

    #[test]
    fn jpeg_walk_ends_as_libjpeg_ends() {
        let sof_end = |j: &[u8]| j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap() + 13;
        // Data that ends before SOS is an error, as libjpeg fails on it: also with SOF and an
        // Orientation both found before.
        let j = jpeg(&[app1_exif(6)], &[]);
        assert!(size(&mut MemSource(&j[..sof_end(&j)]), Format::Jpeg).is_err());
        let j = jpeg(&[], &[app1_exif(6)]);
        let sos = j.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        for cut in 0..sos {
            assert!(
                size(&mut MemSource(&j[..cut]), Format::Jpeg).is_err(),
                "{cut}"
            );
        }
        // SOS reached: the rest is not read.
        assert_eq!(jpeg_size_of(&j[..sos + 2]), (300, 200));
        let j = jpeg(&[], &[]);
        let sos = j.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        assert!(size(&mut MemSource(&j[..sos + 1]), Format::Jpeg).is_err());
        assert_eq!(jpeg_size_of(&j[..sos + 2]), (200, 300));
        // EOI, a second SOI or SOF, an unknown marker before SOS: libjpeg gives up.
        for bad in [
            vec![0xFF, 0xD9],
            vec![0xFF, 0xD8],
            vec![0xFF, 0xF0, 0, 2],
            vec![0xFF, 0xC8, 0, 2],
            vec![0xFF, 0xC4, 0, 0],
            segment(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]),
        ] {
            let j = jpeg(&[], &[bad.clone(), app1_exif(6)]);
            assert!(size(&mut MemSource(&j), Format::Jpeg).is_err(), "{bad:?}");
        }
        // A DRI of any length but 4 (one 2-byte interval), before SOF or after it.
        for body in [&[][..], &[0], &[0, 4, 0], &[0, 4, 0, 0]] {
            for j in [
                jpeg(&[segment(0xDD, body)], &[]),
                jpeg(&[], &[segment(0xDD, body)]),
            ] {
                assert!(size(&mut MemSource(&j), Format::Jpeg).is_err(), "{body:?}");
            }
        }
        let j = jpeg(&[segment(0xDD, &[0, 4])], &[segment(0xDD, &[0, 8])]);
        assert_eq!(jpeg_size_of(&j), (200, 300));
    }

    #[test]
    fn hierarchical_jpeg_is_refused_at_its_sof() {
        // SOF5-7 and SOF13-15 (the hierarchical processes): libjpeg refuses them; the other
        // SOF markers give the size.
        let sof = jpeg(&[], &[]);
        let at = sof.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap() + 1;
        for m in (0xC0..=0xCF).filter(|m| !matches!(m, 0xC4 | 0xC8 | 0xCC)) {
            let mut j = sof.clone();
            j[at] = m;
            let got = size(&mut MemSource(&j), Format::Jpeg);
            if matches!(m, 0xC5..=0xC7 | 0xCD..=0xCF) {
                assert!(
                    got.unwrap_err().to_string().contains("hierarchical"),
                    "{m:#x}"
                );
            } else {
                assert_eq!(got.unwrap(), (200, 300), "{m:#x}");
            }
        }
    }

    #[test]
    fn jpeg_markers_found_as_libjpeg_finds_them() {
        let at_sof_end = |extra: &[u8]| {
            let mut j = jpeg(&[], &[app1_exif(6)]);
            let end = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap() + 13;
            j.splice(end..end, extra.iter().copied());
            jpeg_size_of(&j)
        };
        for extra in [
            b"".as_slice(),
            b"\x00\x12\x34",             // stray bytes
            b"\xFF\x00",                 // a stuffed zero
            b"\xFF\xFF\xFF",             // fill bytes
            b"\xFF\x00\xFF\xFF\x00\x12", // all of them
            b"\xFF\xFE\x00\x00",         // COM of length 0: covers only its length
            b"\xFF\xFE\x00\x01",         // and of length 1
            b"\xFF\xE1\x00\x00",         // APP1 of length 0
            b"\xFF\xDC\x00\x00",         // DNL of length 0
            b"\xFF\x01",                 // TEM
            b"\xFF\xD3",                 // RST3
            b"\xFF\xC4\x00\x02",         // DHT of length 2
        ] {
            assert_eq!(at_sof_end(extra), (300, 200), "{extra:?}");
        }
        // Garbage before SOF is skipped too.
        let j = jpeg(&[vec![0x00, 0x12, 0xFF, 0x00]], &[]);
        assert_eq!(jpeg_size_of(&j), (200, 300));
        // A long run of garbage is scanned through, and its end is an error.
        let mut j = jpeg(&[], &[vec![0x55; 200_000], app1_exif(6)]);
        assert_eq!(jpeg_size_of(&j), (300, 200));
        let sos = j.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        j.truncate(sos - 30);
        assert!(size(&mut MemSource(&j), Format::Jpeg).is_err());
    }

    #[test]
    fn png_by_content_takes_the_first_exif_chunk_libpng_keeps() {
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend(kind);
            c.extend(data);
            c.extend(chunk_crc(kind, data).to_be_bytes());
            c
        };
        let png = |chunks: &[Vec<u8>]| {
            let mut p = crate::png::SIGNATURE.to_vec();
            let mut ihdr = 7u32.to_be_bytes().to_vec();
            ihdr.extend(5u32.to_be_bytes());
            ihdr.extend([8, 2, 0, 0, 0]);
            p.extend(chunk(b"IHDR", &ihdr));
            chunks.iter().for_each(|c| p.extend(c));
            p.extend(chunk(b"IEND", b""));
            p
        };
        let size_of = |p: &[u8]| size(&mut MemSource(p), Format::Png).unwrap();
        let idat = chunk(b"IDAT", b"x");
        assert_eq!(size_of(&png(std::slice::from_ref(&idat))), (7, 5));
        let e6 = chunk(b"eXIf", &exif_block(6));
        assert_eq!(size_of(&png(&[e6.clone(), idat.clone()])), (5, 7));
        assert_eq!(size_of(&png(&[idat.clone(), e6.clone()])), (5, 7));
        // A later eXIf is a duplicate libpng drops; a bad CRC or mark is dropped itself.
        let e1 = chunk(b"eXIf", &exif_block(1));
        assert_eq!(size_of(&png(&[e1, e6.clone()])), (7, 5));
        let mut bad_crc = chunk(b"eXIf", &exif_block(1));
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        assert_eq!(size_of(&png(&[bad_crc, e6.clone()])), (5, 7));
        let prefixed = chunk(b"eXIf", &[b"Exif\0\0".as_slice(), &exif_block(1)].concat());
        assert_eq!(size_of(&png(&[prefixed, e6.clone()])), (5, 7));
        // Nothing after IEND, nothing in a chunk that runs past the end.
        let mut after = png(&[idat]);
        after.extend(&e6);
        assert_eq!(size_of(&after), (7, 5));
        let whole = png(&[e6]);
        assert_eq!(size_of(&whole[..whole.len() - 20]), (7, 5));
    }

    #[test]
    fn webp_exif_chunk_as_the_demuxer_finds_it() {
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut c = kind.to_vec();
            c.extend((data.len() as u32).to_le_bytes());
            c.extend(data);
            if data.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let webp = |flags: u8, chunks: &[Vec<u8>]| {
            let mut vp8x = vec![flags, 0, 0, 0];
            vp8x.extend([9, 0, 0, 19, 0, 0]); // 10 x 20
            let mut body = b"WEBP".to_vec();
            body.extend(chunk(b"VP8X", &vp8x));
            chunks.iter().for_each(|c| body.extend(c));
            let mut w = b"RIFF".to_vec();
            w.extend((body.len() as u32).to_le_bytes());
            w.extend(body);
            w
        };
        let size_of = |w: &[u8]| size(&mut MemSource(w), Format::WebP).unwrap();
        // A VP8L header of the canvas's 10 x 20.
        let bits: u32 = 9 | 19 << 14;
        let image = chunk(b"VP8L", &[&[0x2f][..], &bits.to_le_bytes()].concat());
        let e6 = chunk(b"EXIF", &exif_block(6));
        assert_eq!(size_of(&webp(0x08, &[image.clone(), e6.clone()])), (20, 10));
        assert_eq!(size_of(&webp(0x08, &[e6.clone(), image.clone()])), (20, 10));
        // Without the flag, or with two images: no Exif.
        assert_eq!(size_of(&webp(0, &[image.clone(), e6.clone()])), (10, 20));
        let two = webp(0x08, &[image.clone(), image.clone(), e6.clone()]);
        assert_eq!(size_of(&two), (10, 20));
        // Cut short (libwebp cannot decode it): no size.
        let mut cut = webp(0x08, &[image.clone(), e6.clone()]);
        cut.truncate(cut.len() - 2);
        assert!(size(&mut MemSource(&cut), Format::WebP).is_err());
        // Only the first EXIF chunk is looked at.
        let e1 = chunk(b"EXIF", &exif_block(1));
        assert_eq!(
            size_of(&webp(0x08, &[image.clone(), e1, e6.clone()])),
            (10, 20)
        );
        // What libwebp's demuxer refuses, or not a still image: not turned.
        // A shown VP8 key frame of 10 x 20.
        let vp8 = chunk(b"VP8 ", &[0x10, 0, 0, 0x9d, 0x01, 0x2a, 10, 0, 20, 0]);
        let alph = chunk(b"ALPH", b"\0");
        let anim = chunk(b"ANIM", &[0; 6]);
        let anmf = chunk(b"ANMF", &[0; 16]);
        let vp8x = chunk(b"VP8X", &[0; 10]);
        for (flags, chunks) in [
            (0x09, vec![image.clone(), e6.clone()]),
            (0x88, vec![image.clone(), e6.clone()]),
            (0x0A, vec![image.clone(), e6.clone()]),
            (0x0A, vec![anim.clone(), e6.clone()]),
            (0x0A, vec![anmf.clone(), anim.clone(), e6.clone()]),
            (0x08, vec![anim.clone(), image.clone(), e6.clone()]),
            (0x18, vec![alph.clone(), image.clone(), e6.clone()]),
            (0x18, vec![alph.clone(), e6.clone(), vp8.clone()]),
            (0x08, vec![anmf.clone(), image.clone(), e6.clone()]),
            (0x08, vec![vp8x, image.clone(), e6.clone()]),
        ] {
            assert_eq!(
                size_of(&webp(flags, &chunks)),
                (10, 20),
                "{flags} {chunks:?}"
            );
        }
        // A still file with no image: libwebp cannot decode it.
        for chunks in [vec![alph.clone(), e6.clone()], vec![e6.clone()]] {
            let w = webp(0x18, &chunks);
            assert!(
                size(&mut MemSource(&w), Format::WebP).is_err(),
                "{chunks:?}"
            );
        }
        // ALPH right before VP8, and an ANIM after the image, are taken.
        assert_eq!(size_of(&webp(0x18, &[alph, vp8, e6.clone()])), (20, 10));
        assert_eq!(
            size_of(&webp(0x08, &[image, anim.clone(), e6.clone()])),
            (20, 10)
        );
        // An animation: its frames in ANMF chunks after ANIM.
        assert_eq!(size_of(&webp(0x0A, &[anim, anmf, e6])), (20, 10));
    }

    #[test]
    fn tiff_orientation_as_libtiff_takes_it() {
        // (tag, type, count, value bytes) entries after ImageWidth 40, ImageLength 20.
        let tiff = |extra: &[(u16, u16, u32, [u8; 4])]| {
            let mut entries = vec![
                (256u16, 3u16, 1u32, [40, 0, 0, 0]),
                (257, 3, 1, [20, 0, 0, 0]),
            ];
            entries.extend_from_slice(extra);
            let mut t = b"II*\0".to_vec();
            t.extend(8u32.to_le_bytes());
            t.extend((entries.len() as u16).to_le_bytes());
            for (tag, kind, count, value) in entries {
                t.extend(tag.to_le_bytes());
                t.extend(kind.to_le_bytes());
                t.extend(count.to_le_bytes());
                t.extend(value);
            }
            t.extend(0u32.to_le_bytes());
            t
        };
        let size_of = |t: &[u8]| size(&mut MemSource(t), Format::Tiff).unwrap();
        for v in 0..=9u8 {
            let want = if (5..=8).contains(&v) {
                (20, 40)
            } else {
                (40, 20)
            };
            for kind in [1, 3, 4, 6, 8, 9] {
                assert_eq!(size_of(&tiff(&[(274, kind, 1, [v, 0, 0, 0])])), want);
            }
            // LONG8 and SLONG8 hold the value at an offset: here, 8 bytes appended.
            for kind in [16, 17] {
                let mut t = tiff(&[(274, kind, 1, [0, 0, 0, 0])]);
                let at = t.len() as u32;
                let entry = 8 + 2 + 2 * 12 + 8;
                t[entry..entry + 4].copy_from_slice(&at.to_le_bytes());
                t.extend(u64::from(v).to_le_bytes());
                assert_eq!(size_of(&t), want, "{kind} {v}");
                let big = t.len() - 8;
                t[big..].copy_from_slice(&(u64::from(v) | 1 << 40).to_le_bytes());
                assert_eq!(size_of(&t), (40, 20), "{kind} {v}");
                t.truncate(t.len() - 1);
                t[big..].copy_from_slice(&u64::from(v).to_le_bytes()[..7]);
                assert_eq!(size_of(&t), (40, 20), "{kind} {v}");
            }
        }
        // Types it refuses, a count other than 1, a negative or too large value: ignored.
        for (kind, count, value) in [
            (2u16, 1u32, [6u8, 0, 0, 0]),
            (5, 1, [6, 0, 0, 0]),
            (3, 2, [6, 0, 6, 0]),
            (8, 1, [0xFA, 0xFF, 0, 0]),
            (4, 1, [6, 0, 1, 0]),
        ] {
            assert_eq!(size_of(&tiff(&[(274, kind, count, value)])), (40, 20));
        }
        // The first Orientation entry decides, even one that is ignored.
        let first = |a: [u8; 4], b: [u8; 4]| size_of(&tiff(&[(274, 3, 1, a), (274, 3, 1, b)]));
        assert_eq!(first([6, 0, 0, 0], [1, 0, 0, 0]), (20, 40));
        assert_eq!(first([9, 0, 0, 0], [6, 0, 0, 0]), (40, 20));
    }
}
