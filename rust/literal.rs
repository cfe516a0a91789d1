//! The faceswap payload parser: Python-literal text (what `str(dict)` prints) into a [`Parsed`]
//! tape of nodes.
//!
//! It accepts what `ast.literal_eval` accepts: dict, list, tuple, set (and `set()`), str and bytes
//! with every prefix, quote style, escape and implicit concatenation, int in any base and of any
//! size, float, complex (`1+2j`), `True`/`False`/`None`/`...`, unary signs, parentheses and
//! comments. On top of that it reads `nan`, `inf` (and `infj`, `nanj`), which `str()` prints for
//! non-finite floats and faceswap itself cannot read back. Nesting is capped (limits.rs), so
//! hostile input cannot exhaust the stack.
//!
//! The result is a flat tape: nodes in pre-order (a container node gives its item count and its
//! items follow) and one byte arena for string, bytes and big-int contents. Two allocations per
//! payload instead of one per value: on a 23 KB face header this parses about 3x faster than a
//! tree of boxed values. Errors carry the byte offset into the text and what was expected there.

use crate::error::{Error, Result};

/// One value on the tape. Offsets index [`Parsed::arena`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    None,
    Ellipsis,
    Bool(bool),
    Int(i64),
    /// An int that does not fit in i64: its digits (no sign, no underscores) and radix.
    BigInt {
        start: u32,
        len: u32,
        radix: u8,
        negative: bool,
    },
    Float(f64),
    Complex {
        re: f64,
        im: f64,
    },
    /// UTF-8 text; with `surrogates`, lone surrogates are in their 3-byte form (Python's
    /// `surrogatepass` decodes them; Rust's `str` cannot hold them).
    Str {
        start: u32,
        len: u32,
        surrogates: bool,
    },
    /// A string that needs Python itself to decode (it uses `\N{name}` escapes): the literal's
    /// source text, for `ast.literal_eval`.
    PyStr {
        start: u32,
        len: u32,
    },
    Bytes {
        start: u32,
        len: u32,
    },
    /// Containers: `items` is the number of items that follow (key-value pairs, for a dict),
    /// `size` the number of nodes they take up (so that a container is skipped in one step).
    List {
        items: u32,
        size: u32,
    },
    Tuple {
        items: u32,
        size: u32,
    },
    Set {
        items: u32,
        size: u32,
    },
    Dict {
        items: u32,
        size: u32,
    },
}

/// A parsed payload: nodes in pre-order and the bytes they point into.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub nodes: Vec<Node>,
    pub arena: Vec<u8>,
}

impl Parsed {
    /// The arena bytes of a node's content.
    pub fn slice(&self, start: u32, len: u32) -> &[u8] {
        let (s, l) = (start as usize, len as usize);
        self.arena.get(s..s + l).unwrap_or(&[])
    }

    /// The index just past the subtree that starts at node `i`.
    pub fn skip(&self, i: usize) -> usize {
        match self.nodes.get(i) {
            Some(
                Node::List { size, .. }
                | Node::Tuple { size, .. }
                | Node::Set { size, .. }
                | Node::Dict { size, .. },
            ) => i + 1 + *size as usize,
            _ => i + 1,
        }
    }

    /// The (key, value) node indices of the dict at node `i`, or `None` if it is not a dict.
    pub fn dict_items(&self, i: usize) -> Option<Vec<(usize, usize)>> {
        let Some(Node::Dict { items: n, .. }) = self.nodes.get(i) else {
            return None;
        };
        let mut out = Vec::with_capacity(*n as usize);
        let mut k = i + 1;
        for _ in 0..*n {
            let v = self.skip(k);
            out.push((k, v));
            k = self.skip(v);
        }
        Some(out)
    }

    /// The text of a plain string node (no surrogates, no Python-decoded escapes).
    pub fn str_at(&self, i: usize) -> Option<&[u8]> {
        match self.nodes.get(i) {
            Some(Node::Str {
                start,
                len,
                surrogates: false,
            }) => Some(self.slice(*start, *len)),
            _ => None,
        }
    }

    /// The item node indices of a list or tuple at node `i`.
    pub fn seq_items(&self, i: usize) -> Option<Vec<usize>> {
        let n = match self.nodes.get(i) {
            Some(Node::List { items: n, .. } | Node::Tuple { items: n, .. }) => *n,
            _ => return None,
        };
        let mut out = Vec::with_capacity(n as usize);
        let mut k = i + 1;
        for _ in 0..n {
            out.push(k);
            k = self.skip(k);
        }
        Some(out)
    }

    /// The value as a tree (for tests and debugging).
    pub fn to_value(&self) -> Value {
        let mut i = 0;
        self.value_at(&mut i)
    }

    fn value_at(&self, i: &mut usize) -> Value {
        let node = self.nodes.get(*i).copied().unwrap_or(Node::None);
        *i += 1;
        let items = |n: u32, i: &mut usize| (0..n).map(|_| self.value_at(i)).collect::<Vec<_>>();
        match node {
            Node::None => Value::None,
            Node::Ellipsis => Value::Ellipsis,
            Node::Bool(b) => Value::Bool(b),
            Node::Int(v) => Value::Int(v),
            Node::BigInt {
                start,
                len,
                radix,
                negative,
            } => Value::BigInt {
                negative,
                digits: String::from_utf8_lossy(self.slice(start, len)).into_owned(),
                radix: u32::from(radix),
            },
            Node::Float(f) => Value::Float(f),
            Node::Complex { re, im } => Value::Complex(re, im),
            Node::Str {
                start,
                len,
                surrogates,
            } => {
                let b = self.slice(start, len).to_vec();
                match (surrogates, String::from_utf8(b)) {
                    (false, Ok(s)) => Value::Str(Text::Utf8(s)),
                    (_, Ok(s)) => Value::Str(Text::Surrogates(s.into_bytes())),
                    (_, Err(e)) => Value::Str(Text::Surrogates(e.into_bytes())),
                }
            }
            Node::PyStr { start, len } => {
                Value::PyStr(String::from_utf8_lossy(self.slice(start, len)).into_owned())
            }
            Node::Bytes { start, len } => Value::Bytes(self.slice(start, len).to_vec()),
            Node::List { items: n, .. } => Value::List(items(n, i)),
            Node::Tuple { items: n, .. } => Value::Tuple(items(n, i)),
            Node::Set { items: n, .. } => Value::Set(items(n, i)),
            Node::Dict { items: n, .. } => {
                let flat = items(2 * n, i);
                let mut pairs = Vec::with_capacity(n as usize);
                let mut it = flat.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Value::Dict(pairs)
            }
        }
    }
}

/// A string's content, in the tree form.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Utf8(String),
    Surrogates(Vec<u8>),
}

