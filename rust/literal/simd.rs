//! The block decoder for bytes literals: 64 bytes at a time, escapes found with bit masks and
//! every position decoded as vector code, then the characters' values gathered. One body,
//! compiled for each processor tier (baseline, SSSE3 shuffles, AVX2, AVX-512) and chosen at run
//! time through proof tokens that only the processor check can make.

use super::strings::SIMPLE_ESCAPE;

/// Bit `k` set for each byte `k` of the first 64 of `block` that equals `c`.
#[inline(always)]
fn byte_mask(block: &[u8; 67], c: u8) -> u64 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    // SAFETY: the cfg above compiles this only into builds that already assume SSE2 for the
    // whole program (every x86-64 target does), so the processor running it has SSE2.
    return unsafe { byte_mask_sse2(block, c) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    byte_mask_words(block, c)
}

/// `byte_mask` sixteen bytes at a time: a compare and a move-mask each.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn byte_mask_sse2(block: &[u8; 67], c: u8) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set1_epi8, _mm_set_epi64x};
    let needle = _mm_set1_epi8(c as i8);
    let mut mask = 0;
    for (w, chunk) in block.chunks_exact(16).take(4).enumerate() {
        let (mut low, mut high) = ([0u8; 8], [0u8; 8]);
        low.copy_from_slice(&chunk[..8]);
        high.copy_from_slice(&chunk[8..]);
        // Two words into one register: the compiler makes this a single 16-byte load.
        let v = _mm_set_epi64x(i64::from_le_bytes(high), i64::from_le_bytes(low));
        let bits = _mm_movemask_epi8(_mm_cmpeq_epi8(v, needle)) as u16;
        mask |= u64::from(bits) << (16 * w);
    }
    mask
}

/// `byte_mask` for other processors, eight bytes at a time as words.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn byte_mask_words(block: &[u8; 67], c: u8) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut mask = 0;
    for (w, word) in block.chunks_exact(8).take(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ (LOW * u64::from(c));
        // High bit of each byte set where that byte of `x` is zero (no carries between bytes).
        let zero = !(((x & !HIGH) + !HIGH) | x) & HIGH;
        // Gather the eight high bits into one byte, byte k's at bit k.
        let bits = ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        mask |= bits << (8 * w);
    }
    mask
}

/// Bit `k` set for each byte `k` that a backslash escapes: every second backslash of a run of
/// them, and the byte after a run of odd length. The block must start outside any escape.
fn escaped(backslashes: u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let starts = backslashes & !(backslashes << 1);
    // Adding a run's first bit to the run clears it and carries into the byte after it, so
    // `x ^ backslashes` is each such run plus the byte after it. In a run starting on an even
    // bit the odd bits are the escaped bytes, and the other way round.
    let even_runs = backslashes.wrapping_add(starts & EVEN) ^ backslashes;
    let odd_runs = backslashes.wrapping_add(starts & !EVEN) ^ backslashes;
    (even_runs & !EVEN) | (odd_runs & EVEN)
}

/// 0xFF where `a == b`, else 0: lane masks the compiler can vectorise.
#[inline(always)]
fn mask_eq(a: u8, b: u8) -> u8 {
    u8::from(a == b).wrapping_neg()
}

/// 0xFF where `a < b`, else 0.
#[inline(always)]
fn mask_lt(a: u8, b: u8) -> u8 {
    u8::from(a < b).wrapping_neg()
}

/// 0xFF for an ASCII hex digit, else 0.
#[inline(always)]
fn is_hex(h: u8) -> u8 {
    mask_lt(h.wrapping_sub(b'0'), 10) | mask_lt((h | 0x20).wrapping_sub(b'a'), 6)
}

/// A hex digit's value, computed without a table (any other byte gives some value).
#[inline(always)]
fn hex_digit(h: u8) -> u8 {
    (h & 0x0f).wrapping_add(mask_lt(b'@', h) & 9)
}

/// For each 8-bit mask, the positions of its set bits, one per byte from the lowest: the
/// shuffle that packs the bytes a mask selects to the front.
#[cfg(target_arch = "x86_64")]
const PACK: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut m = 0;
    while m < 256 {
        let (mut packed, mut n, mut bit) = (0u64, 0, 0);
        while bit < 8 {
            if m & (1 << bit) != 0 {
                packed |= (bit as u64) << (8 * n);
                n += 1;
            }
            bit += 1;
        }
        t[m] = packed;
        m += 1;
    }
    t
};

