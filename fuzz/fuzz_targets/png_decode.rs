//! The PNG pixel decoder: `decode::fast_path_size`, then `decode::decode_bgr` into a buffer of
//! the size it reports.
//!
//! Properties: no panic; the size stays under `decode::MAX_FAST_BYTES` (the caller allocates it
//! before reading any pixel); a wrong size is refused; and a decoded image holds the pixels the
//! png crate's own RGB(A) output gives, red and blue swapped and alpha dropped.
#![no_main]

use _core::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = faceio_fuzz::with_fixed_crcs(data) {
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let Some((w, h, channels)) = decode::fast_path_size(data) else {
        return;
    };
    assert!(channels == 3 || channels == 4);
    let len = w as usize * h as usize * 3;
    assert!(len as u64 <= decode::MAX_FAST_BYTES);
    let mut out = vec![0u8; len];
    if w > 1 {
        let short = (w - 1) as usize * h as usize * 3;
        assert!(decode::decode_bgr(data, w - 1, h, &mut out[..short]).is_none());
    }
    assert!(decode::decode_bgr(data, w, h, &mut out[..len - 1]).is_none());
    if decode::decode_bgr(data, w, h, &mut out).is_none() {
        return;
    }
    let want = reference(data).expect("the reference decodes what decode_bgr decoded");
    assert_eq!(want.len(), w as usize * h as usize * channels);
    for (bgr, src) in out.chunks_exact(3).zip(want.chunks_exact(channels)) {
        assert_eq!(bgr, [src[2], src[1], src[0]]);
    }
}

/// The image as the png crate decodes it by default, in RGB or RGBA rows.
fn reference(data: &[u8]) -> Option<Vec<u8>> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
    decoder.ignore_checksums(false);
    let mut reader = decoder.read_info().ok()?;
    let mut buf = vec![0u8; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut buf).ok()?;
    buf.truncate(frame.buffer_size());
    Some(buf)
}
