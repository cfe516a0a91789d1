//! PNG pixels for `read_image_batch`: 8-bit RGB and RGBA files (what OpenCV writes for BGR and
//! BGRA images, so every extracted face) decoded straight to BGR with the `png` crate.
//!
//! The crate decodes these files about twice as fast as the libpng inside OpenCV, and PNG is
//! lossless, so the pixels are the ones `cv2.imdecode` gives (alpha dropped: docs/format.md,
//! "Pixels"). Anything else (16-bit, grey, palette, another format) reports `None` and the caller
//! uses OpenCV.

use std::io::Cursor;

use png::{BitDepth, ColorType, Decoder, Transformations};

/// A decoder over in-memory PNG bytes.
type Reader<'a> = png::Reader<Cursor<&'a [u8]>>;

/// The largest image the fast path decodes, in bytes of BGR output (a 4K frame is 25 MB).
/// Callers allocate the output from the header's size before any pixel data is read, so a
/// small file that claims a huge size must not get that far: it goes to OpenCV, which has
/// limits of its own.
pub const MAX_FAST_BYTES: u64 = 64 << 20;

/// A decoder past the PNG's header, if the file is one the fast path handles, with its width,
/// height and channel count. Text chunks are skipped: the faceswap header (tens of KB) is read
/// elsewhere, and parsing it here too cost a tenth of the decode.
fn open(data: &[u8]) -> Option<(Reader<'_>, u32, u32, usize)> {
    if !data.starts_with(&crate::png::SIGNATURE) {
        return None;
    }
    let mut decoder = Decoder::new(Cursor::new(data));
    decoder.set_transformations(Transformations::IDENTITY);
    decoder.set_ignore_text_chunk(true);
    // The crate skips the zlib checksum by default; libpng (in OpenCV) refuses a file whose
    // checksum or end is wrong, and so must we (`decode_bgr` also reads on to IEND).
    decoder.ignore_checksums(false);
    let reader = decoder.read_info().ok()?;
    let info = reader.info();
    if info.bit_depth != BitDepth::Eight {
        return None;
    }
    let channels = match info.color_type {
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        _ => return None,
    };
    let (width, height) = (info.width, info.height);
    if u64::from(width) * u64::from(height) * 3 > MAX_FAST_BYTES {
        return None;
    }
    Some((reader, width, height, channels))
}

/// Width, height and channel count of a PNG the fast path handles.
pub fn fast_path_size(data: &[u8]) -> Option<(u32, u32, usize)> {
    open(data).map(|(_, w, h, c)| (w, h, c))
}

