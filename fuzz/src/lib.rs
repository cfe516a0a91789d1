//! Helpers shared by the fuzz targets.

/// The PNG with every chunk's CRC recomputed, or `None` if none changed (or it is no PNG).
///
/// The walker refuses a chunk whose CRC is wrong, so almost every mutation inside a chunk would
/// stop there; the PNG targets run each input as it is and again with its CRCs made right, so
/// that mutated text chunks and headers reach the code behind the check. The walk here is
/// lenient: it stops at the first chunk that runs past the end.
pub fn with_fixed_crcs(data: &[u8]) -> Option<Vec<u8>> {
    if !data.starts_with(&_core::png::SIGNATURE) {
        return None;
    }
    let mut out = data.to_vec();
    let mut pos = 8usize;
    while let Some(head) = data.get(pos..pos + 8) {
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let Some(end) = pos.checked_add(12 + length).filter(|&e| e <= data.len()) else {
            break;
        };
        let crc = _core::png::chunk_crc(&data[pos + 4..pos + 8], &data[pos + 8..end - 4]);
        out[end - 4..end].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
    (out != data).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_every_whole_chunk() {
        let mut png = _core::png::SIGNATURE.to_vec();
        png.extend(_core::png::build_chunk(b"IHDR", &[0; 13]).unwrap());
        png.extend(_core::png::build_chunk(b"tEXt", b"a\0b").unwrap());
        let good = png.clone();
        assert_eq!(with_fixed_crcs(&good), None);
        png[8 + 25 + 8] = b'c'; // tEXt's keyword: its CRC is now wrong
        png[8 + 12] = 1; // IHDR's data
        png.extend_from_slice(&[0, 0, 0, 9, b'I']); // a truncated chunk is left alone
        let fixed = with_fixed_crcs(&png).unwrap();
        let mut expect = _core::png::SIGNATURE.to_vec();
        let mut ihdr = [0; 13];
        ihdr[4] = 1;
        expect.extend(_core::png::build_chunk(b"IHDR", &ihdr).unwrap());
        expect.extend(_core::png::build_chunk(b"tEXt", b"c\0b").unwrap());
        expect.extend_from_slice(&[0, 0, 0, 9, b'I']);
        assert_eq!(fixed, expect);
    }
}