/// A parsed value as a tree: what [`Parsed::to_value`] gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Ellipsis,
    Bool(bool),
    Int(i64),
    BigInt {
        negative: bool,
        digits: String,
        radix: u32,
    },
    Float(f64),
    Complex(f64, f64),
    Str(Text),
    PyStr(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Set(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

/// Parse a whole payload. `max_depth` caps container and parenthesis nesting.
pub fn parse(text: &[u8], max_depth: usize) -> Result<Parsed> {
    // No whole-text passes for NUL bytes or UTF-8: outside strings the grammar rejects both, and
    // string literals check their own bytes (parse time on a face header fell by a tenth).
    if u32::try_from(text.len()).is_err() {
        return Err(Error::syntax(0, "payload larger than 4 GiB"));
    }
    let mut p = Parser {
        s: text,
        i: 0,
        depth: 0,
        max_depth,
        out: Parsed {
            // About one node per 20 bytes of a face header; the arena holds its masks.
            nodes: Vec::with_capacity(text.len() / 16 + 4),
            // The arena holds the masks' bytes, about half a face header's text; sized so that it
            // does not grow (and copy) mid-parse.
            arena: Vec::with_capacity(text.len() / 2),
        },
    };
    // ast.literal_eval strips leading spaces and tabs; blank lines are ignored by the tokenizer,
    // but the first real line must not be indented.
    while matches!(p.peek(), Some(b' ' | b'\t')) {
        p.i += 1;
    }
    p.skip_space(true);
    if p.i >= p.s.len() {
        return Err(p.err("expected a value, found the end of the payload"));
    }
    if p.indented_line(p.i) {
        return Err(p.err("unexpected indent"));
    }
    p.expr()?;
    p.skip_space(false);
    if p.peek() == Some(b',') {
        // A bare tuple at the top level: `1, 2`.
        p.out.nodes.insert(0, Node::Tuple { items: 0, size: 0 });
        p.sequence_tail(0, None)?;
    }
    let end_of_value = p.i;
    p.skip_space(true);
    if p.i < p.s.len() {
        return Err(p.err(&format!(
            "expected the end of the payload, found {}",
            p.describe_here()
        )));
    }
    // Python's tokenizer rejects a last line of only spaces or tabs with no newline after it.
    if p.s[end_of_value..]
        .iter()
        .any(|&b| b == b'\n' || b == b'\r')
        && p.indented_line(p.i)
    {
        return Err(p.err("unexpected indent at the end of the payload"));
    }
    Ok(p.out)
}

/// What a parsed operand is, for the rules on `-x` and `a + bj` (literal_eval accepts a sign only
/// on a number constant, and `+`/`-` only between a real and an imaginary constant).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    /// Not a number constant.
    No,
    /// A bare int/float constant (possibly parenthesised).
    Real,
    /// A bare imaginary constant.
    Imag,
    /// A signed int/float constant.
    SignedReal,
    /// Anything else numeric (a signed imaginary, a complex sum).
    Other,
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// Open brackets and parentheses; inside any, newlines are plain whitespace.
    depth: usize,
    max_depth: usize,
    out: Parsed,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

/// Hex digit values; 0x100 marks a non-digit (so a bad pair shows as a value above 0xFF).
const HEX: [u16; 256] = {
    let mut t = [0x100u16; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u16;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u16;
        t[b'A' as usize + i] = 10 + i as u16;
        i += 1;
    }
    t
};

/// The two-character escapes `\\`, `\'`, `\"`, `\a`, `\b`, `\f`, `\n`, `\r`, `\t`, `\v`: their
/// value, others 0x100.
const SIMPLE_ESCAPE: [u16; 256] = {
    let mut t = [0x100u16; 256];
    t[b'\\' as usize] = b'\\' as u16;
    t[b'\'' as usize] = b'\'' as u16;
    t[b'"' as usize] = b'"' as u16;
    t[b'a' as usize] = 0x07;
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0c;
    t[b'n' as usize] = b'\n' as u16;
    t[b'r' as usize] = b'\r' as u16;
    t[b't' as usize] = b'\t' as u16;
    t[b'v' as usize] = 0x0b;
    t
};

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

mod shuffle {
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
use shuffle::Shuffle;
#[cfg(target_arch = "x86_64")]
use shuffle::{Avx2, Avx512};

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
fn bytes_blocks(s: &[u8], i: usize, q: u8, buf: &mut Vec<u8>) -> (usize, bool) {
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
        // Every position is decoded as if a character started there, in straight-line code
        // over the whole block that the compiler turns into vector instructions; then the
        // values at the real starts are gathered. Tables would stop the vectorising.
        let mut values = [0u8; 64];
        let mut bad = [0u8; 67];
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
        // Other escapes (a few per block of random bytes) one by one.
        let mut simple = escape_starts & !(hex_escapes >> 1) & todo;
        let mut bad = byte_mask(&bad, 1) & !simple;
        while simple != 0 {
            let k = simple.trailing_zeros() as usize & 63;
            simple &= simple - 1;
            let value = SIMPLE_ESCAPE[usize::from(block[k + 1])];
            values[k] = value as u8;
            bad |= u64::from(value >> 8) << k;
        }
        if bad & todo != 0 {
            return (i, true);
        }
        if todo == u64::MAX {
            // 64 plain characters (text, not a mask): nothing to gather.
            buf.extend_from_slice(&values);
            i += 64;
            continue;
        }
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
            count = gather_with(shuffle, &values, todo, out);
        }
        buf.truncate(before + count.min(64));
        i += end;
    }
    (i, false)
}

fn hex_val(b: u8) -> Option<u32> {
    let v = HEX[usize::from(b)];
    (v < 16).then_some(u32::from(v))
}

impl<'a> Parser<'a> {
    fn err(&self, msg: &str) -> Error {
        Error::syntax(self.i as u64, msg)
    }

    fn err_at(&self, at: usize, msg: &str) -> Error {
        Error::syntax(at as u64, msg)
    }

    /// Whether the text from the start of `at`'s line up to `at` is blank but indented (spaces or
    /// tabs), where that line is not the first.
    fn indented_line(&self, at: usize) -> bool {
        let line_start = match self.s[..at].iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(n) => n + 1,
            None => return false,
        };
        let line = &self.s[line_start..at];
        line.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\x0c'))
            && line.iter().any(|&b| b == b' ' || b == b'\t')
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn push(&mut self, node: Node) {
        self.out.nodes.push(node);
    }

    fn arena_pos(&self) -> u32 {
        // The arena never outgrows the text, whose size parse() checked fits in u32.
        u32::try_from(self.out.arena.len()).unwrap_or(u32::MAX)
    }

    /// The number of nodes after the container node at `at`: its subtree, now complete.
    fn size_from(&self, at: usize) -> u32 {
        Self::count(self.out.nodes.len() - at - 1)
    }

    fn count(n: usize) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn describe_here(&self) -> String {
        match std::str::from_utf8(&self.s[self.i..])
            .ok()
            .and_then(|t| t.chars().next())
        {
            Some(c) => format!("{c:?}"),
            None => match self.peek() {
                Some(b) => format!("byte 0x{b:02x}"),
                None => "the end of the payload".to_string(),
            },
        }
    }

    /// Skip whitespace and comments. Newlines are skipped when inside brackets or when
    /// `newlines` is set; a backslash-newline joins lines anywhere.
    #[inline]
    fn skip_space(&mut self, newlines: bool) {
        // Most calls land on a token straight away.
        match self.peek() {
            Some(b) if b > b' ' && b != b'#' && b != b'\\' => {}
            None => {}
            _ => self.skip_space_slow(newlines),
        }
    }

    fn skip_space_slow(&mut self, newlines: bool) {
        let nl_ok = newlines || self.depth > 0;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\x0c' => self.i += 1,
                b'\n' | b'\r' if nl_ok => self.i += 1,
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' || c == b'\r' || c == 0 {
                            break;
                        }
                        self.i += 1;
                    }
                }
                b'\\' => {
                    let rest = &self.s[self.i + 1..];
                    let n = if rest.starts_with(b"\r\n") {
                        3
                    } else if rest.first().is_some_and(|&c| c == b'\n' || c == b'\r') {
                        2
                    } else {
                        break;
                    };
                    // A line continuation must continue something: at the end it is an error.
                    if self.i + n >= self.s.len() {
                        break;
                    }
                    self.i += n;
                }
                _ => break,
            }
        }
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<()> {
        self.skip_space(false);
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {what}, found {}", self.describe_here())))
        }
    }

    /// Open a bracket that starts at `at`, enforcing the nesting limit.
    fn enter(&mut self, at: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(self.err_at(
                at,
                &format!("nesting deeper than {} levels", self.max_depth),
            ));
        }
        Ok(())
    }

    /// An expression: an operand, optionally `real (+|-) imaginary`. Pushes one node.
    fn expr(&mut self) -> Result<Num> {
        let start = self.i;
        let kind = self.operand()?;
        self.skip_space(false);
        let add = match self.peek() {
            Some(b'+') => true,
            Some(b'-') => false,
            _ => return Ok(kind),
        };
        if !matches!(kind, Num::Real | Num::SignedReal) {
            return Err(
                self.err("'+' and '-' are only allowed between a real and an imaginary number")
            );
        }
        self.i += 1;
        self.skip_space(false);
        let at = self.i;
        if self.operand()? != Num::Imag {
            return Err(self.err_at(
                at,
                "expected an imaginary number (like 2j) after '+' or '-'",
            ));
        }
        let right = self.out.nodes.pop();
        let left = self.out.nodes.pop();
        let re = match left {
            Some(Node::Int(v)) => v as f64,
            Some(Node::Float(v)) => v,
            Some(Node::BigInt {
                start: s,
                len,
                radix,
                negative,
            }) => big_to_f64(negative, self.out.slice(s, len), u32::from(radix))
                .ok_or_else(|| self.err_at(start, "integer too large to convert to float"))?,
            _ => return Err(self.err_at(start, "expected a real number")),
        };
        let Some(Node::Complex { re: cr, im: ci }) = right else {
            return Err(self.err_at(at, "expected an imaginary number"));
        };
        // Python widens the real to complex(re, 0.0) and then adds part by part, which fixes
        // the sign of zero parts: 1-0j is (1+0j).
        self.push(if add {
            Node::Complex {
                re: re + cr,
                im: 0.0 + ci,
            }
        } else {
            Node::Complex {
                re: re - cr,
                im: 0.0 - ci,
            }
        });
        Ok(Num::Other)
    }

    /// A single operand: an atom or a signed number. Pushes one node.
    fn operand(&mut self) -> Result<Num> {
        self.skip_space(false);
        match self.peek() {
            Some(sign @ (b'-' | b'+')) => {
                self.i += 1;
                self.skip_space(false);
                let at = self.i;
                let kind = self.atom()?;
                if !matches!(kind, Num::Real | Num::Imag) {
                    return Err(self.err_at(at, "a sign must be followed by a number"));
                }
                if sign == b'-' {
                    self.negate_last();
                }
                Ok(if kind == Num::Real {
                    Num::SignedReal
                } else {
                    Num::Other
                })
            }
            _ => self.atom(),
        }
    }

    fn negate_last(&mut self) {
        let Some(last) = self.out.nodes.last().copied() else {
            return;
        };
        let negated = match last {
            Node::Int(i) => match i.checked_neg() {
                Some(n) => Node::Int(n),
                None => {
                    // -(i64::MIN) does not fit: keep it as a big int of the same digits.
                    let start = self.arena_pos();
                    let digits = i.unsigned_abs().to_string();
                    self.out.arena.extend_from_slice(digits.as_bytes());
                    Node::BigInt {
                        start,
                        len: Self::count(digits.len()),
                        radix: 10,
                        negative: false,
                    }
                }
            },
            Node::BigInt {
                start,
                len,
                radix,
                negative,
            } => {
                // -9223372036854775808 fits in i64 once negated.
                let digits = std::str::from_utf8(self.out.slice(start, len)).unwrap_or("");
                if !negative && u64::from_str_radix(digits, u32::from(radix)) == Ok(1u64 << 63) {
                    Node::Int(i64::MIN)
                } else {
                    Node::BigInt {
                        start,
                        len,
                        radix,
                        negative: !negative,
                    }
                }
            }
            Node::Float(f) => Node::Float(-f),
            Node::Complex { re, im } => Node::Complex { re: -re, im: -im },
            other => other,
        };
        if let Some(slot) = self.out.nodes.last_mut() {
            *slot = negated;
        }
    }

    fn atom(&mut self) -> Result<Num> {
        self.skip_space(false);
        let Some(b) = self.peek() else {
            return Err(self.err("expected a value, found the end of the payload"));
        };
        match b {
            b'{' => {
                self.brace()?;
                Ok(Num::No)
            }
            b'[' => {
                let start = self.i;
                self.i += 1;
                self.enter(start)?;
                let at = self.out.nodes.len();
                self.push(Node::List { items: 0, size: 0 });
                let n = self.items(b']', start)?;
                self.out.nodes[at] = Node::List {
                    items: n,
                    size: self.size_from(at),
                };
                self.depth -= 1;
                Ok(Num::No)
            }
            b'(' => self.paren(),
            b'\'' | b'"' => {
                self.strings()?;
                Ok(Num::No)
            }
            b'0'..=b'9' => self.number(),
            b'.' => {
                if self.s[self.i..].starts_with(b"...") {
                    self.i += 3;
                    self.push(Node::Ellipsis);
                    Ok(Num::No)
                } else if self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
                    self.number()
                } else {
                    Err(self.err("expected a value, found '.'"))
                }
            }
            b if is_ident_start(b) => self.word(),
            _ => Err(self.err(&format!("expected a value, found {}", self.describe_here()))),
        }
    }

    /// Items up to `close`, comma-separated, trailing comma allowed; returns how many.
    fn items(&mut self, close: u8, open_at: usize) -> Result<u32> {
        let mut n = 0usize;
        loop {
            self.skip_space(false);
            match self.peek() {
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(Self::count(n));
                }
                None => return Err(self.unclosed(open_at)),
                _ => {}
            }
            if self.list_float(close) {
                n += self.more_floats(close);
            } else {
                self.expr()?;
            }
            n += 1;
            self.skip_space(false);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                None => return Err(self.unclosed(open_at)),
                _ => {
                    return Err(self.err(&format!(
                        "expected ',' or '{}', found {}",
                        close as char,
                        self.describe_here()
                    )))
                }
            }
        }
    }

    fn unclosed(&self, open_at: usize) -> Error {
        self.err(&format!(
            "the '{}' opened at byte {open_at} is never closed",
            self.s[open_at] as char
        ))
    }

    /// At a comma after a tuple's first item (whose Tuple node is at `node`): the rest of the
    /// tuple, up to `close` (or the end of the line, at the top level).
    fn sequence_tail(&mut self, node: usize, close: Option<(u8, usize)>) -> Result<()> {
        let mut n = 1usize;
        let finish = |p: &mut Self, n: usize| {
            p.out.nodes[node] = Node::Tuple {
                items: Self::count(n),
                size: p.size_from(node),
            }
        };
        loop {
            // We are at a comma.
            self.i += 1;
            self.skip_space(false);
            match (self.peek(), close) {
                (Some(c), Some((cl, _))) if c == cl => {
                    self.i += 1;
                    finish(self, n);
                    return Ok(());
                }
                (None, Some((_, at))) => return Err(self.unclosed(at)),
                (None | Some(b'\n' | b'\r' | b'#'), None) => {
                    finish(self, n);
                    return Ok(());
                }
                _ => {}
            }
            self.expr()?;
            n += 1;
            self.skip_space(false);
            match (self.peek(), close) {
                (Some(b','), _) => {}
                (Some(c), Some((cl, _))) if c == cl => {
                    self.i += 1;
                    finish(self, n);
                    return Ok(());
                }
                (None, Some((_, at))) => return Err(self.unclosed(at)),
                (_, None) => {
                    finish(self, n);
                    return Ok(());
                }
                _ => {
                    return Err(self.err(&format!(
                        "expected ',' or ')', found {}",
                        self.describe_here()
                    )))
                }
            }
        }
    }

    /// `( ... )`: empty tuple, grouping, or tuple.
    fn paren(&mut self) -> Result<Num> {
        let open_at = self.i;
        self.i += 1;
        self.enter(open_at)?;
        self.skip_space(false);
        if self.peek() == Some(b')') {
            self.i += 1;
            self.depth -= 1;
            self.push(Node::Tuple { items: 0, size: 0 });
            return Ok(Num::No);
        }
        let first = self.out.nodes.len();
        // Grouping keeps what the inner expression is: `-(1)` is a signed constant.
        let kind = self.expr()?;
        self.skip_space(false);
        let result = match self.peek() {
            Some(b')') => {
                self.i += 1;
                kind
            }
            Some(b',') => {
                self.out
                    .nodes
                    .insert(first, Node::Tuple { items: 0, size: 0 });
                self.sequence_tail(first, Some((b')', open_at)))?;
                Num::No
            }
            None => return Err(self.unclosed(open_at)),
            _ => {
                return Err(self.err(&format!(
                    "expected ',' or ')', found {}",
                    self.describe_here()
                )))
            }
        };
        self.depth -= 1;
        Ok(result)
    }

    /// `{...}`: dict or set.
    fn brace(&mut self) -> Result<()> {
        let open_at = self.i;
        self.i += 1;
        self.enter(open_at)?;
        let at = self.out.nodes.len();
        self.push(Node::Dict { items: 0, size: 0 });
        self.skip_space(false);
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        self.expr()?;
        self.skip_space(false);
        if self.peek() == Some(b':') {
            self.i += 1;
            self.expr()?;
            let mut pairs = 1usize;
            loop {
                self.skip_space(false);
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.skip_space(false);
                        if self.peek() == Some(b'}') {
                            self.i += 1;
                            break;
                        }
                    }
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    None => return Err(self.unclosed(open_at)),
                    _ => {
                        return Err(self.err(&format!(
                            "expected ',' or '}}', found {}",
                            self.describe_here()
                        )))
                    }
                }
                self.expr()?;
                self.expect(b':', "':' after a dict key")?;
                self.expr()?;
                pairs += 1;
            }
            self.out.nodes[at] = Node::Dict {
                items: Self::count(pairs),
                size: self.size_from(at),
            };
        } else {
            let mut n = 1usize;
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    n += self.items(b'}', open_at)? as usize;
                }
                Some(b'}') => self.i += 1,
                None => return Err(self.unclosed(open_at)),
                _ => {
                    return Err(self.err(&format!(
                        "expected ',', ':' or '}}', found {}",
                        self.describe_here()
                    )))
                }
            }
            self.out.nodes[at] = Node::Set {
                items: Self::count(n),
                size: self.size_from(at),
            };
        }
        self.depth -= 1;
        Ok(())
    }

    /// A name: a keyword constant, `set()`, `nan`/`inf`, or a string prefix.
    fn word(&mut self) -> Result<Num> {
        let start = self.i;
        while self.peek().is_some_and(is_ident_char) {
            self.i += 1;
        }
        let word = &self.s[start..self.i];
        if matches!(self.peek(), Some(b'\'' | b'"')) && is_string_prefix(word) {
            self.i = start;
            self.strings()?;
            return Ok(Num::No);
        }
        let (node, kind) = match word {
            b"True" => (Node::Bool(true), Num::No),
            b"False" => (Node::Bool(false), Num::No),
            b"None" => (Node::None, Num::No),
            b"nan" => (Node::Float(f64::NAN), Num::Real),
            b"inf" => (Node::Float(f64::INFINITY), Num::Real),
            b"nanj" => (
                Node::Complex {
                    re: 0.0,
                    im: f64::NAN,
                },
                Num::Imag,
            ),
            b"infj" => (
                Node::Complex {
                    re: 0.0,
                    im: f64::INFINITY,
                },
                Num::Imag,
            ),
            b"set" => {
                self.skip_space(false);
                if self.peek() != Some(b'(') {
                    return Err(self.err_at(start, "the name 'set' is only allowed as 'set()'"));
                }
                self.i += 1;
                self.depth += 1;
                let r = self.expect(b')', "')': only 'set()' with no arguments is allowed");
                self.depth -= 1;
                r?;
                (Node::Set { items: 0, size: 0 }, Num::No)
            }
            _ => {
                let name = String::from_utf8_lossy(word);
                return Err(self.err_at(start, &format!("unexpected name {name:?}")));
            }
        };
        self.push(node);
        Ok(kind)
    }

    /// One or more adjacent string (or bytes) literals, concatenated into one node.
    fn strings(&mut self) -> Result<()> {
        let start = self.i;
        let arena_start = self.arena_pos();
        let mut is_bytes: Option<bool> = None;
        let mut info = LitInfo::default();
        loop {
            let lit_start = self.i;
            let (bytes, raw) = self.prefix()?;
            match is_bytes {
                Some(prev) if prev != bytes => {
                    return Err(self.err_at(lit_start, "cannot mix bytes and str literals"));
                }
                _ => is_bytes = Some(bytes),
            }
            self.string_body(bytes, raw, &mut info)?;
            // Adjacent literals concatenate; look past whitespace (and newlines in brackets).
            let save = self.i;
            self.skip_space(false);
            let at_string = match self.peek() {
                Some(b'\'' | b'"') => true,
                Some(b) if is_ident_start(b) => {
                    let mut j = self.i;
                    while self.s.get(j).copied().is_some_and(is_ident_char) {
                        j += 1;
                    }
                    matches!(self.s.get(j), Some(b'\'' | b'"'))
                        && is_string_prefix(&self.s[self.i..j])
                }
                _ => false,
            };
            if !at_string {
                self.i = save;
                break;
            }
        }
        let len = self.arena_pos() - arena_start;
        let node = if is_bytes == Some(true) {
            Node::Bytes {
                start: arena_start,
                len,
            }
        } else if info.named_escape {
            self.out.arena.truncate(arena_start as usize);
            self.out.arena.extend_from_slice(&self.s[start..self.i]);
            Node::PyStr {
                start: arena_start,
                len: self.arena_pos() - arena_start,
            }
        } else {
            Node::Str {
                start: arena_start,
                len,
                surrogates: info.surrogates,
            }
        };
        self.push(node);
        Ok(())
    }

    /// A string prefix, returning (is_bytes, is_raw).
    fn prefix(&mut self) -> Result<(bool, bool)> {
        let mut bytes = false;
        let mut raw = false;
        let start = self.i;
        while let Some(b) = self.peek() {
            match b.to_ascii_lowercase() {
                b'b' => bytes = true,
                b'r' => raw = true,
                b'u' => {}
                b'\'' | b'"' => break,
                _ => return Err(self.err_at(start, "unsupported string prefix")),
            }
            self.i += 1;
        }
        Ok((bytes, raw))
    }

    /// The body of one quoted literal, appended to the arena.
    ///
    /// Byte by byte with `\xNN` decoded inline: compressed masks are bytes literals made mostly
    /// of such escapes, and this loop is where a face header's parse time goes.
    fn string_body(&mut self, bytes: bool, raw: bool, info: &mut LitInfo) -> Result<()> {
        let s = self.s;
        let open_at = self.i;
        let q = s[self.i];
        let triple = s[self.i..].starts_with(&[q, q, q]);
        self.i += if triple { 3 } else { 1 };
        let body_start = self.i;
        let mut non_ascii = false;
        // After a block with something unusual in it, the byte-by-byte code takes that block:
        // trying a block at each unusual character made tab-filled text 18 times slower.
        let mut blocks_from = body_start;
        loop {
            // Fast run: printable ASCII and, in bytes, `\xNN`, with the cursor and the arena in
            // locals so they stay in registers. Anything else drops to the general code below.
            // Within four bytes of the end of the text, the general code takes over.
            let mut i = self.i;
            let mut buf = std::mem::take(&mut self.out.arena);
            let hex_ok = bytes && !raw;
            if hex_ok && i >= blocks_from {
                let (at, unusual) = bytes_blocks(s, i, q, &mut buf);
                i = at;
                if unusual {
                    blocks_from = at + 64;
                }
            }
            loop {
                match s.get(i..i + 4) {
                    Some(&[b'\\', b'x', h, l]) if hex_ok => {
                        let v = HEX[usize::from(h)] << 4 | HEX[usize::from(l)];
                        if v > 0xFF {
                            break;
                        }
                        buf.push(v as u8);
                        i += 4;
                    }
                    Some(&[c, ..]) if c != q && c != b'\\' && (0x20..0x7f).contains(&c) => {
                        buf.push(c);
                        i += 1;
                    }
                    _ => break,
                }
            }
            self.out.arena = buf;
            self.i = i;
            let Some(&c) = s.get(self.i) else {
                return Err(self.err_at(open_at, "string literal is never closed"));
            };
            match c {
                b'\\' => self.escape(bytes, raw, info)?,
                _ if c == q => {
                    if !triple || s[self.i..].starts_with(&[q, q, q]) {
                        self.i += if triple { 3 } else { 1 };
                        break;
                    }
                    self.out.arena.push(q);
                    self.i += 1;
                }
                b'\n' | b'\r' => {
                    if !triple {
                        return Err(self.err("newline inside a single-quoted string"));
                    }
                    // The tokenizer turns \r\n and \r into \n.
                    if c == b'\r' && s.get(self.i + 1) == Some(&b'\n') {
                        self.i += 1;
                    }
                    self.i += 1;
                    self.out.arena.push(b'\n');
                }
                0 => return Err(self.err("NUL byte in a string literal")),
                _ if c >= 0x80 => {
                    if bytes {
                        return Err(self.err("bytes literals may only contain ASCII characters"));
                    }
                    non_ascii = true;
                    self.out.arena.push(c);
                    self.i += 1;
                }
                _ => {
                    // Tabs and other control characters are kept as they are.
                    self.out.arena.push(c);
                    self.i += 1;
                }
            }
        }
        if non_ascii {
            if let Err(e) = std::str::from_utf8(&s[body_start..self.i]) {
                return Err(self.err_at(body_start + e.valid_up_to(), "invalid UTF-8 in a string"));
            }
        }
        Ok(())
    }

    // Kept out of line: inlined into string_body's loop it cost 2% more instructions per header.
    #[inline(never)]
    fn escape(&mut self, bytes: bool, raw: bool, info: &mut LitInfo) -> Result<()> {
        let at = self.i;
        let Some(&c) = self.s.get(self.i + 1) else {
            return Err(self.err_at(at, "string literal is never closed"));
        };
        let out = &mut self.out.arena;
        if raw {
            // In raw literals a backslash escapes nothing, but still keeps a quote or a newline
            // from ending the literal.
            out.push(b'\\');
            self.i += 1;
            match c {
                b'\n' | b'\\' | b'\'' | b'"' => {
                    out.push(c);
                    self.i += 1;
                }
                b'\r' => {
                    self.i += 1;
                    if self.s.get(self.i) == Some(&b'\n') {
                        self.i += 1;
                    }
                    out.push(b'\n');
                }
                _ => {}
            }
            return Ok(());
        }
        self.i += 2;
        match c {
            b'x' => {
                let hi = self.s.get(self.i).copied().and_then(hex_val);
                let lo = self.s.get(self.i + 1).copied().and_then(hex_val);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(self.err_at(at, "truncated \\x escape: expected 2 hex digits"));
                };
                self.i += 2;
                let v = hi * 16 + lo;
                if bytes {
                    out.push(v as u8);
                } else {
                    push_code_point(out, v, info);
                }
            }
            b'\n' => {}
            b'\r' => {
                if self.s.get(self.i) == Some(&b'\n') {
                    self.i += 1;
                }
            }
            _ if SIMPLE_ESCAPE[usize::from(c)] <= 0xFF => {
                out.push(SIMPLE_ESCAPE[usize::from(c)] as u8);
            }
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.s.get(self.i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            self.i += 1;
                        }
                        _ => break,
                    }
                }
                if bytes {
                    out.push((v & 0xFF) as u8);
                } else {
                    push_code_point(out, v, info);
                }
            }
            b'u' | b'U' if !bytes => {
                let n = if c == b'u' { 4 } else { 8 };
                let digits = self.s.get(self.i..self.i + n).unwrap_or(&[]);
                let mut v = 0u32;
                let mut ok = digits.len() == n;
                for &d in digits {
                    match hex_val(d) {
                        Some(h) => v = v.wrapping_mul(16).wrapping_add(h),
                        None => ok = false,
                    }
                }
                if !ok {
                    return Err(self.err_at(
                        at,
                        &format!("truncated \\{} escape: expected {n} hex digits", c as char),
                    ));
                }
                if v > 0x10FFFF {
                    return Err(self.err_at(at, "\\U escape beyond U+10FFFF"));
                }
                self.i += n;
                push_code_point(&mut self.out.arena, v, info);
            }
            b'N' if !bytes => {
                // \N{NAME}: needs the Unicode name table; Python decodes this literal.
                if self.peek() != Some(b'{') {
                    return Err(self.err_at(at, "malformed \\N character escape"));
                }
                let close = self.s[self.i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or_else(|| self.err_at(at, "malformed \\N character escape"))?;
                self.i += close + 1;
                info.named_escape = true;
            }
            _ => {
                // Unknown escapes keep the backslash (Python warns but accepts them).
                out.push(b'\\');
                self.i -= 1;
            }
        }
        Ok(())
    }

    /// Scan digits of `radix` with Python's underscore rule (single underscores between digits;
    /// with `after_prefix`, one may also come first, as in `0x_ff`). Returns whether any
    /// underscore was seen.
    fn scan_digits(&mut self, radix: u32, after_prefix: bool) -> Result<bool> {
        let begin = self.i;
        let rest = &self.s[begin..];
        // Decimal digits without underscores are the hot path (every landmark and identity
        // float): one tight scan, and the general loop only if an underscore turns up.
        let plain = if radix == 10 {
            rest.iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(rest.len())
        } else {
            rest.iter()
                .position(|&b| !(b as char).is_digit(radix))
                .unwrap_or(rest.len())
        };
        self.i += plain;
        if self.peek() != Some(b'_') {
            return Ok(false);
        }
        while let Some(b) = self.peek() {
            if b == b'_' || (b as char).is_digit(radix) {
                self.i += 1;
            } else {
                break;
            }
        }
        let run = &self.s[begin..self.i];
        if run.windows(2).any(|w| w == b"__")
            || run.last() == Some(&b'_')
            || (run.first() == Some(&b'_') && !after_prefix)
        {
            return Err(self.err_at(begin, "invalid number literal: misplaced '_'"));
        }
        Ok(true)
    }

    /// A number literal: int (any base), float, or imaginary. Pushes one node.
    fn number(&mut self) -> Result<Num> {
        let start = self.i;
        let s = self.s;
        if let Some(v) = self.plain_float(start) {
            self.push(Node::Float(v));
            return Ok(Num::Real);
        }
        // Based integers.
        if s[start] == b'0' {
            let radix = match s.get(start + 1).map(u8::to_ascii_lowercase) {
                Some(b'x') => 16,
                Some(b'o') => 8,
                Some(b'b') => 2,
                _ => 0,
            };
            if radix != 0 {
                self.i += 2;
                let us = self.scan_digits(radix, true)?;
                let digits = &s[start + 2..self.i];
                if digits.iter().all(|&b| b == b'_') {
                    return Err(self.err_at(start, "invalid number literal: no digits"));
                }
                self.end_of_number(start)?;
                self.push_int(digits, us, radix);
                return Ok(Num::Real);
            }
        }
        let mut us = self.scan_digits(10, false)?;
        let int_end = self.i;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.i += 1;
            if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                us |= self.scan_digits(10, false)?;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.err("invalid float literal: exponent has no digits"));
            }
            us |= self.scan_digits(10, false)?;
            is_float = true;
        }
        let imag = matches!(self.peek(), Some(b'j' | b'J'));
        let text_end = self.i;
        if imag {
            self.i += 1;
        }
        self.end_of_number(start)?;
        let span = &s[start..text_end];
        if is_float || imag {
            let owned;
            let text = if us {
                owned = span
                    .iter()
                    .filter(|&&b| b != b'_')
                    .map(|&b| b as char)
                    .collect::<String>();
                owned.as_str()
            } else {
                ascii_str(span)
            };
            let v: f64 = text
                .parse()
                .map_err(|_| self.err_at(start, "invalid float literal"))?;
            if imag {
                self.push(Node::Complex { re: 0.0, im: v });
                return Ok(Num::Imag);
            }
            self.push(Node::Float(v));
            return Ok(Num::Real);
        }
        let digits = &s[start..int_end];
        if digits.len() > 1 && digits[0] == b'0' && digits.iter().any(|&b| b != b'0' && b != b'_') {
            return Err(self.err_at(
                start,
                "leading zeros in decimal integer literals are not permitted",
            ));
        }
        self.push_int(digits, us, 10);
        Ok(Num::Real)
    }

    /// Push an int from its digit bytes (ASCII digits of `radix`, maybe with underscores).
    fn push_int(&mut self, digits: &[u8], underscores: bool, radix: u32) {
        let mut v: i64 = 0;
        let mut fits = true;
        for &b in digits {
            if b == b'_' {
                continue;
            }
            let d = i64::from((b as char).to_digit(radix).unwrap_or(0));
            match v
                .checked_mul(i64::from(radix))
                .and_then(|x| x.checked_add(d))
            {
                Some(n) => v = n,
                None => {
                    fits = false;
                    break;
                }
            }
        }
        if fits {
            self.push(Node::Int(v));
            return;
        }
        let start = self.arena_pos();
        if underscores {
            self.out.arena.extend(digits.iter().filter(|&&b| b != b'_'));
        } else {
            self.out.arena.extend_from_slice(digits);
        }
        let len = self.arena_pos() - start;
        self.push(Node::BigInt {
            start,
            len,
            radix: radix as u8,
            negative: false,
        });
    }

    /// A float item of a list (`12.5,` or `-0.25]`), pushed without the general expression
    /// code, which costs more than the number itself for the hundreds of landmark and
    /// identity floats in a face header. `false`, with nothing consumed, for anything else.
    fn list_float(&mut self, close: u8) -> bool {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        let digits = start + usize::from(negative);
        if !self.s.get(digits).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        let Some(v) = self.plain_float(digits) else {
            self.i = start;
            return false;
        };
        self.skip_space(false);
        if !matches!(self.peek(), Some(c) if c == b',' || c == close) {
            // `1.5+2j` and the like, or an error: the general code reads it again.
            self.i = start;
            return false;
        }
        self.push(Node::Float(if negative { -v } else { v }));
        true
    }

    /// The common float literal at `start` (see [`plain_float_at`]); moves past it.
    fn plain_float(&mut self, start: usize) -> Option<f64> {
        let (v, end) = plain_float_at(self.s, start)?;
        self.i = end;
        Some(v)
    }

    /// The float items that follow the one just read, each after exactly `", "` and followed by
    /// `,` or `close` (what `repr` writes), pushed in one loop that keeps its position in a
    /// register; returns how many. It stops before the first `", "` that is not followed by
    /// such an item, which the general code then reads.
    ///
    /// Through `&mut self`, each step of the general item loop stores and reloads the
    /// position, and a list of hundreds of floats (landmarks, identity vectors) waited on
    /// those round trips more than on the numbers.
    fn more_floats(&mut self, close: u8) -> usize {
        let s = self.s;
        let mut i = self.i;
        let mut count = 0;
        while s.get(i..i + 2) == Some(b", ") {
            let start = i + 2;
            let negative = s.get(start) == Some(&b'-');
            let Some((v, end)) = plain_float_at(s, start + usize::from(negative)) else {
                break;
            };
            if !matches!(s.get(end), Some(&c) if c == b',' || c == close) {
                break;
            }
            self.out
                .nodes
                .push(Node::Float(if negative { -v } else { v }));
            count += 1;
            i = end;
        }
        self.i = i;
        count
    }

    /// A number must not run straight into a name (`1abc`) or a stray digit.
    fn end_of_number(&self, start: usize) -> Result<()> {
        match self.peek() {
            Some(b) if is_ident_char(b) || b == b'.' => Err(self.err_at(
                start,
                &format!("invalid number literal ending in {}", self.describe_here()),
            )),
            _ => Ok(()),
        }
    }
}

