//! Tests of the PNG chunk walk, the faceswap chunk and verification.

use super::*;
use crate::source::MemSource;

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    build_chunk(kind, data).unwrap()
}

fn ihdr(w: u32, h: u32) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&w.to_be_bytes());
    d.extend_from_slice(&h.to_be_bytes());
    d.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &d)
}

fn png_with(extra: &[Vec<u8>]) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.extend(ihdr(3, 2));
    for c in extra {
        out.extend_from_slice(c);
    }
    out.extend(chunk(b"IDAT", b"not really zlib but never read iTXt"));
    out.extend(chunk(b"IEND", b""));
    out
}

fn read(png: &[u8]) -> Result<PngMeta> {
    read_meta(&mut MemSource(png), &Limits::default())
}

#[test]
fn crc_matches_known_iend() {
    // The IEND chunk's CRC is fixed by the PNG specification.
    assert_eq!(chunk_crc(b"IEND", b""), 0xAE42_6082);
}

#[test]
fn pack_layout() {
    let c = pack_itxt(b"{'a': 1}").unwrap();
    assert_eq!(&c[..4], &(8 + 5 + 8u32).to_be_bytes());
    assert_eq!(&c[4..8], b"iTXt");
    assert_eq!(&c[8..21], b"faceswap\0\0\0\0\0");
    assert_eq!(&c[21..29], b"{'a': 1}");
    assert_eq!(&c[29..], &chunk_crc(b"iTXt", &c[8..29]).to_be_bytes());
}

#[test]
fn finds_itxt_and_size() {
    let png = png_with(&[pack_itxt(b"{'x': 1}").unwrap()]);
    let m = read(&png).unwrap();
    assert_eq!((m.width, m.height), (3, 2));
    let t = m.text.unwrap();
    assert_eq!(t.text, b"{'x': 1}");
    assert_eq!(t.chunk_offset, 33);
}

#[test]
fn no_header_walks_to_iend() {
    let m = read(&png_with(&[])).unwrap();
    assert!(m.text.is_none());
}

#[test]
fn other_keywords_skipped() {
    let other = chunk(b"iTXt", b"Comment\0\0\0\0\0faceswap is not this");
    let png = png_with(&[other, pack_itxt(b"1").unwrap()]);
    assert_eq!(read(&png).unwrap().text.unwrap().text, b"1");
}

#[test]
fn itxt_bytes_inside_other_chunks_ignored() {
    let fake = chunk(b"tEXt", b"Comment\0\0\0\0\x0biTXtfaceswap\0\0\0\0\0{}");
    let m = read(&png_with(&[fake])).unwrap();
    assert!(m.text.is_none());
}

#[test]
fn text_and_ztxt_and_compressed_itxt() {
    let t = chunk(b"tEXt", b"faceswap\0{'a': '\xe9'}");
    assert_eq!(
        read(&png_with(&[t])).unwrap().text.unwrap().text,
        "{'a': 'é'}".as_bytes()
    );
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, b"{'z': 2}").unwrap();
    let z = enc.finish().unwrap();
    let mut zd = b"faceswap\0\0".to_vec();
    zd.extend_from_slice(&z);
    assert_eq!(
        read(&png_with(&[chunk(b"zTXt", &zd)]))
            .unwrap()
            .text
            .unwrap()
            .text,
        b"{'z': 2}"
    );
    let mut id = b"faceswap\0\x01\x00en\0Face\0".to_vec();
    id.extend_from_slice(&z);
    assert_eq!(
        read(&png_with(&[chunk(b"iTXt", &id)]))
            .unwrap()
            .text
            .unwrap()
            .text,
        b"{'z': 2}"
    );
}

#[test]
fn decompression_bomb_limited() {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut enc, &vec![b' '; 2_000_000]).unwrap();
    let mut zd = b"faceswap\0\0".to_vec();
    zd.extend_from_slice(&enc.finish().unwrap());
    let png = png_with(&[chunk(b"zTXt", &zd)]);
    let limits = Limits {
        max_text: 1_000_000,
        ..Limits::default()
    };
    let err = read_meta(&mut MemSource(&png), &limits).unwrap_err();
    assert!(err.message.contains("limit"), "{}", err.message);
}

