//! String and bytes literals: prefixes, quotes (single and triple), implicit concatenation,
//! every escape `ast.literal_eval` knows, and the checks on what a body may hold (UTF-8 in str,
//! ASCII in bytes, no NUL, no bare newline in a single-quoted literal). Long bytes bodies go to
//! the block decoder in `simd`.

use super::grammar::{is_ident_char, is_ident_start, Parser};
use super::simd::bytes_blocks;
use super::tape::Node;
use crate::error::Result;

/// Hex digit values; 0x100 marks a non-digit (so a bad pair shows as a value above 0xFF).
pub(super) const HEX: [u16; 256] = {
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
pub(super) const SIMPLE_ESCAPE: [u16; 256] = {
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

fn hex_val(b: u8) -> Option<u32> {
    let v = HEX[usize::from(b)];
    (v < 16).then_some(u32::from(v))
}

/// What the literals of one string node turned out to need.
#[derive(Default)]
struct LitInfo {
    surrogates: bool,
    named_escape: bool,
}

pub(super) fn is_string_prefix(word: &[u8]) -> bool {
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

impl Parser<'_> {
    /// One or more adjacent string (or bytes) literals, concatenated into one node.
    pub(super) fn strings(&mut self) -> Result<()> {
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
            if !self.at_string() {
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
            Node::PyStr {
                start: arena_start,
                len,
                at: Self::count(start),
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

    /// Whether a string literal (with or without a prefix) starts here.
    fn at_string(&self) -> bool {
        match self.peek() {
            Some(b'\'' | b'"') => true,
            Some(b) if is_ident_start(b) => {
                let mut j = self.i;
                while self.s.get(j).copied().is_some_and(is_ident_char) {
                    j += 1;
                }
                matches!(self.s.get(j), Some(b'\'' | b'"')) && is_string_prefix(&self.s[self.i..j])
            }
            _ => false,
        }
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
            self.fast_run(bytes && !raw, q, &mut blocks_from);
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
                b'\n' | b'\r' => self.body_newline(c, triple)?,
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

    /// The fast run of a literal's body: printable ASCII and, where `hex_ok` (a non-raw bytes
    /// literal), `\xNN`, with the cursor and the arena in locals so they stay in registers. It
    /// stops at anything else, and within four bytes of the end of the text, for the general
    /// code in `string_body`.
    #[inline(always)]
    fn fast_run(&mut self, hex_ok: bool, q: u8, blocks_from: &mut usize) {
        let s = self.s;
        let mut i = self.i;
        let mut buf = std::mem::take(&mut self.out.arena);
        if hex_ok && i >= *blocks_from {
            let (at, unusual) = bytes_blocks(s, i, q, &mut buf);
            i = at;
            if unusual {
                *blocks_from = at + 64;
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
    }

    /// A newline byte `c` inside a literal's body: an error unless the literal is `triple`
    /// quoted.
    fn body_newline(&mut self, c: u8, triple: bool) -> Result<()> {
        if !triple {
            return Err(self.err("newline inside a single-quoted string"));
        }
        // The tokenizer turns \r\n and \r into \n.
        if c == b'\r' && self.s.get(self.i + 1) == Some(&b'\n') {
            self.i += 1;
        }
        self.i += 1;
        self.out.arena.push(b'\n');
        Ok(())
    }

    // Kept out of line: inlined into string_body's loop it cost 2% more instructions per header.
    #[inline(never)]
    fn escape(&mut self, bytes: bool, raw: bool, info: &mut LitInfo) -> Result<()> {
        let at = self.i;
        let Some(&c) = self.s.get(self.i + 1) else {
            return Err(self.err_at(at, "string literal is never closed"));
        };
        if raw {
            self.raw_escape(c);
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
                self.push_escaped(hi * 16 + lo, bytes, info);
            }
            b'\n' => {}
            b'\r' => {
                if self.s.get(self.i) == Some(&b'\n') {
                    self.i += 1;
                }
            }
            _ if SIMPLE_ESCAPE[usize::from(c)] <= 0xFF => {
                self.out.arena.push(SIMPLE_ESCAPE[usize::from(c)] as u8);
            }
            b'0'..=b'7' => {
                let v = self.octal_escape(c);
                self.push_escaped(v, bytes, info);
            }
            b'u' | b'U' if !bytes => self.unicode_escape(at, c, info)?,
            b'N' if !bytes => self.named_escape(at, info)?,
            _ => {
                // Unknown escapes keep the backslash (Python warns but accepts them).
                self.out.arena.push(b'\\');
                self.i -= 1;
            }
        }
        Ok(())
    }

    /// A backslash and then `c` in a raw literal: the backslash escapes nothing, but still
    /// keeps a quote or a newline from ending the literal.
    fn raw_escape(&mut self, c: u8) {
        let out = &mut self.out.arena;
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
    }

    /// A `\x` or octal escape's value: a byte in bytes literals (octal above `\377` wraps, as
    /// in Python), a code point in str.
    fn push_escaped(&mut self, v: u32, bytes: bool, info: &mut LitInfo) {
        if bytes {
            self.out.arena.push((v & 0xFF) as u8);
        } else {
            push_code_point(&mut self.out.arena, v, info);
        }
    }

    /// An octal escape whose first digit `c` is read: up to two more digits; its value.
    fn octal_escape(&mut self, c: u8) -> u32 {
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
        v
    }

    /// `\uXXXX` or `\UXXXXXXXX` (`c` is the `u` or `U`), whose backslash is at `at`.
    fn unicode_escape(&mut self, at: usize, c: u8, info: &mut LitInfo) -> Result<()> {
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
        Ok(())
    }

    /// `\N{NAME}`, whose backslash is at `at`: it needs the Unicode name table, so Python
    /// looks the name up when the string is built; here it is checked for the characters a
    /// name can have and kept between two 0xFF markers (see [`Node::PyStr`]).
    fn named_escape(&mut self, at: usize, info: &mut LitInfo) -> Result<()> {
        if self.peek() != Some(b'{') {
            return Err(self.err_at(at, "malformed \\N character escape"));
        }
        let from = self.i + 1;
        // Unicode names and their aliases use only these characters (Python's lookup ignores
        // case); anything else before the `}` cannot name a character.
        let len = self.s[from..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b' ' || b == b'-'))
            .unwrap_or(self.s.len() - from);
        let end = from + len;
        if len == 0 || self.s.get(end) != Some(&b'}') {
            return Err(self.err_at(at, "malformed or unknown \\N{...} character name"));
        }
        let out = &mut self.out.arena;
        out.push(0xFF);
        out.extend_from_slice(&self.s[from..end]);
        out.push(0xFF);
        self.i = end + 1;
        info.named_escape = true;
        Ok(())
    }
}
