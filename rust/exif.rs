//! The EXIF Orientation that `cv2.imread` turns an image by, read from an Exif block the way
//! OpenCV's own Exif reader reads it (docs/format.md, "Image sizes and EXIF orientation").
//!
//! OpenCV does not validate the block as the EXIF standard would: it reads IFD0 only, takes
//! the value of the first Orientation entry whatever its type and count say, and stops at the
//! first read that would fall outside the block. Entries it stores before that stop are kept.
//! This module follows it read for read, so that a block OpenCV half-reads gives the answer
//! OpenCV gives; any block, however malformed, gives an answer and never an error.

/// Orientation (0x0112).
const ORIENTATION: u16 = 274;
/// Text tags: ImageDescription, Make, Model, Software, DateTime, Copyright.
const TEXT_TAGS: [u16; 6] = [270, 271, 272, 305, 306, 33432];
/// Tags with one short value in the entry: ResolutionUnit, YCbCrPositioning.
const SHORT_TAGS: [u16; 2] = [296, 531];

/// The number of rationals (8 bytes each) OpenCV reads at the offset a tag holds:
/// XResolution, YResolution, WhitePoint, PrimaryChromaticities, YCbCrCoefficients,
/// ReferenceBlackWhite.
fn rationals(tag: u16) -> Option<u64> {
    match tag {
        282 | 283 => Some(1),
        318 => Some(2),
        529 => Some(3),
        319 | 532 => Some(6),
        _ => None,
    }
}

/// Whether an image whose Exif Orientation is `value` comes out of `cv2.imread` with width and
/// height swapped: 5-8 are the transposing ones; anything else (0, 9, ...) leaves it as stored.
pub fn swaps(value: Option<u16>) -> bool {
    matches!(value, Some(5..=8))
}

/// The block's bytes and its byte order. Every read is checked against the block's length:
/// one that does not fit gives `None`, which ends the walk (where OpenCV's reader throws).
struct Block<'a> {
    data: &'a [u8],
    little: bool,
}

impl Block<'_> {
    fn bytes<const N: usize>(&self, at: u64) -> Option<[u8; N]> {
        let start = usize::try_from(at).ok()?;
        let end = start.checked_add(N)?;
        self.data.get(start..end)?.try_into().ok()
    }

    fn u16(&self, at: u64) -> Option<u16> {
        let b = self.bytes::<2>(at)?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: u64) -> Option<u32> {
        let b = self.bytes::<4>(at)?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Check the reads OpenCV makes for one IFD0 entry at `at` whose tag is not Orientation;
    /// `None` where one falls outside the block.
    fn entry_fits(&self, tag: u16, at: u64) -> Option<()> {
        if TEXT_TAGS.contains(&tag) {
            // Up to 4 characters OpenCV looks for at byte 8 of the block (not of the entry),
            // more at the offset the entry holds.
            let count = u64::from(self.u32(at + 4)?);
            let start = if count > 4 {
                u64::from(self.u32(at + 8)?)
            } else {
                8
            };
            return (start + count <= self.len()).then_some(());
        }
        if SHORT_TAGS.contains(&tag) {
            return self.u16(at + 8).map(|_| ());
        }
        if let Some(n) = rationals(tag) {
            let start = u64::from(self.u32(at + 8)?);
            return (start + 8 * n <= self.len()).then_some(());
        }
        Some(())
    }
}