#[test]
fn bad_crc_reported() {
    let mut png = png_with(&[pack_itxt(b"{}").unwrap()]);
    let crc_at = 33 + 12 + 8 + 5 + 2 - 4;
    png[crc_at] ^= 1;
    let err = read(&png).unwrap_err();
    assert!(
        err.message.contains("CRC mismatch in iTXt"),
        "{}",
        err.message
    );
}

#[test]
fn huge_length_rejected_before_allocation() {
    let mut png = png_with(&[]);
    png.truncate(33);
    png.extend_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
    png.extend_from_slice(b"iTXt");
    let err = read(&png).unwrap_err();
    assert!(err.message.contains("2^31-1"), "{}", err.message);
    let mut png = png_with(&[]);
    png.truncate(33);
    png.extend_from_slice(&100_000_000u32.to_be_bytes());
    png.extend_from_slice(b"iTXtfaceswap\0\0\0\0\0");
    let err = read(&png).unwrap_err();
    assert!(err.message.contains("limit"), "{}", err.message);
}

#[test]
fn truncation_everywhere_is_an_error_or_a_full_read() {
    let png = png_with(&[pack_itxt(b"{'k': [1, 2]}").unwrap()]);
    let full = read(&png).unwrap();
    let header_end = 33 + 12 + 13 + 13;
    for cut in 0..png.len() {
        match read(&png[..cut]) {
            Ok(m) => {
                assert!(cut >= header_end, "cut {cut} read as {m:?}");
                assert_eq!(m, full);
            }
            Err(e) => assert_eq!(e.kind, crate::error::ErrorKind::Png),
        }
    }
}

#[test]
fn missing_iend() {
    let mut png = png_with(&[]);
    png.truncate(png.len() - 12);
    let err = read(&png).unwrap_err();
    assert!(err.message.contains("without an IEND"), "{}", err.message);
}

#[test]
fn itxt_without_nul() {
    let png = png_with(&[chunk(b"iTXt", b"faceswap")]);
    let err = read(&png).unwrap_err();
    assert!(err.message.contains("no NUL"), "{}", err.message);
}

#[test]
fn put_inserts_before_idat_then_replaces() {
    let base = png_with(&[]);
    let c1 = pack_itxt(b"{'v': 1}").unwrap();
    let one = put_meta_chunk(&base, &c1).unwrap();
    let idat = base.len() - 12 - (12 + 35);
    assert_eq!(&one[..idat], &base[..idat]);
    assert_eq!(&one[idat..idat + c1.len()], &c1[..]);
    assert_eq!(&one[idat + c1.len()..], &base[idat..]);
    let c2 = pack_itxt(b"{'v': 22}").unwrap();
    let two = put_meta_chunk(&one, &c2).unwrap();
    assert_eq!(two, put_meta_chunk(&base, &c2).unwrap());
    assert_eq!(read(&two).unwrap().text.unwrap().text, b"{'v': 22}");
}

#[test]
fn verify_catches_idat_crc() {
    let mut png = png_with(&[]);
    assert!(verify(&png).is_ok());
    let n = png.len();
    png[n - 14] ^= 0xFF;
    let err = verify(&png).unwrap_err();
    assert!(
        err.message.contains("CRC mismatch in IDAT"),
        "{}",
        err.message
    );
}

#[test]
fn second_ihdr_refused() {
    // The size read depended on where the header chunk was, before or after a second IHDR
    // (found by the png_meta fuzz target); libpng refuses such a file too.
    let png = png_with(&[ihdr(16400, 16), pack_itxt(b"1").unwrap()]);
    let errors = [
        read(&png).err(),
        verify(&png).err(),
        put_meta_chunk(&png, b"").err(),
    ];
    for e in errors {
        let msg = e.expect("a second IHDR is an error").message;
        assert!(msg.contains("second IHDR chunk at byte 33"), "{msg}");
    }
}
