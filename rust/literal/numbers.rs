//! Number literals: ints in any base and of any size (big ints keep their digits for Python),
//! floats (with a one-pass path for the `repr` floats that fill a face header), imaginary
//! numbers, the `real + imaginary` sum, and unary minus on each.

use super::grammar::{is_ident_char, Num, Parser};
use super::tape::Node;
use crate::error::Result;

impl Parser<'_> {
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
    pub(super) fn number(&mut self) -> Result<Num> {
        let start = self.i;
        if let Some(v) = self.plain_float(start) {
            self.push(Node::Float(v));
            return Ok(Num::Real);
        }
        if self.s[start] == b'0' {
            let radix = match self.s.get(start + 1).map(u8::to_ascii_lowercase) {
                Some(b'x') => 16,
                Some(b'o') => 8,
                Some(b'b') => 2,
                _ => 0,
            };
            if radix != 0 {
                self.based_int(start, radix)?;
                return Ok(Num::Real);
            }
        }
        self.decimal(start)
    }

    /// An int with a `0x`, `0o` or `0b` prefix (of `radix`) at `start`.
    fn based_int(&mut self, start: usize, radix: u32) -> Result<()> {
        self.i += 2;
        let us = self.scan_digits(radix, true)?;
        let digits = &self.s[start + 2..self.i];
        if digits.iter().all(|&b| b == b'_') {
            return Err(self.err_at(start, "invalid number literal: no digits"));
        }
        self.end_of_number(start)?;
        self.push_int(start, digits, us, radix);
        Ok(())
    }

    /// A decimal int, float or imaginary number at `start`, which `plain_float` left.
    fn decimal(&mut self, start: usize) -> Result<Num> {
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
        if is_float || imag {
            return self.push_float(start, text_end, us, imag);
        }
        let digits = &self.s[start..int_end];
        if digits.len() > 1 && digits[0] == b'0' && digits.iter().any(|&b| b != b'0' && b != b'_') {
            return Err(self.err_at(
                start,
                "leading zeros in decimal integer literals are not permitted",
            ));
        }
        self.push_int(start, digits, us, 10);
        Ok(Num::Real)
    }

    /// Push the float (or, with `imag`, the imaginary number) whose text is `start..end`,
    /// with `underscores` in it or not.
    fn push_float(
        &mut self,
        start: usize,
        end: usize,
        underscores: bool,
        imag: bool,
    ) -> Result<Num> {
        let span = &self.s[start..end];
        let owned;
        let text = if underscores {
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
        Ok(Num::Real)
    }

    /// Push an int from its digit bytes (ASCII digits of `radix`, maybe with underscores); its
    /// literal starts at `at`.
    fn push_int(&mut self, at: usize, digits: &[u8], underscores: bool, radix: u32) {
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
            at: Self::count(at),
        });
    }

    /// A float item of a list (`12.5,` or `-0.25]`), pushed without the general expression
    /// code, which costs more than the number itself for the hundreds of landmark and
    /// identity floats in a face header. `false`, with nothing consumed, for anything else.
    pub(super) fn list_float(&mut self, close: u8) -> bool {
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
    pub(super) fn more_floats(&mut self, close: u8) -> usize {
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

    /// Negate the number node just pushed (a unary minus before it), whose literal starts at
    /// `at`.
    pub(super) fn negate_last(&mut self, at: usize) {
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
                        at: Self::count(at),
                    }
                }
            },
            Node::BigInt {
                start,
                len,
                radix,
                negative,
                at,
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
                        at,
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

    /// Replace the last two nodes, a real (from `start`) and an imaginary number (from `at`),
    /// by their sum (`add`) or difference.
    pub(super) fn complex_sum(&mut self, add: bool, start: usize, at: usize) -> Result<()> {
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
                ..
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
        Ok(())
    }
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
        pow2_digits_to_f64(digits, radix)?
    };
    // Python raises OverflowError for ints beyond float range in a complex sum.
    if v.is_infinite() {
        return None;
    }
    Some(if negative { -v } else { v })
}

/// The value of digits in a power-of-two `radix` (2, 8 or 16), rounded to nearest, ties to even,
/// as Python converts an int to float. Multiplying digit by digit in f64 rounds at every step
/// and can end an ulp off once the value passes 2^53.
fn pow2_digits_to_f64(digits: &[u8], radix: u32) -> Option<f64> {
    let bits_per_digit = radix.trailing_zeros();
    // The value's top 64 bits in `top`; every bit below them only decides `sticky`.
    let mut top = 0u64;
    let mut width = 0u32; // significant bits read so far
    let mut sticky = false;
    for &b in digits {
        let d = u64::from((b as char).to_digit(radix)?);
        for k in (0..bits_per_digit).rev() {
            let bit = (d >> k) & 1;
            if width == 0 && bit == 0 {
                continue; // leading zeros
            }
            if width < 64 {
                top = top << 1 | bit;
            } else {
                sticky |= bit == 1;
            }
            width = width.saturating_add(1);
        }
    }
    if width <= 64 {
        // Exact in u64; `as` rounds to nearest, ties to even.
        return Some(top as f64);
    }
    // With the lost bits folded into the lowest one, rounding the 64 kept bits to 53 gives
    // the correctly rounded result: that bit lies far below the rounding position.
    let mantissa = (top | u64::from(sticky)) as f64;
    let shift = i32::try_from(width - 64).ok()?;
    // 2^shift is exact up to 2^1023; past that the value overflows anyway.
    Some(if shift > 1023 {
        f64::INFINITY
    } else {
        mantissa * 2f64.powi(shift)
    })
}