/// The bytes of `values` at the set bits of `todo`, in order, to the front of `out`; how many.
fn gather(values: &[u8; 64], mut todo: u64, out: &mut [u8; 64]) -> usize {
    let mut count = 0;
    while todo != 0 {
        let k = todo.trailing_zeros() as usize & 63;
        todo &= todo - 1;
        out[count & 63] = values[k];
        count += 1;
    }
    count
}

/// The proof tokens. Their fields are private to this module, so outside it a token comes only
/// from its `detect` (the processor check), and holding one proves what its compilation needs.
mod tokens {
    /// Proof that the processor has SSSE3 and POPCNT for `gather_ssse3`: its field is private
    /// to this module, so `detect` is the only way to make one.
    #[derive(Clone, Copy)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub struct Shuffle(());

    impl Shuffle {
        /// Checked once per bytes literal (the standard library caches the answer).
        pub fn detect() -> Option<Self> {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("ssse3") && std::is_x86_feature_detected!("popcnt") {
                return Some(Shuffle(()));
            }
            None
        }
    }

    /// Whether the processor has everything the AVX2 compilation of `bytes_blocks` is built
    /// for: AVX2, BMI1 and BMI2 (which the compiler uses there too, and which a processor
    /// or virtual machine with AVX2 need not report) and what `Shuffle` needs.
    #[cfg(target_arch = "x86_64")]
    fn has_avx2() -> bool {
        Shuffle::detect().is_some()
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("bmi2")
    }

    /// Proof that the processor has what `bytes_blocks_avx2` is compiled for. Its field is
    /// private to this module, so `detect` is the only way to make one.
    #[derive(Clone, Copy)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub struct Avx2(());

    /// Proof that the processor has what `bytes_blocks_avx512` is compiled for: all of
    /// `Avx2`'s and AVX-512 F, BW and VL (a 64-byte block is one register). Made only by
    /// `detect`.
    #[derive(Clone, Copy)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub struct Avx512(());

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    impl Avx2 {
        pub fn detect() -> Option<Self> {
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                return Some(Avx2(()));
            }
            None
        }

        /// The `Shuffle` that the features behind an `Avx2` include.
        pub fn shuffle(self) -> Shuffle {
            Shuffle(())
        }
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    impl Avx512 {
        pub fn detect() -> Option<Self> {
            #[cfg(target_arch = "x86_64")]
            if has_avx2()
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vl")
            {
                return Some(Avx512(()));
            }
            None
        }

        /// The `Shuffle` that the features behind an `Avx512` include.
        pub fn shuffle(self) -> Shuffle {
            Shuffle(())
        }
    }
}
use tokens::Shuffle;
#[cfg(target_arch = "x86_64")]
use tokens::{Avx2, Avx512};

/// `gather`, with shuffles where `detect` found them.
#[inline(always)]
fn gather_with(
    shuffle: Option<Shuffle>,
    values: &[u8; 64],
    todo: u64,
    out: &mut [u8; 64],
) -> usize {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = shuffle;
    #[cfg(target_arch = "x86_64")]
    if shuffle.is_some() {
        // SAFETY: a `Shuffle` exists only where `Shuffle::detect` found SSSE3 and POPCNT.
        return unsafe { gather_ssse3(values, todo, out) };
    }
    gather(values, todo, out)
}

/// `gather` eight positions at a time: a byte shuffle packs the selected ones, an 8-byte
/// store writes them, and the count moves on by how many there were. A third of the time of
/// decoding a mask went into gathering byte by byte.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3,popcnt")]
fn gather_ssse3(values: &[u8; 64], todo: u64, out: &mut [u8; 64]) -> usize {
    use std::arch::x86_64::{_mm_cvtsi128_si64, _mm_set_epi64x, _mm_shuffle_epi8};
    let mut count = 0;
    for (g, group) in values.chunks_exact(8).enumerate() {
        let mask = (todo >> (8 * g)) as u8;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(group);
        let source = _mm_set_epi64x(0, i64::from_le_bytes(bytes));
        let shuffle = _mm_set_epi64x(0, PACK[usize::from(mask)] as i64);
        let packed = _mm_cvtsi128_si64(_mm_shuffle_epi8(source, shuffle)) as u64;
        // At most 56 bytes precede the last group, so the 8-byte store stays inside `out`.
        if let Some(slot) = out.get_mut(count..count + 8) {
            slot.copy_from_slice(&packed.to_le_bytes());
        }
        count += mask.count_ones() as usize;
    }
    count
}

