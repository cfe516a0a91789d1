//! The TIFF rewriter: `tiff::write_description`, then `tiff::parse_ifd` and
//! `tiff::read_description` on what it wrote; `tiff::size` on both.
//!
//! Properties: no panic; a successful write parses back with one entry more, every old entry's
//! tag, type and count in order, the same size, and the payload as its description (trailing
//! NULs are dropped on reading); a value stored outside the IFD, away from it, keeps its bytes.
#![no_main]

use _core::tiff;
use libfuzzer_sys::fuzz_target;

/// An empty payload, one that fits in the entry itself (with a NUL to be dropped), and one
/// stored after the file's end, as a header is.
const PAYLOADS: [&[u8]; 3] = [b"", b"ab\0", br#"{"alignments": {"x": 1}, "source": null}"#];

fuzz_target!(|data: &[u8]| {
    let size = tiff::size(data);
    let description = tiff::read_description(data);
    for payload in PAYLOADS {
        let Ok(out) = tiff::write_description(data, payload) else {
            continue;
        };
        assert!(
            description.is_err(),
            "a description was written into a TIFF that had one"
        );
        let old = tiff::parse_ifd(data).expect("the writer parsed it");
        let new = tiff::parse_ifd(&out)
            .unwrap_or_else(|e| panic!("the rewritten TIFF does not parse: {e}"));
        let kept: Vec<_> = new.entries.iter().filter(|e| e.tag != 270).collect();
        assert_eq!(new.entries.len(), old.entries.len() + 1);
        assert_eq!(kept.len(), old.entries.len());
        for (a, b) in old.entries.iter().zip(&kept) {
            assert_eq!((a.tag, a.kind, a.count), (b.tag, b.kind, b.count));
            if let (Some(before), Some(after)) = (
                away_from_ifd(data, &old, a),
                outside_value(&out, b.value, b.kind, b.count),
            ) {
                assert_eq!(before, after, "tag {} changed its value", a.tag);
            }
        }
        let back = tiff::read_description(&out)
            .unwrap_or_else(|e| panic!("the description written does not read back: {e}"));
        let mut want = payload;
        while let Some((0, rest)) = want.split_last() {
            want = rest;
        }
        assert_eq!(back, want);
        if let Ok(s) = size {
            assert_eq!(tiff::size(&out).ok(), Some(s));
        }
    }
});

/// Tags whose values the writer itself rewrites (offsets held in strip and tile arrays).
const OFFSET_ARRAYS: [u16; 4] = [273, 288, 324, 513];

/// Bytes per value of a TIFF type (TIFF 6.0 and BigTIFF's IFD8), as the rewriter knows them.
fn type_size(kind: u16) -> Option<usize> {
    match kind {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 => Some(8),
        _ => None,
    }
}

/// The bytes of a value stored out of line (over 4 bytes), if it is one.
fn outside_value(tiff: &[u8], value: [u8; 4], kind: u16, count: u32) -> Option<&[u8]> {
    let len = type_size(kind)?.checked_mul(count as usize)?;
    if len <= 4 {
        return None;
    }
    let at = u32::from_le_bytes(value) as usize;
    tiff.get(at..at.checked_add(len)?)
}

/// An old entry's out-of-line value, if it lies wholly before or after the IFD (a value that
/// overlaps the IFD the writer changes has no bytes to keep) and is not an offset array.
fn away_from_ifd<'a>(tiff: &'a [u8], ifd: &tiff::Ifd, e: &tiff::Entry) -> Option<&'a [u8]> {
    if OFFSET_ARRAYS.contains(&e.tag) {
        return None;
    }
    let bytes = outside_value(tiff, e.value, e.kind, e.count)?;
    let at = u32::from_le_bytes(e.value) as usize;
    (at + bytes.len() <= ifd.offset || at >= ifd.end).then_some(bytes)
}