/// Decode an 8-bit RGB or RGBA PNG of `width` x `height` into `out` as BGR rows
/// (`out.len() == width * height * 3`). `None` if the file is not of that kind or does not decode.
pub fn decode_bgr(data: &[u8], width: u32, height: u32, out: &mut [u8]) -> Option<()> {
    let (mut reader, w, h, channels) = open(data)?;
    if (w, h) != (width, height) || out.len() != w as usize * h as usize * 3 {
        return None;
    }
    if channels == 3 {
        // Decode in place, then swap red and blue.
        if reader.output_buffer_size()? != out.len() {
            return None;
        }
        reader.next_frame(out).ok()?;
        reader.finish().ok()?;
        for px in out.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
    } else {
        let mut rgba = vec![0u8; reader.output_buffer_size()?];
        reader.next_frame(&mut rgba).ok()?;
        reader.finish().ok()?;
        for (dst, src) in out.chunks_exact_mut(3).zip(rgba.chunks_exact(4)) {
            dst[0] = src[2];
            dst[1] = src[1];
            dst[2] = src[0];
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(width: u32, height: u32, color: ColorType, pixels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(pixels).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn rgb_and_rgba_become_bgr() {
        let rgb: Vec<u8> = (0..3 * 5 * 3).map(|i| i as u8).collect();
        let data = encode(3, 5, ColorType::Rgb, &rgb);
        assert_eq!(fast_path_size(&data), Some((3, 5, 3)));
        let mut out = vec![0u8; rgb.len()];
        decode_bgr(&data, 3, 5, &mut out).unwrap();
        for (o, i) in out.chunks(3).zip(rgb.chunks(3)) {
            assert_eq!(o, [i[2], i[1], i[0]]);
        }
        let rgba: Vec<u8> = (0..4 * 2 * 2).map(|i| (i * 7) as u8).collect();
        let data = encode(2, 2, ColorType::Rgba, &rgba);
        let mut out = vec![0u8; 12];
        decode_bgr(&data, 2, 2, &mut out).unwrap();
        assert_eq!(&out[..3], &[rgba[2], rgba[1], rgba[0]]);
    }

    #[test]
    fn other_kinds_and_damage_are_declined() {
        let gray = encode(2, 2, ColorType::Grayscale, &[1, 2, 3, 4]);
        assert_eq!(fast_path_size(&gray), None);
        let rgb = encode(2, 2, ColorType::Rgb, &[9; 12]);
        let mut out = vec![0u8; 12];
        assert!(decode_bgr(&rgb, 3, 2, &mut out).is_none());
        for cut in [10, 40, rgb.len() - 13] {
            assert!(decode_bgr(&rgb[..cut], 2, 2, &mut out).is_none());
        }
        assert!(decode_bgr(b"not a png", 2, 2, &mut out).is_none());
    }

    #[test]
    fn damage_after_the_pixels_is_declined() {
        // What libpng refuses: a cut end, a wrong zlib checksum (IDAT CRC made to match), junk
        // instead of IEND.
        let rgb: Vec<u8> = (0..3 * 30 * 20).map(|i| (i * 31 % 251) as u8).collect();
        let good = encode(30, 20, ColorType::Rgb, &rgb);
        let mut out = vec![0u8; rgb.len()];
        assert!(decode_bgr(&good, 30, 20, &mut out).is_some());
        for cut in 1..=12 {
            let data = &good[..good.len() - cut];
            assert!(decode_bgr(data, 30, 20, &mut out).is_none(), "cut {cut}");
        }
        let idat_end = good.len() - 12 - 4; // the IDAT CRC's offset
        let mut adler = good.clone();
        adler[idat_end - 1] ^= 0x01;
        let idat_len = u32::from_be_bytes([adler[33], adler[34], adler[35], adler[36]]) as usize;
        assert_eq!(33 + 8 + idat_len, idat_end, "one IDAT right after IHDR");
        let crc = crc32fast::hash(&adler[37..idat_end]);
        adler[idat_end..idat_end + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(decode_bgr(&adler, 30, 20, &mut out).is_none());
        let mut junk = good[..good.len() - 12].to_vec();
        junk.extend_from_slice(b"\0\0\0\0junk\0\0\0\0");
        assert!(decode_bgr(&junk, 30, 20, &mut out).is_none());
    }

    #[test]
    fn huge_claimed_sizes_are_declined() {
        // Only the header is read for the size: a few bytes may claim any size.
        let small = encode(1, 1, ColorType::Rgb, &[1, 2, 3]);
        assert_eq!(fast_path_size(&small), Some((1, 1, 3)));
        for (width, height) in [(60_000u32, 60_000u32), (4_800, 4_800), (1 << 24, 2)] {
            let mut data = small.clone();
            data[16..20].copy_from_slice(&width.to_be_bytes());
            data[20..24].copy_from_slice(&height.to_be_bytes());
            let crc = crc32fast::hash(&data[12..29]);
            data[29..33].copy_from_slice(&crc.to_be_bytes());
            assert_eq!(fast_path_size(&data), None, "{width}x{height}");
        }
        let at_limit = (MAX_FAST_BYTES / 3) as f64;
        assert!(
            at_limit.sqrt() > 4_000.0,
            "a 4000x4000 image must still fit"
        );
    }
}