/// Decode a non-raw bytes literal's body from `i` in blocks of 64 bytes, for as long as it is
/// made of printable ASCII, the escapes of `SIMPLE_ESCAPE` and `\xNN`. Returns where it
/// stopped, at the start of an escape or character, and whether a block had something
/// unusual in it: the closing quote, anything else, and the last bytes of the text are left
/// to the byte-by-byte code.
///
/// Compressed masks are bytes literals of random bytes, where one-byte characters and
/// four-byte `\xNN` escapes alternate at random: decoding byte by byte, the branch on which
/// comes next is mispredicted about every other time, and each step waits for the one before.
/// Here the escapes of a whole block are found at once with bit masks, every position is
/// decoded at once as vector code, and the values at the characters' starts are gathered.
pub(super) fn bytes_blocks(s: &[u8], i: usize, q: u8, buf: &mut Vec<u8>) -> (usize, bool) {
    // The same code compiled for wider vectors where the processor has them: the per-position
    // decoding below is 64 lanes wide, and a face header's parse took 25 us with SSE2, 23 with
    // AVX2 and 21 with AVX-512.
    #[cfg(target_arch = "x86_64")]
    {
        // Checked once per bytes literal.
        if let Some(avx512) = Avx512::detect() {
            // SAFETY: an `Avx512` exists only where `Avx512::detect` found every feature
            // `bytes_blocks_avx512` is compiled for.
            return unsafe { bytes_blocks_avx512(avx512, s, i, q, buf) };
        }
        if let Some(avx2) = Avx2::detect() {
            // SAFETY: likewise for `Avx2` and `bytes_blocks_avx2`.
            return unsafe { bytes_blocks_avx2(avx2, s, i, q, buf) };
        }
    }
    bytes_blocks_with(Shuffle::detect(), s, i, q, buf)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,bmi1,bmi2,ssse3,popcnt")]
fn bytes_blocks_avx512(
    token: Avx512,
    s: &[u8],
    i: usize,
    q: u8,
    buf: &mut Vec<u8>,
) -> (usize, bool) {
    bytes_blocks_with(Some(token.shuffle()), s, i, q, buf)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,ssse3,popcnt")]
fn bytes_blocks_avx2(token: Avx2, s: &[u8], i: usize, q: u8, buf: &mut Vec<u8>) -> (usize, bool) {
    bytes_blocks_with(Some(token.shuffle()), s, i, q, buf)
}

/// Where a block's characters start, as bit masks over its 64 positions.
struct Layout {
    /// The starts of the characters decoded from this block.
    todo: u64,
    /// Where those characters end: 64, or the start of one that runs past the block.
    end: usize,
    /// The backslashes that start an escape.
    escape_starts: u64,
    /// The `x` of each `\xNN` escape.
    hex_escapes: u64,
}

/// The block's escapes and character starts, found for all 64 positions at once.
#[inline(always)]
fn layout(block: &[u8; 67]) -> Layout {
    let backslashes = byte_mask(block, b'\\');
    let escaped = escaped(backslashes);
    let hex_escapes = escaped & byte_mask(block, b'x');
    let hex_digits = (hex_escapes << 1) | (hex_escapes << 2);
    let starts = !(escaped | hex_digits);
    // A character that begins in the block but ends past it waits for the next block.
    let escape_starts = backslashes & !escaped;
    let split = (escape_starts & 1 << 63) | ((hex_escapes & 0b11 << 62) >> 1);
    let end = split.trailing_zeros() as usize;
    let todo = match end {
        64 => starts,
        _ => starts & ((1u64 << end) - 1),
    };
    Layout {
        todo,
        end,
        escape_starts,
        hex_escapes,
    }
}

/// Every position decoded as if a character started there, in straight-line code over the
/// whole block that the compiler turns into vector instructions (tables would stop the
/// vectorising): each position's value into `values`, and 1 into `bad` where that character
/// would be invalid (a bad `\xNN`, or a plain byte that is unprintable or the quote `q`).
#[inline(always)]
fn decode_positions(block: &[u8; 67], q: u8, values: &mut [u8; 64], bad: &mut [u8; 67]) {
    for k in 0..64 {
        let (c, n, h, l) = (block[k], block[k + 1], block[k + 2], block[k + 3]);
        let hex = hex_digit(h) << 4 | hex_digit(l);
        let hex_ok = is_hex(h) & is_hex(l);
        let is_hex_escape = mask_eq(c, b'\\') & mask_eq(n, b'x');
        // A plain character must be printable and not the quote.
        let plain_ok = !mask_eq(c, q) & mask_lt(c.wrapping_sub(0x20), 0x5f);
        values[k] = (hex & is_hex_escape) | (c & !is_hex_escape);
        bad[k] = !((hex_ok & is_hex_escape) | (plain_ok & !is_hex_escape)) & 1;
    }
}

/// The values at every position of the block into `values` (right at the starts in
/// `layout.todo`); returns the starts whose characters this decoder cannot take.
#[inline(always)]
fn decode_block(block: &[u8; 67], q: u8, layout: &Layout, values: &mut [u8; 64]) -> u64 {
    let mut bad = [0u8; 67];
    decode_positions(block, q, values, &mut bad);
    // Other escapes (a few per block of random bytes) one by one.
    let mut simple = layout.escape_starts & !(layout.hex_escapes >> 1) & layout.todo;
    let mut bad = byte_mask(&bad, 1) & !simple;
    while simple != 0 {
        let k = simple.trailing_zeros() as usize & 63;
        simple &= simple - 1;
        let value = SIMPLE_ESCAPE[usize::from(block[k + 1])];
        values[k] = value as u8;
        bad |= u64::from(value >> 8) << k;
    }
    bad
}

/// Append the `values` at the set bits of `todo` to `buf`.
#[inline(always)]
fn append_gathered(shuffle: Option<Shuffle>, values: &[u8; 64], todo: u64, buf: &mut Vec<u8>) {
    // Gathered straight into the buffer's next 64 bytes, then cut back. (Gathering into a
    // local array and copying it over stalls: the copy's wide loads wait for the byte
    // stores.)
    let before = buf.len();
    buf.resize(before + 64, 0);
    let mut count = 0;
    if let Some(Ok(out)) = buf
        .get_mut(before..before + 64)
        .map(<&mut [u8; 64]>::try_from)
    {
        count = gather_with(shuffle, values, todo, out);
    }
    buf.truncate(before + count.min(64));
}

/// `bytes_blocks`' body, inlined into each of its compilations.
#[inline(always)]
fn bytes_blocks_with(
    shuffle: Option<Shuffle>,
    s: &[u8],
    mut i: usize,
    q: u8,
    buf: &mut Vec<u8>,
) -> (usize, bool) {
    // Every character read below starts in the block, and reads at most 3 bytes past it.
    while let Some(Ok(block)) = s.get(i..i + 67).map(<&[u8; 67]>::try_from) {
        let layout = layout(block);
        let mut values = [0u8; 64];
        let bad = decode_block(block, q, &layout, &mut values);
        if bad & layout.todo != 0 {
            return (i, true);
        }
        if layout.todo == u64::MAX {
            // 64 plain characters (text, not a mask): nothing to gather.
            buf.extend_from_slice(&values);
            i += 64;
            continue;
        }
        append_gathered(shuffle, &values, layout.todo, buf);
        i += layout.end;
    }
    (i, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::strings::HEX;
    use crate::literal::tests::{bytes_literal, Lcg};

    #[test]
    fn escaped_bytes_match_a_byte_by_byte_scan() {
        let mut rng = Lcg(7);
        for _ in 0..20_000 {
            let block = rng.block(b"\\\\xa");
            let backslashes = byte_mask(&block, b'\\');
            let mut expected = 0u64;
            let mut k = 0;
            while k < 64 {
                if block[k] == b'\\' {
                    if k < 63 {
                        expected |= 1 << (k + 1);
                    }
                    k += 2;
                } else {
                    k += 1;
                }
            }
            assert_eq!(escaped(backslashes), expected, "{block:?}");
        }
    }

    #[test]
    fn hex_digits_without_a_table_match_the_table() {
        for h in 0..=255u8 {
            let digit = HEX[usize::from(h)];
            assert_eq!(is_hex(h), if digit < 16 { 0xFF } else { 0 }, "{h}");
            if digit < 16 {
                assert_eq!(u16::from(hex_digit(h)), digit, "{h}");
            }
        }
    }

    #[test]
    fn gathers_agree() {
        // The shuffle version (which the other tests use on this processor) against the
        // byte-by-byte one, and both against a plain filter.
        let mut rng = Lcg(9);
        let mut values = [0u8; 64];
        for _ in 0..20_000 {
            for v in values.iter_mut() {
                *v = rng.next() as u8;
            }
            let mut bits = || rng.next() << 33 ^ rng.next() << 11 ^ rng.next();
            let todo = match bits() % 4 {
                0 => bits(),
                1 => u64::MAX >> (bits() % 64),
                2 => 0x1111_1111_1111_1111 << (bits() % 4),
                _ => bits() & bits(),
            };
            let expected: Vec<u8> = (0..64)
                .filter(|&k| todo >> k & 1 == 1)
                .map(|k| values[k])
                .collect();
            let mut out = [0u8; 64];
            let n = gather(&values, todo, &mut out);
            assert_eq!(&out[..n], &expected[..], "{todo:x}");
            let mut out = [0u8; 64];
            let n = gather_with(Shuffle::detect(), &values, todo, &mut out);
            assert_eq!(&out[..n], &expected[..], "{todo:x}");
        }
    }

    #[test]
    fn byte_masks_match_a_scan() {
        // Both versions, whichever this build uses, against a plain scan of the first 64.
        let mut rng = Lcg(5);
        for _ in 0..20_000 {
            let block = rng.block(&[b'\\', b'x', 0, 0x80, 0xFF, b'a']);
            for c in [b'\\', b'x', 0, 0x80, 0xFF, b'a', b'q'] {
                let expected = (0..64)
                    .filter(|&k| block[k] == c)
                    .fold(0u64, |m, k| m | 1 << k);
                assert_eq!(byte_mask(&block, c), expected, "{c} in {block:?}");
                assert_eq!(byte_mask_words(&block, c), expected, "{c} in {block:?}");
            }
        }
    }

    #[test]
    fn block_decoder_compilations_agree() {
        // Each compilation of the block decoder this processor can run (plain, with shuffles,
        // AVX2, AVX-512) on the same texts: the parser itself only ever uses the widest.
        type Decoded = ((usize, bool), Vec<u8>);
        let mut rng = Lcg(21);
        for case in 0..4_000 {
            let len = 64 + (rng.next() % 500) as usize;
            let text: Vec<u8> = match case % 3 {
                0 => {
                    let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    bytes_literal(&data, case % 2 == 0, case % 5 == 0).into_bytes()
                }
                1 => (0..len)
                    .map(|_| b"\\x'aF0\t\"n9"[(rng.next() % 10) as usize])
                    .collect(),
                _ => (0..len).map(|_| (rng.next() % 0x80) as u8).collect(),
            };
            let start = 2.min(text.len());
            let run = |decode: &dyn Fn(&mut Vec<u8>) -> (usize, bool)| -> Decoded {
                let mut buf = Vec::new();
                (decode(&mut buf), buf)
            };
            let expected = run(&|buf| bytes_blocks_with(None, &text, start, b'\'', buf));
            let shuffled =
                run(&|buf| bytes_blocks_with(Shuffle::detect(), &text, start, b'\'', buf));
            assert_eq!(shuffled, expected, "case {case}");
            #[cfg(target_arch = "x86_64")]
            {
                if let Some(wide) = Avx2::detect() {
                    // SAFETY: `Avx2::detect` found what `bytes_blocks_avx2` is compiled for.
                    let got =
                        run(&|buf| unsafe { bytes_blocks_avx2(wide, &text, start, b'\'', buf) });
                    assert_eq!(got, expected, "case {case}, AVX2");
                }
                if let Some(wide) = Avx512::detect() {
                    // SAFETY: `Avx512::detect` found what `bytes_blocks_avx512` is compiled for.
                    let got =
                        run(&|buf| unsafe { bytes_blocks_avx512(wide, &text, start, b'\'', buf) });
                    assert_eq!(got, expected, "case {case}, AVX-512");
                }
            }
        }
    }
}
