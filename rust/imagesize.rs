//! Image width and height from file headers, without decoding: PNG, JPEG, BMP, TIFF, WebP.

use crate::error::{Error, ErrorKind, Result};
use crate::source::Source;

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

/// Width and height of a non-PNG image (PNG sizes come with the metadata walk).
pub fn size<S: Source>(src: &mut S, format: Format) -> Result<(u32, u32)> {
    match format {
        Format::Png => {
            let ihdr = need(src, 16, 8, "PNG IHDR")?;
            Ok((
                u32::from_be_bytes([ihdr[0], ihdr[1], ihdr[2], ihdr[3]]),
                u32::from_be_bytes([ihdr[4], ihdr[5], ihdr[6], ihdr[7]]),
            ))
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

fn jpeg_size<S: Source>(src: &mut S) -> Result<(u32, u32)> {
    let mut pos = 2u64;
    loop {
        let b = need(src, pos, 2, "JPEG marker")?;
        if b[0] != 0xFF {
            return Err(bad(pos, format!("expected a JPEG marker at byte {pos}")));
        }
        let m = b[1];
        if m == 0xFF {
            pos += 1; // fill byte
            continue;
        }
        match m {
            0xD8 | 0x01 | 0xD0..=0xD7 => pos += 2,
            0xD9 | 0xDA => {
                return Err(bad(pos, format!("no SOF marker before byte {pos} in JPEG")));
            }
            0xC0..=0xCF if !matches!(m, 0xC4 | 0xC8 | 0xCC) => {
                let f = need(src, pos + 4, 5, "JPEG SOF segment")?;
                let h = u32::from(u16::from_be_bytes([f[1], f[2]]));
                let w = u32::from(u16::from_be_bytes([f[3], f[4]]));
                return Ok((w, h));
            }
            _ => {
                let l = need(src, pos + 2, 2, "JPEG segment length")?;
                pos += 2 + u64::from(u16::from_be_bytes([l[0], l[1]]));
            }
        }
    }
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
    for e in entries.chunks_exact(12) {
        let tag = u16_at(e, 0);
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
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(bad(ifd, "TIFF IFD lacks ImageWidth/ImageLength".into())),
    }
}

fn webp_size<S: Source>(src: &mut S) -> Result<(u32, u32)> {
    let h = need(src, 0, 30, "WebP header")?;
    let u24 = |i: usize| u32::from(h[i]) | u32::from(h[i + 1]) << 8 | u32::from(h[i + 2]) << 16;
    match &h[12..16] {
        b"VP8 " if h[23..26] == [0x9d, 0x01, 0x2a] => Ok((
            u32::from(u16::from_le_bytes([h[26], h[27]]) & 0x3fff),
            u32::from(u16::from_le_bytes([h[28], h[29]]) & 0x3fff),
        )),
        b"VP8L" if h[20] == 0x2f => {
            let bits = u32::from_le_bytes([h[21], h[22], h[23], h[24]]);
            Ok(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => Ok((u24(24) + 1, u24(27) + 1)),
        _ => Err(bad(12, "unrecognised WebP chunk layout".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    #[test]
    fn jpeg_walks_to_sof() {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB];
        j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8, 0x01, 0x2C, 0x00, 0xC8, 3]);
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
        let mut w = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        w.resize(24, 0);
        w.extend_from_slice(&[9, 0, 0, 19, 0, 0]);
        assert_eq!(sniff(&w), Some(Format::WebP));
        assert_eq!(size(&mut MemSource(&w), Format::WebP).unwrap(), (10, 20));
    }
}