/// The Orientation OpenCV's reader stores from one Exif block (the TIFF header onwards, without
/// JPEG's `Exif\0\0`), or `None` when it stores none: no Orientation entry in IFD0, or the walk
/// ended before one. The value is the entry's first two bytes, whatever its type or count; it
/// may be any number, and only 5-8 turn the image ([`swaps`]).
pub fn orientation(data: &[u8]) -> Option<u16> {
    // "II" reads little-endian; anything else ("MM", but also mismatched or unknown marks)
    // big-endian, as OpenCV's reader falls back to.
    let little = match data {
        [first, second, ..] => first == second && *first == b'I',
        [first] => *first == b'I',
        [] => false,
    };
    let block = Block { data, little };
    if block.u16(2)? != 42 {
        return None;
    }
    let ifd = u64::from(block.u32(4)?);
    let count = block.u16(ifd)?;
    let mut at = ifd + 2;
    for _ in 0..count {
        let tag = block.u16(at)?;
        if tag == ORIENTATION {
            return block.u16(at + 8);
        }
        block.entry_fits(tag, at)?;
        at += 12;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TIFF header and one IFD of `entries` (tag, type, count, 4 value bytes as stored).
    fn block(little: bool, entries: &[(u16, u16, u32, [u8; 4])]) -> Vec<u8> {
        let u16b = |v: u16| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let u32b = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut out = if little {
            b"II".to_vec()
        } else {
            b"MM".to_vec()
        };
        out.extend(u16b(42));
        out.extend(u32b(8));
        out.extend(u16b(entries.len() as u16));
        for &(tag, kind, count, value) in entries {
            out.extend(u16b(tag));
            out.extend(u16b(kind));
            out.extend(u32b(count));
            out.extend(value);
        }
        out.extend(u32b(0));
        out
    }

    fn short(little: bool, v: u16) -> [u8; 4] {
        let b = if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        [b[0], b[1], 0, 0]
    }

    #[test]
    fn reads_each_orientation_in_both_byte_orders() {
        for little in [true, false] {
            for v in 0..=9 {
                let b = block(little, &[(274, 3, 1, short(little, v))]);
                assert_eq!(orientation(&b), Some(v), "little={little} v={v}");
                assert_eq!(swaps(orientation(&b)), (5..=8).contains(&v));
            }
        }
    }

    #[test]
    fn type_and_count_are_not_looked_at() {
        // A LONG 6: little-endian its first two bytes are 6, big-endian 0.
        let b = block(true, &[(274, 4, 1, 6u32.to_le_bytes())]);
        assert_eq!(orientation(&b), Some(6));
        let b = block(false, &[(274, 4, 1, 6u32.to_be_bytes())]);
        assert_eq!(orientation(&b), Some(0));
        let b = block(true, &[(274, 7, 99, short(true, 6))]);
        assert_eq!(orientation(&b), Some(6));
    }

    #[test]
    fn first_entry_wins_and_order_marks() {
        let b = block(
            true,
            &[(274, 3, 1, short(true, 1)), (274, 3, 1, short(true, 6))],
        );
        assert_eq!(orientation(&b), Some(1));
        // Any mark but "II" reads big-endian: "IM" with big-endian data is read.
        let mut b = block(false, &[(274, 3, 1, short(false, 6))]);
        b[..2].copy_from_slice(b"IM");
        assert_eq!(orientation(&b), Some(6));
        b[2] = 0x2a; // the 42 is then wrong
        assert_eq!(orientation(&b), None);
    }

    #[test]
    fn an_entry_read_out_of_bounds_ends_the_walk() {
        let o6 = (274, 3, 1, short(true, 6));
        // XResolution pointing past the end, before Orientation: nothing stored.
        let bad = (282, 5, 1, 5000u32.to_le_bytes());
        assert_eq!(orientation(&block(true, &[bad, o6])), None);
        // ...after it: Orientation was stored first.
        assert_eq!(orientation(&block(true, &[o6, bad])), Some(6));
        // A rational just inside the block is fine, one byte short is not; six
        // ReferenceBlackWhite rationals need 48 bytes.
        let mut b = block(true, &[(282, 5, 1, 38u32.to_le_bytes()), o6]);
        assert_eq!(b.len(), 38);
        b.resize(46, 0);
        assert_eq!(orientation(&b), Some(6));
        b.truncate(45);
        assert_eq!(orientation(&b), None);
        let mut b = block(true, &[(532, 5, 6, 38u32.to_le_bytes()), o6]);
        b.resize(38 + 48, 0);
        assert_eq!(orientation(&b), Some(6));
        b.truncate(38 + 47);
        assert_eq!(orientation(&b), None);
        // Text of up to 4 characters is looked for at byte 8 of the block.
        let b = block(true, &[(271, 2, 4, *b"ab\0\0"), o6]);
        assert_eq!(orientation(&b), Some(6));
        let b = block(true, &[(271, 2, 40, 1000u32.to_le_bytes()), o6]);
        assert_eq!(orientation(&b), None);
        // Unknown tags, and the Exif and GPS pointers, are not followed.
        let b = block(true, &[(34665, 4, 1, u32::MAX.to_le_bytes()), o6]);
        assert_eq!(orientation(&b), Some(6));
    }

    #[test]
    fn truncated_and_hostile_blocks() {
        let b = block(true, &[(274, 3, 1, short(true, 6))]);
        // The value's two bytes end at byte 20.
        assert_eq!(orientation(&b[..20]), Some(6));
        for cut in 0..20 {
            assert_eq!(orientation(&b[..cut]), None, "cut at {cut}");
        }
        // An IFD offset past the end, or near u32::MAX.
        for ifd in [1000u32, u32::MAX - 1, u32::MAX] {
            let mut h = b.clone();
            h[4..8].copy_from_slice(&ifd.to_le_bytes());
            assert_eq!(orientation(&h), None);
        }
        // A huge entry count: the walk stops at the end; an Orientation read before stays.
        let mut h = b.clone();
        h[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(orientation(&h), Some(6));
        let mut h = block(true, &[(256, 3, 1, short(true, 5))]);
        h[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(orientation(&h), None);
        // IFD offset 0: the header is read as the entry count, and no entry is Orientation.
        let mut h = b.clone();
        h[4..8].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(orientation(&h), None);
        assert_eq!(orientation(b"II"), None);
        assert_eq!(orientation(b""), None);
    }
}
