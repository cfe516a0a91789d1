//! The PNG chunk walker and header reader: `png::read_meta` over bytes, `png::verify`,
//! `png::put_meta_chunk`, and the payload parse behind `png_read_meta`, with small limits; and
//! the header reader of a file not named `.png` (`meta::read_text` by content: the JPEG, PNG,
//! WebP, TIFF and BMP sizes, with their Exif walks), and `exif::orientation` over the bytes.
//!
//! Properties: no panic; a header put into a PNG the walker reads is found again, with the same
//! size; a PNG that verifies still verifies after the header is put in; the size of a JPEG
//! read by content does not change when bytes are appended (the walk that gave it ended
//! on what it found, never on the end of the data).
#![no_main]

use _core::imagesize::{sniff, Format};
use _core::limits::Limits;
use _core::source::MemSource;
use _core::{exif, meta, png};
use libfuzzer_sys::fuzz_target;

/// Small limits, so that a decompression bomb costs little and the limit checks are reached.
const LIMITS: Limits = Limits {
    max_chunk: 1 << 20,
    max_text: 1 << 20,
    max_depth: 64,
};

const PAYLOAD: &[u8] = b"{'alignments': {'x': 1}, 'source': None}";

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = faceio_fuzz::with_fixed_crcs(data) {
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let by_content = |d: &[u8]| {
        meta::read_text(&mut MemSource(d), false, &LIMITS)
            .ok()
            .map(|(w, h, _)| (w, h))
    };
    if let (Some(Format::Jpeg), Some(size)) = (sniff(data), by_content(data)) {
        for tail in [&[0u8; 64][..], data] {
            let longer = [data, tail].concat();
            assert_eq!(
                by_content(&longer),
                Some(size),
                "bytes appended change the size"
            );
        }
    }
    let _ = exif::orientation(data);
    let read = png::read_meta(&mut MemSource(data), &LIMITS);
    let _ = meta::parse_face_payload(data, &LIMITS);
    let verified = png::verify(data).is_ok();
    let chunk = png::pack_itxt(PAYLOAD).expect("a small payload always packs");
    let Ok(out) = png::put_meta_chunk(data, &chunk) else {
        return;
    };
    if verified {
        if let Err(e) = png::verify(&out) {
            panic!("verified PNG no longer verifies with a header put in: {e}");
        }
    }
    if let Ok(before) = read {
        let after = png::read_meta(&mut MemSource(&out), &LIMITS)
            .unwrap_or_else(|e| panic!("header put into a readable PNG does not read: {e}"));
        assert_eq!((after.width, after.height), (before.width, before.height));
        let text = after.text.expect("the header put in is found");
        assert_eq!(&text.chunk_type, b"iTXt");
        assert_eq!(text.text, PAYLOAD);
    }
}
