//! The faceswap payload parser: Python-literal text (what `str(dict)` prints) into [`Value`]s.
//!
//! It accepts what `ast.literal_eval` accepts: dict, list, tuple, set (and `set()`), str and bytes
//! with every prefix, quote style, escape and implicit concatenation, int in any base and of any
//! size, float, complex (`1+2j`), `True`/`False`/`None`/`...`, unary signs, parentheses and
//! comments. On top of that it reads `nan`, `inf` (and `infj`, `nanj`), which `str()` prints for
//! non-finite floats and faceswap itself cannot read back. Nesting is capped (limits.rs), so
//! hostile input cannot exhaust the stack.
//!
//! Errors carry the byte offset into the text and what was expected there.

use crate::error::{Error, Result};

/// A string's content. Python strings may hold lone surrogates (`'\ud800'`), which Rust's `String`
/// cannot; those are kept as UTF-8 with the surrogates encoded as 3-byte sequences, to be decoded
/// with Python's `surrogatepass`.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Utf8(String),
    Surrogates(Vec<u8>),
}

/// A parsed Python literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Ellipsis,
    Bool(bool),
    Int(i64),
    /// An int that does not fit in i64: its digits (no sign, no underscores) and radix.
    BigInt {
        negative: bool,
        digits: String,
        radix: u32,
    },
    Float(f64),
    Complex(f64, f64),
    Str(Text),
    /// A string that needs Python itself to decode (it uses `\N{name}` escapes): the literal's
    /// source text, for `ast.literal_eval`.
    PyStr(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Set(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

/// Parse a whole payload. `max_depth` caps container and parenthesis nesting.
pub fn parse(text: &[u8], max_depth: usize) -> Result<Value> {
    if let Some(at) = text.iter().position(|&b| b == 0) {
        return Err(Error::syntax(at as u64, "NUL byte in the payload"));
    }
    if let Err(e) = std::str::from_utf8(text) {
        return Err(Error::syntax(
            e.valid_up_to() as u64,
            "payload is not valid UTF-8",
        ));
    }
    let mut p = Parser {
        s: text,
        i: 0,
        depth: 0,
        max_depth,
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
    let first = p.expr()?;
    p.skip_space(false);
    let value = if p.peek() == Some(b',') {
        // A bare tuple at the top level: `1, 2`.
        p.sequence_tail(first, None)?
    } else {
        first
    };
    let end_of_value = p.i;
    p.skip_space(true);
    if p.i < p.s.len() {
        return Err(p.err(&format!(
            "expected the end of the payload, found {}",
            p.describe_here()
        )));
    }
    // Python's tokenizer rejects a last line of only spaces or tabs with no newline after it.
    if p.s[end_of_value..].iter().any(|&b| b == b'\n' || b == b'\r') && p.indented_line(p.i) {
        return Err(p.err("unexpected indent at the end of the payload"));
    }
    Ok(value)
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
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
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
    fn skip_space(&mut self, newlines: bool) {
        let nl_ok = newlines || self.depth > 0;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\x0c' => self.i += 1,
                b'\n' | b'\r' if nl_ok => self.i += 1,
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' || c == b'\r' {
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

    /// An expression: an operand, optionally `real (+|-) imaginary`.
    fn expr(&mut self) -> Result<Value> {
        let start = self.i;
        let (left, kind) = self.operand()?;
        self.skip_space(false);
        let op = match self.peek() {
            Some(b'+') => 1.0,
            Some(b'-') => -1.0,
            _ => return Ok(left),
        };
        if !matches!(kind, Num::Real | Num::SignedReal) {
            return Err(
                self.err("'+' and '-' are only allowed between a real and an imaginary number")
            );
        }
        self.i += 1;
        self.skip_space(false);
        let at = self.i;
        let (right, rkind) = self.operand()?;
        if rkind != Num::Imag {
            return Err(self.err_at(
                at,
                "expected an imaginary number (like 2j) after '+' or '-'",
            ));
        }
        let re = match left {
            Value::Int(v) => v as f64,
            Value::Float(v) => v,
            Value::BigInt {
                negative,
                ref digits,
                radix,
            } => big_to_f64(negative, digits, radix)
                .ok_or_else(|| self.err_at(start, "integer too large to convert to float"))?,
            _ => return Err(self.err_at(start, "expected a real number")),
        };
        let Value::Complex(cr, ci) = right else {
            return Err(self.err_at(at, "expected an imaginary number"));
        };
        // Python widens the real to complex(re, 0.0) and then adds part by part, which fixes
        // the sign of zero parts: 1-0j is (1+0j).
        Ok(if op > 0.0 {
            Value::Complex(re + cr, 0.0 + ci)
        } else {
            Value::Complex(re - cr, 0.0 - ci)
        })
    }

    /// A single operand: an atom or a signed number.
    fn operand(&mut self) -> Result<(Value, Num)> {
        self.skip_space(false);
        match self.peek() {
            Some(sign @ (b'-' | b'+')) => {
                self.i += 1;
                self.skip_space(false);
                let at = self.i;
                let (v, kind) = self.atom()?;
                if !matches!(kind, Num::Real | Num::Imag) {
                    return Err(self.err_at(at, "a sign must be followed by a number"));
                }
                let v = if sign == b'-' { negate(v) } else { v };
                let kind = if kind == Num::Real {
                    Num::SignedReal
                } else {
                    Num::Other
                };
                Ok((v, kind))
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<(Value, Num)> {
        self.skip_space(false);
        let Some(b) = self.peek() else {
            return Err(self.err("expected a value, found the end of the payload"));
        };
        match b {
            b'{' => Ok((self.brace()?, Num::No)),
            b'[' => {
                let start = self.i;
                self.i += 1;
                self.enter(start)?;
                let items = self.items(b']', start)?;
                self.depth -= 1;
                Ok((Value::List(items), Num::No))
            }
            b'(' => self.paren(),
            b'\'' | b'"' => Ok((self.strings()?, Num::No)),
            b'0'..=b'9' => self.number(),
            b'.' => {
                if self.s[self.i..].starts_with(b"...") {
                    self.i += 3;
                    Ok((Value::Ellipsis, Num::No))
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

    /// Items up to `close`, comma-separated, trailing comma allowed.
    fn items(&mut self, close: u8, open_at: usize) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            self.skip_space(false);
            match self.peek() {
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(out);
                }
                None => return Err(self.unclosed(open_at)),
                _ => {}
            }
            out.push(self.expr()?);
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

    /// After `first` and a comma: the rest of a tuple, up to `close` (or the end, at top level).
    fn sequence_tail(&mut self, first: Value, close: Option<(u8, usize)>) -> Result<Value> {
        let mut out = vec![first];
        loop {
            // We are at a comma.
            self.i += 1;
            self.skip_space(false);
            match (self.peek(), close) {
                (Some(c), Some((cl, _))) if c == cl => {
                    self.i += 1;
                    return Ok(Value::Tuple(out));
                }
                (None, Some((_, at))) => return Err(self.unclosed(at)),
                (None | Some(b'\n' | b'\r' | b'#'), None) => return Ok(Value::Tuple(out)),
                _ => {}
            }
            out.push(self.expr()?);
            self.skip_space(false);
            match (self.peek(), close) {
                (Some(b','), _) => {}
                (Some(c), Some((cl, _))) if c == cl => {
                    self.i += 1;
                    return Ok(Value::Tuple(out));
                }
                (None, Some((_, at))) => return Err(self.unclosed(at)),
                (_, None) => return Ok(Value::Tuple(out)),
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
    fn paren(&mut self) -> Result<(Value, Num)> {
        let open_at = self.i;
        self.i += 1;
        self.enter(open_at)?;
        self.skip_space(false);
        if self.peek() == Some(b')') {
            self.i += 1;
            self.depth -= 1;
            return Ok((Value::Tuple(Vec::new()), Num::No));
        }
        // Grouping keeps what the inner expression is: `-(1)` is a signed constant.
        let inner_start = self.i;
        let (first, kind) = self.operand()?;
        self.skip_space(false);
        let result = match self.peek() {
            Some(b')') => {
                self.i += 1;
                (first, kind)
            }
            Some(b',') => (self.sequence_tail(first, Some((b')', open_at)))?, Num::No),
            Some(b'+' | b'-') => {
                // A complex sum inside parentheses: re-parse it as an expression.
                self.i = inner_start;
                let v = self.expr()?;
                self.skip_space(false);
                match self.peek() {
                    Some(b')') => {
                        self.i += 1;
                        (v, Num::Other)
                    }
                    Some(b',') => (self.sequence_tail(v, Some((b')', open_at)))?, Num::No),
                    None => return Err(self.unclosed(open_at)),
                    _ => {
                        return Err(self.err(&format!(
                            "expected ',' or ')', found {}",
                            self.describe_here()
                        )))
                    }
                }
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
    fn brace(&mut self) -> Result<Value> {
        let open_at = self.i;
        self.i += 1;
        self.enter(open_at)?;
        self.skip_space(false);
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Value::Dict(Vec::new()));
        }
        let first = self.expr()?;
        self.skip_space(false);
        let out = if self.peek() == Some(b':') {
            self.i += 1;
            let v = self.expr()?;
            let mut pairs = vec![(first, v)];
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
                let k = self.expr()?;
                self.expect(b':', "':' after a dict key")?;
                let v = self.expr()?;
                pairs.push((k, v));
            }
            Value::Dict(pairs)
        } else {
            let mut items = vec![first];
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    items.extend(self.items(b'}', open_at)?);
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
            Value::Set(items)
        };
        self.depth -= 1;
        Ok(out)
    }

    /// A name: a keyword constant, `set()`, `nan`/`inf`, or a string prefix.
    fn word(&mut self) -> Result<(Value, Num)> {
        let start = self.i;
        while self.peek().is_some_and(is_ident_char) {
            self.i += 1;
        }
        let word = &self.s[start..self.i];
        if matches!(self.peek(), Some(b'\'' | b'"')) && is_string_prefix(word) {
            self.i = start;
            return Ok((self.strings()?, Num::No));
        }
        let v = match word {
            b"True" => (Value::Bool(true), Num::No),
            b"False" => (Value::Bool(false), Num::No),
            b"None" => (Value::None, Num::No),
            b"nan" => (Value::Float(f64::NAN), Num::Real),
            b"inf" => (Value::Float(f64::INFINITY), Num::Real),
            b"nanj" => (Value::Complex(0.0, f64::NAN), Num::Imag),
            b"infj" => (Value::Complex(0.0, f64::INFINITY), Num::Imag),
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
                (Value::Set(Vec::new()), Num::No)
            }
            _ => {
                let name = String::from_utf8_lossy(word);
                return Err(self.err_at(start, &format!("unexpected name {name:?}")));
            }
        };
        Ok(v)
    }

    /// One or more adjacent string (or bytes) literals, concatenated.
    fn strings(&mut self) -> Result<Value> {
        let start = self.i;
        let mut is_bytes: Option<bool> = None;
        let mut text: Vec<u8> = Vec::new();
        let mut surrogates = false;
        let mut needs_python = false;
        loop {
            let lit_start = self.i;
            let (bytes, raw) = self.prefix()?;
            match is_bytes {
                Some(prev) if prev != bytes => {
                    return Err(self.err_at(lit_start, "cannot mix bytes and str literals"));
                }
                _ => is_bytes = Some(bytes),
            }
            let lit = self.string_body(bytes, raw, &mut text)?;
            surrogates |= lit.surrogates;
            needs_python |= lit.named_escape;
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
        if is_bytes == Some(true) {
            return Ok(Value::Bytes(text));
        }
        if needs_python {
            let src = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            return Ok(Value::PyStr(src));
        }
        if surrogates {
            return Ok(Value::Str(Text::Surrogates(text)));
        }
        match String::from_utf8(text) {
            Ok(s) => Ok(Value::Str(Text::Utf8(s))),
            Err(e) => Ok(Value::Str(Text::Surrogates(e.into_bytes()))),
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

    /// The body of one quoted literal, appended to `out`.
    fn string_body(&mut self, bytes: bool, raw: bool, out: &mut Vec<u8>) -> Result<LitInfo> {
        let open_at = self.i;
        let q = self.s[self.i];
        let triple = self.s[self.i..].starts_with(&[q, q, q]);
        self.i += if triple { 3 } else { 1 };
        let mut info = LitInfo::default();
        loop {
            // Copy a run of plain bytes at once: the common case for long texts.
            let run_start = self.i;
            while let Some(&c) = self.s.get(self.i) {
                if c == q || c == b'\\' || c == b'\n' || c == b'\r' || (bytes && c >= 0x80) {
                    break;
                }
                self.i += 1;
            }
            out.extend_from_slice(&self.s[run_start..self.i]);
            let Some(c) = self.peek() else {
                return Err(self.err_at(open_at, "string literal is never closed"));
            };
            match c {
                _ if c == q => {
                    if !triple {
                        self.i += 1;
                        return Ok(info);
                    }
                    if self.s[self.i..].starts_with(&[q, q, q]) {
                        self.i += 3;
                        return Ok(info);
                    }
                    out.push(q);
                    self.i += 1;
                }
                b'\n' | b'\r' => {
                    if !triple {
                        return Err(self.err("newline inside a single-quoted string"));
                    }
                    // The tokenizer turns \r\n and \r into \n.
                    if c == b'\r' && self.s.get(self.i + 1) == Some(&b'\n') {
                        self.i += 1;
                    }
                    self.i += 1;
                    out.push(b'\n');
                }
                b'\\' => self.escape(bytes, raw, triple, out, &mut info)?,
                _ => return Err(self.err("bytes literals may only contain ASCII characters")),
            }
        }
    }

    fn escape(
        &mut self,
        bytes: bool,
        raw: bool,
        triple: bool,
        out: &mut Vec<u8>,
        info: &mut LitInfo,
    ) -> Result<()> {
        let at = self.i;
        let Some(&c) = self.s.get(self.i + 1) else {
            return Err(self.err_at(at, "string literal is never closed"));
        };
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
            let _ = triple;
            return Ok(());
        }
        self.i += 2;
        match c {
            b'\n' => {}
            b'\r' => {
                if self.s.get(self.i) == Some(&b'\n') {
                    self.i += 1;
                }
            }
            b'\\' | b'\'' | b'"' => out.push(c),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
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
            b'x' => {
                let v = self.hex_digits(2, at)?;
                if bytes {
                    out.push(v as u8);
                } else {
                    push_code_point(out, v, info);
                }
            }
            b'u' | b'U' if !bytes => {
                let n = if c == b'u' { 4 } else { 8 };
                let v = self.hex_digits(n, at)?;
                if v > 0x10FFFF {
                    return Err(self.err_at(at, "\\U escape beyond U+10FFFF"));
                }
                push_code_point(out, v, info);
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

    fn hex_digits(&mut self, n: usize, at: usize) -> Result<u32> {
        let digits = self.s.get(self.i..self.i + n).unwrap_or(&[]);
        if digits.len() < n || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.err_at(
                at,
                &format!(
                    "truncated \\{} escape: expected {n} hex digits",
                    self.s[at + 1] as char
                ),
            ));
        }
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16).unwrap_or(0);
        }
        self.i += n;
        Ok(v)
    }

    /// A number literal: int (any base), float, or imaginary.
    fn number(&mut self) -> Result<(Value, Num)> {
        let start = self.i;
        let s = self.s;
        // Based integers.
        if s[start] == b'0' {
            if let Some(&p) = s.get(start + 1) {
                let radix = match p.to_ascii_lowercase() {
                    b'x' => 16,
                    b'o' => 8,
                    b'b' => 2,
                    _ => 0,
                };
                if radix != 0 {
                    self.i += 2;
                    let digits = self.digit_run(radix, true)?;
                    if digits.is_empty() {
                        return Err(self.err_at(start, "invalid number literal: no digits"));
                    }
                    self.end_of_number(start)?;
                    return Ok((int_value(false, digits, radix), Num::Real));
                }
            }
        }
        let int_part = self.digit_run(10, false)?;
        let mut is_float = false;
        let mut text = int_part.clone();
        if self.peek() == Some(b'.') {
            is_float = true;
            self.i += 1;
            text.push('.');
            if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                text.push_str(&self.digit_run(10, false)?);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let save = self.i;
            self.i += 1;
            let mut exp = String::from("e");
            if let Some(sign @ (b'+' | b'-')) = self.peek() {
                exp.push(sign as char);
                self.i += 1;
            }
            if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                exp.push_str(&self.digit_run(10, false)?);
                text.push_str(&exp);
                is_float = true;
            } else {
                self.i = save;
                return Err(self.err("invalid float literal: exponent has no digits"));
            }
        }
        if matches!(self.peek(), Some(b'j' | b'J')) {
            self.i += 1;
            self.end_of_number(start)?;
            let v = parse_f64(&text).ok_or_else(|| self.err_at(start, "invalid number literal"))?;
            return Ok((Value::Complex(0.0, v), Num::Imag));
        }
        self.end_of_number(start)?;
        if is_float {
            let v = parse_f64(&text).ok_or_else(|| self.err_at(start, "invalid float literal"))?;
            return Ok((Value::Float(v), Num::Real));
        }
        if int_part.len() > 1 && int_part.starts_with('0') && int_part.bytes().any(|b| b != b'0') {
            return Err(self.err_at(
                start,
                "leading zeros in decimal integer literals are not permitted",
            ));
        }
        Ok((int_value(false, int_part, 10), Num::Real))
    }

    /// Digits of `radix` with single underscores between them (Python's rule). With
    /// `after_prefix`, one underscore may come first (`0x_ff`).
    fn digit_run(&mut self, radix: u32, after_prefix: bool) -> Result<String> {
        let mut out = String::new();
        let mut last_underscore = after_prefix;
        let mut allow_leading_underscore = after_prefix;
        while let Some(b) = self.peek() {
            if b == b'_' {
                if (last_underscore && !allow_leading_underscore)
                    || (out.is_empty() && !after_prefix)
                {
                    return Err(self.err("invalid number literal: misplaced '_'"));
                }
                allow_leading_underscore = false;
                last_underscore = true;
                self.i += 1;
                continue;
            }
            if (b as char).is_digit(radix) {
                out.push(b as char);
                last_underscore = false;
                allow_leading_underscore = false;
                self.i += 1;
            } else {
                break;
            }
        }
        if last_underscore && !out.is_empty() {
            return Err(self.err("invalid number literal: trailing '_'"));
        }
        Ok(out)
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

fn is_string_prefix(word: &[u8]) -> bool {
    let lower: Vec<u8> = word.iter().map(u8::to_ascii_lowercase).collect();
    matches!(lower.as_slice(), b"r" | b"u" | b"b" | b"br" | b"rb")
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

fn parse_f64(text: &str) -> Option<f64> {
    text.parse::<f64>().ok()
}

fn int_value(negative: bool, digits: String, radix: u32) -> Value {
    match i64::from_str_radix(&digits, radix) {
        Ok(v) => Value::Int(if negative { -v } else { v }),
        Err(_) => Value::BigInt {
            negative,
            digits,
            radix,
        },
    }
}

fn big_to_f64(negative: bool, digits: &str, radix: u32) -> Option<f64> {
    let mut v = 0f64;
    for d in digits.chars() {
        v = v * f64::from(radix) + f64::from(d.to_digit(radix)?);
    }
    // Python raises OverflowError for ints beyond float range in a complex sum.
    if v.is_infinite() {
        return None;
    }
    Some(if negative { -v } else { v })
}

fn negate(v: Value) -> Value {
    match v {
        Value::Int(i) => match i.checked_neg() {
            Some(n) => Value::Int(n),
            None => Value::BigInt {
                negative: true,
                digits: i.unsigned_abs().to_string(),
                radix: 10,
            },
        },
        Value::BigInt {
            negative,
            digits,
            radix,
        } => {
            // -9223372036854775808 fits in i64 once negated.
            if !negative {
                if let Ok(u) = u64::from_str_radix(&digits, radix) {
                    if u == 1u64 << 63 {
                        return Value::Int(i64::MIN);
                    }
                }
            }
            Value::BigInt {
                negative: !negative,
                digits,
                radix,
            }
        }
        Value::Float(f) => Value::Float(-f),
        Value::Complex(re, im) => Value::Complex(-re, -im),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        parse(s.as_bytes(), 64).unwrap_or_else(|e| panic!("{s:?}: {}", e.message))
    }

    fn bad(s: &str) -> Error {
        match parse(s.as_bytes(), 64) {
            Ok(v) => panic!("{s:?} parsed as {v:?}"),
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