#[derive(Default)]
struct LitInfo {
    surrogates: bool,
    named_escape: bool,
}

/// The common float literal (`12.5`, `3e-05`, as `repr` writes them) at `s[start..]`, unsigned,
/// in one pass: its value and where it ends; `None` to leave the text to the general code:
/// ints, underscores, imaginary numbers, a number running into a name, and every error.
///
/// Landmark and identity floats are most of a face header's tokens; scanning each once and
/// then handing the text to `str::parse` cost twice the work.
fn plain_float_at(s: &[u8], start: usize) -> Option<(f64, usize)> {
    // An int is digits only: look at the first byte after the leading digits (mostly one to
    // three of them), and leave ints to the general code without parsing them here.
    let rest = s.get(start..)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if !matches!(rest.get(digits), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let (v, len) = fast_float2::parse_partial::<f64, _>(rest).ok()?;
    let end = start + len;
    // `1e5` is a float, but in `1e` only the digits make a number (an int running on).
    let is_float = digits < len;
    let runs_on = s.get(end).is_some_and(|&b| is_ident_char(b) || b == b'.');
    (is_float && !runs_on).then_some((v, end))
}

fn is_string_prefix(word: &[u8]) -> bool {
    match word.len() {
        1 => matches!(word[0].to_ascii_lowercase(), b'r' | b'u' | b'b'),
        2 => {
            let (a, b) = (word[0].to_ascii_lowercase(), word[1].to_ascii_lowercase());
            matches!((a, b), (b'b', b'r') | (b'r', b'b'))
        }
        _ => false,
    }
}

/// Append a code point as UTF-8; surrogates use their 3-byte form (decoded by `surrogatepass`).
fn push_code_point(out: &mut Vec<u8>, v: u32, info: &mut LitInfo) {
    if let Some(ch) = char::from_u32(v) {
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    } else {
        // 0xD800..=0xDFFF: the generalized UTF-8 form, as `surrogatepass` expects.
        info.surrogates = true;
        out.push(0xE0 | (v >> 12) as u8);
        out.push(0x80 | ((v >> 6) & 0x3F) as u8);
        out.push(0x80 | (v & 0x3F) as u8);
    }
}

/// A number's text as `&str`. The span holds only bytes the number scanner matched (ASCII
/// digits, `.`, `e`, `E`, `+`, `-`), so it is valid UTF-8; `str::from_utf8` on each of a header's
/// ~650 short floats cost a twentieth of the parse.
fn ascii_str(span: &[u8]) -> &str {
    if !span.is_ascii() {
        return "";
    }
    // SAFETY: checked just above: ASCII bytes are valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(span) }
}

fn big_to_f64(negative: bool, digits: &[u8], radix: u32) -> Option<f64> {
    let text = std::str::from_utf8(digits).ok()?;
    let v = if radix == 10 {
        // Correctly rounded, as Python's int-to-float conversion is.
        text.parse::<f64>().ok()?
    } else {
        let mut v = 0f64;
        for d in text.chars() {
            v = v * f64::from(radix) + f64::from(d.to_digit(radix)?);
        }
        v
    };
    // Python raises OverflowError for ints beyond float range in a complex sum.
    if v.is_infinite() {
        return None;
    }
    Some(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        parse(s.as_bytes(), 64)
            .unwrap_or_else(|e| panic!("{s:?}: {}", e.message))
            .to_value()
    }

    fn bad(s: &str) -> Error {
        match parse(s.as_bytes(), 64) {
            Ok(v) => panic!("{s:?} parsed as {:?}", v.to_value()),
            Err(e) => e,
        }
    }

    fn st(s: &str) -> Value {
        Value::Str(Text::Utf8(s.to_string()))
    }

    #[test]
    fn scalars() {
        assert_eq!(p("None"), Value::None);
        assert_eq!(p("True"), Value::Bool(true));
        assert_eq!(p(" \t False"), Value::Bool(false));
        assert_eq!(p("..."), Value::Ellipsis);
        assert_eq!(p("42"), Value::Int(42));
        assert_eq!(p("-42"), Value::Int(-42));
        assert_eq!(p("- 42"), Value::Int(-42));
        assert_eq!(p("+7"), Value::Int(7));
        assert_eq!(p("1_000"), Value::Int(1000));
        assert_eq!(p("0x_ff"), Value::Int(255));
        assert_eq!(p("0o17"), Value::Int(15));
        assert_eq!(p("0B101"), Value::Int(5));
        assert_eq!(p("000"), Value::Int(0));
        assert_eq!(p("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(
            p("99999999999999999999"),
            Value::BigInt {
                negative: false,
                digits: "99999999999999999999".into(),
                radix: 10
            }
        );
        assert_eq!(p("1.5"), Value::Float(1.5));
        assert_eq!(p("1."), Value::Float(1.0));
        assert_eq!(p(".5"), Value::Float(0.5));
        assert_eq!(p("1e3"), Value::Float(1000.0));
        assert_eq!(p("1.e3"), Value::Float(1000.0));
        assert_eq!(p("2.5E-3"), Value::Float(0.0025));
        assert_eq!(p("01.5"), Value::Float(1.5));
        assert_eq!(p("1e400"), Value::Float(f64::INFINITY));
        assert_eq!(p("-inf"), Value::Float(f64::NEG_INFINITY));
        assert!(matches!(p("nan"), Value::Float(f) if f.is_nan()));
        assert_eq!(p("2j"), Value::Complex(0.0, 2.0));
        assert_eq!(p("1+2j"), Value::Complex(1.0, 2.0));
        assert_eq!(p("(-1-2.5j)"), Value::Complex(-1.0, -2.5));
        assert_eq!(p("-(1)"), Value::Int(-1));
        assert_eq!(p("(((3)))"), Value::Int(3));
    }

    #[test]
    fn strings() {
        assert_eq!(p("'a'"), st("a"));
        assert_eq!(p("\"it's\""), st("it's"));
        assert_eq!(p("'a' \"b\" '''c'''"), st("abc"));
        assert_eq!(
            p(r"'\n\t\\\'\x41\101\u00e9\U0001F600'"),
            st("\n\t\\'AA\u{e9}\u{1F600}")
        );
        assert_eq!(p(r"'\d'"), st("\\d"));
        assert_eq!(p(r"r'\n\''"), st("\\n\\'"));
        assert_eq!(p("'''a\r\nb'''"), st("a\nb"));
        assert_eq!(p("'é'"), st("é"));
        assert_eq!(p(r"b'\x00\xff\n'"), Value::Bytes(vec![0, 255, 10]));
        assert_eq!(p(r"b'a' B'b' rb'\x'"), Value::Bytes(b"ab\\x".to_vec()));
        assert_eq!(
            p(r"'\ud800'"),
            Value::Str(Text::Surrogates(vec![0xED, 0xA0, 0x80]))
        );
        assert!(matches!(p(r"'\N{BULLET}'"), Value::PyStr(_)));
    }

    /// A small deterministic generator, so the tests need no extra crate.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        /// A block for the 64-byte decoder (64 bytes and the 3 it may read past them) of
        /// bytes drawn from `alphabet`.
        fn block(&mut self, alphabet: &[u8]) -> [u8; 67] {
            let mut block = [0u8; 67];
            for b in block.iter_mut() {
                *b = alphabet[self.next() as usize % alphabet.len()];
            }
            block
        }
    }

    /// Write `data` as a bytes literal the way the rule allows: printable bytes as themselves,
    /// the others as `\xNN` (`upper` picks the hex case) or, with `named`, `\t` and company.
    fn bytes_literal(data: &[u8], named: bool, upper: bool) -> String {
        let mut text = String::from("b'");
        for &b in data {
            match b {
                b'\\' => text.push_str("\\\\"),
                b'\'' => text.push_str("\\'"),
                b'\t' if named => text.push_str("\\t"),
                b'\n' if named => text.push_str("\\n"),
                0x07 if named => text.push_str("\\a"),
                0x20..=0x7e => text.push(b as char),
                _ if upper => text.push_str(&format!("\\x{b:02X}")),
                _ => text.push_str(&format!("\\x{b:02x}")),
            }
        }
        text.push('\'');
        text
    }

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

    #[test]
    fn long_bytes_literals_decode_to_their_bytes() {
        // Long enough for the 64-byte blocks, with every byte value, escapes split across
        // block ends at every offset, and bodies of each kind.
        let mut rng = Lcg(11);
        for case in 0..3_000 {
            let len = (rng.next() % 400) as usize;
            let data: Vec<u8> = match case % 4 {
                0 => (0..len).map(|_| rng.next() as u8).collect(),
                1 => (0..len)
                    .map(|_| b"\\x'a\t"[(rng.next() % 5) as usize])
                    .collect(),
                2 => (0..len).map(|_| (rng.next() % 0x60 + 0x20) as u8).collect(),
                _ => (0..len).map(|i| (i % 256) as u8).collect(),
            };
            let text = bytes_literal(&data, case % 3 == 0, case % 5 == 0);
            assert_eq!(p(&text), Value::Bytes(data.clone()), "{text}");
            // The same literal inside a list, followed by more text.
            let listed = format!("[{text}, 1]");
            assert_eq!(
                p(&listed),
                Value::List(vec![Value::Bytes(data), Value::Int(1)]),
                "{listed}"
            );
        }
    }

    #[test]
    fn long_bytes_literals_with_rare_escapes_and_errors() {
        let body = "\\x41".repeat(40);
        let a40 = vec![b'A'; 40];
        // Octal, unknown and line-continuation escapes, a raw prefix, a quote in a triple.
        let octal = format!("b'{body}\\101{body}'");
        assert_eq!(p(&octal), Value::Bytes(vec![b'A'; 81]));
        let unknown = format!("b'{body}\\q{body}'");
        let expected = [a40.clone(), b"\\q".to_vec(), a40.clone()].concat();
        assert_eq!(p(&unknown), Value::Bytes(expected));
        let continued = format!("b'{body}\\\n{body}'");
        assert_eq!(p(&continued), Value::Bytes(vec![b'A'; 80]));
        let raw = format!("rb'{body}'");
        assert_eq!(p(&raw), Value::Bytes(body.clone().into_bytes()));
        let triple = format!("b'''{body}'{body}'''");
        let expected = [a40.clone(), b"'".to_vec(), a40].concat();
        assert_eq!(p(&triple), Value::Bytes(expected));
        assert_eq!(bad(&format!("b'{body}\\xZ1{body}'")).offset, Some(162));
        assert!(bad(&format!("b'{body}é{body}'"))
            .to_string()
            .contains("ASCII"));
        assert!(bad(&format!("b'{body}\n{body}'"))
            .to_string()
            .contains("newline"));
        assert!(bad(&format!("b'{body}{body}"))
            .to_string()
            .contains("never closed"));
    }

    #[test]
    fn skip_jumps_over_whole_subtrees() {
        // Against counting items node by node, for every node of nested values, bare and
        // parenthesised tuples (whose node is inserted before their first item) and sets.
        let texts = [
            "{'a': [1, (2, 3), {4: {5}}], 'b': ((), [], {}, set()), 'c': -1.5}",
            "1, [2, 3], (4, (5, 6)), {7: 8}",
            "([1, 2], 3), 4",
            "[[[[]]], [[1], [2, [3, [4]]]], {1, 2, (3, 4)}]",
        ];
        for text in texts {
            let parsed = parse(text.as_bytes(), 64).unwrap_or_default();
            assert!(!parsed.nodes.is_empty(), "{text}");
            for i in 0..parsed.nodes.len() {
                let mut end = i;
                let mut pending = 1usize;
                while pending > 0 {
                    pending = pending - 1
                        + match parsed.nodes[end] {
                            Node::List { items: n, .. }
                            | Node::Tuple { items: n, .. }
                            | Node::Set { items: n, .. } => n as usize,
                            Node::Dict { items: n, .. } => 2 * n as usize,
                            _ => 0,
                        };
                    end += 1;
                }
                assert_eq!(parsed.skip(i), end, "{text} node {i}");
            }
        }
    }

    #[test]
    fn containers() {
        assert_eq!(p("[]"), Value::List(vec![]));
        assert_eq!(p("()"), Value::Tuple(vec![]));
        assert_eq!(p("(1,)"), Value::Tuple(vec![Value::Int(1)]));
        assert_eq!(p("1, 2"), Value::Tuple(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(p("{}"), Value::Dict(vec![]));
        assert_eq!(p("set()"), Value::Set(vec![]));
        assert_eq!(p("{1, 2,}"), Value::Set(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(
            p("{'a': [1, (2, 3)],\n 'b': {}}  # done\n"),
            Value::Dict(vec![
                (
                    st("a"),
                    Value::List(vec![
                        Value::Int(1),
                        Value::Tuple(vec![Value::Int(2), Value::Int(3)])
                    ])
                ),
                (st("b"), Value::Dict(vec![])),
            ])
        );
    }

    #[test]
    fn rejects_what_literal_eval_rejects() {
        for s in [
            "",
            "1 +",
            "[1, 2",
            "{'a' 1}",
            "x",
            "01",
            "1__0",
            "1_",
            "--1",
            "-True",
            "1+2",
            "2j+1",
            "'a' b'b'",
            "'abc",
            "'a\nb'",
            "f'x'",
            "set(1)",
            "{1: 2, 3}",
            "1\n2",
            "b'\u{e9}'",
            "[1 2]",
            "(1 2)",
            "1 if 2 else 3",
            "1abc",
            "0x",
            "1e",
            "(1,)(2,)",
        ] {
            bad(s);
        }
    }

    #[test]
    fn error_offsets_point_at_the_problem() {
        let e = bad("{'a': 1 'b': 2}");
        assert_eq!(e.offset, Some(8));
        assert!(e.message.contains("expected ',' or '}'"), "{}", e.message);
        let e = bad("[1, 2");
        assert!(e.message.contains("never closed"), "{}", e.message);
    }

    #[test]
    fn depth_limit() {
        let ok = "[".repeat(64) + &"]".repeat(64);
        parse(ok.as_bytes(), 64).unwrap();
        let deep = "[".repeat(65) + &"]".repeat(65);
        let e = parse(deep.as_bytes(), 64).unwrap_err();
        assert!(
            e.message.contains("nesting deeper than 64"),
            "{}",
            e.message
        );
        let hostile = "(".repeat(1_000_000);
        assert!(parse(hostile.as_bytes(), 64).is_err());
    }

    #[test]
    fn invalid_utf8_and_nul() {
        assert!(parse(b"'\xff'", 64).is_err());
        assert!(parse(b"'a\0'", 64).is_err());
    }
}
