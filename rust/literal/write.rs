//! A parsed tape written back as literal text, and a node-for-node comparison of two tapes: the
//! round-trip property of the payload fuzz target (parse, [`write`], parse again, [`same_tape`]).
//!
//! Test and fuzz code only (built under `cfg(test)` or `cfg(fuzzing)`). Any valid spelling will
//! do, so [`Spelling`] offers two, to send the second parse down different paths: `Plain` is
//! close to what `repr` prints, `Alternate` escapes everything outside printable ASCII and spells
//! ints in hex and floats with an exponent.

use super::tape::{Node, Parsed};

/// How [`write`] spells values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// Single quotes, UTF-8 kept as it is, decimal ints, floats as Rust's `{:?}` (`0.25`, `1e-7`).
    Plain,
    /// Double quotes, `\x`/`\u`/`\U` escapes for every non-printable or non-ASCII character,
    /// octal escapes in bytes, ints in hex, floats as `{:e}` (`2.5e-1`).
    Alternate,
}

/// The literal text of a parsed payload.
///
/// Parsing it again gives the same tape (a top-level non-empty tuple is written bare, `1, 2`, as
/// the parser reads it).
pub fn write(p: &Parsed, spelling: Spelling) -> Vec<u8> {
    let mut w = Writer {
        p,
        spelling,
        out: Vec::with_capacity(p.arena.len() * 2 + p.nodes.len() * 8),
    };
    w.value(0, true);
    w.out
}

struct Writer<'a> {
    p: &'a Parsed,
    spelling: Spelling,
    out: Vec<u8>,
}

impl Writer<'_> {
    fn put(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Write the value at node `i`; returns the index after its subtree.
    fn value(&mut self, i: usize, top: bool) -> usize {
        let Some(&node) = self.p.nodes.get(i) else {
            return i + 1;
        };
        match node {
            Node::None => self.put("None"),
            Node::Ellipsis => self.put("..."),
            Node::Bool(b) => self.put(if b { "True" } else { "False" }),
            Node::Int(v) => self.int(v),
            Node::BigInt {
                start,
                len,
                radix,
                negative,
                ..
            } => {
                let prefix = match radix {
                    16 => "0x",
                    8 => "0o",
                    2 => "0b",
                    _ => "",
                };
                self.put(if negative { "-" } else { "" });
                self.put(prefix);
                self.out.extend_from_slice(self.p.slice(start, len));
            }
            Node::Float(f) => self.float(f),
            Node::Complex { re, im } => self.complex(re, im),
            Node::Str { start, len, .. } | Node::PyStr { start, len, .. } => {
                self.text(self.p.slice(start, len));
            }
            Node::Bytes { start, len } => self.bytes(self.p.slice(start, len)),
            Node::List { items, .. } => return self.items(i, items, "[", "]", false),
            Node::Set { items: 0, .. } => self.put("set()"),
            Node::Set { items, .. } => return self.items(i, items, "{", "}", false),
            Node::Tuple { items: 0, .. } => self.put("()"),
            Node::Tuple { items, .. } if top => return self.items(i, items, "", "", true),
            Node::Tuple { items, .. } => return self.items(i, items, "(", ")", true),
            Node::Dict { items, .. } => return self.dict(i, items),
        }
        i + 1
    }

    /// The `n` items after the container node at `i`, comma-separated; a one-item tuple keeps
    /// its trailing comma.
    fn items(&mut self, i: usize, n: u32, open: &str, close: &str, tuple: bool) -> usize {
        self.put(open);
        let mut k = i + 1;
        for j in 0..n {
            if j > 0 {
                self.put(", ");
            }
            k = self.value(k, false);
        }
        if tuple && n == 1 {
            self.put(",");
        }
        self.put(close);
        k
    }

    fn dict(&mut self, i: usize, n: u32) -> usize {
        self.put("{");
        let mut k = i + 1;
        for j in 0..n {
            if j > 0 {
                self.put(", ");
            }
            k = self.value(k, false);
            self.put(": ");
            k = self.value(k, false);
        }
        self.put("}");
        k
    }

    fn int(&mut self, v: i64) {
        let sign = if v < 0 { "-" } else { "" };
        let text = match self.spelling {
            Spelling::Plain => format!("{sign}{}", v.unsigned_abs()),
            // i64::MIN becomes `-0x8000000000000000`: a big int negated back into range.
            Spelling::Alternate => format!("{sign}{:#x}", v.unsigned_abs()),
        };
        self.put(&text);
    }

    fn float(&mut self, f: f64) {
        let text = if f.is_nan() {
            "nan".to_string()
        } else if f.is_infinite() {
            (if f > 0.0 { "inf" } else { "-inf" }).to_string()
        } else {
            // Both forms print the shortest digits that read back as the same float.
            match self.spelling {
                Spelling::Plain => format!("{f:?}"),
                Spelling::Alternate => format!("{f:e}"),
            }
        };
        self.put(&text);
    }

    /// A complex number as the parser builds one: `re + imj` is `(re + 0.0, 0.0 + im)` and
    /// `re - imj` is `(re - 0.0, 0.0 - im)`, part by part, and `-imj` is `(-0.0, -im)`. So a
    /// negative zero real part needs `-` (or, with a negative imaginary part, the negated
    /// imaginary alone), and a negative imaginary part needs `-` with its magnitude. The pairs
    /// no spelling gives, such as `(1.0, -0.0)`, the parser never builds either.
    fn complex(&mut self, re: f64, im: f64) {
        let re_neg_zero = re == 0.0 && re.is_sign_negative();
        let im_neg = im.is_sign_negative() && !im.is_nan();
        if re_neg_zero && im_neg {
            self.put("-");
        } else {
            self.float(re);
            self.put(if im_neg || re_neg_zero { "-" } else { "+" });
        }
        self.float(im.abs());
        self.put("j");
    }

    /// A str node's content (UTF-8, lone surrogates in their 3-byte form, and in a `PyStr` each
    /// `\N{...}` name between 0xFF markers) as a quoted literal.
    fn text(&mut self, s: &[u8]) {
        let quote = match self.spelling {
            Spelling::Plain => b'\'',
            Spelling::Alternate => b'"',
        };
        self.out.push(quote);
        let mut i = 0;
        while i < s.len() {
            if s[i] == 0xFF {
                // A name (never part of UTF-8, see `Node::PyStr`): written back as its escape.
                let name = s[i + 1..].split(|&b| b == 0xFF).next().unwrap_or(&[]);
                self.put("\\N{");
                self.out.extend_from_slice(name);
                self.put("}");
                i += name.len() + 2;
                continue;
            }
            let (cp, n) = code_point(&s[i..]);
            let raw = &s[i..i + n];
            i += n;
            let escaped = match cp {
                0x5C => "\\\\".to_string(),
                _ if cp == u32::from(quote) => format!("\\{}", quote as char),
                0x0A => "\\n".to_string(),
                0x0D => "\\r".to_string(),
                0xD800..=0xDFFF => format!("\\u{cp:04x}"),
                1.. if self.spelling == Spelling::Plain => {
                    // Tabs, other control characters and non-ASCII text are valid as they are
                    // (NUL is not: it goes to `\x00` below).
                    self.out.extend_from_slice(raw);
                    continue;
                }
                0x20..=0x7E => {
                    self.out.extend_from_slice(raw);
                    continue;
                }
                0..=0xFF => format!("\\x{cp:02x}"),
                0x100..=0xFFFF => format!("\\u{cp:04x}"),
                _ => format!("\\U{cp:08x}"),
            };
            self.put(&escaped);
        }
        self.out.push(quote);
    }

    fn bytes(&mut self, b: &[u8]) {
        let quote = match self.spelling {
            Spelling::Plain => b'\'',
            Spelling::Alternate => b'"',
        };
        self.out.push(b'b');
        self.out.push(quote);
        for &c in b {
            if c == b'\\' || c == quote {
                self.out.push(b'\\');
                self.out.push(c);
            } else if (0x20..0x7F).contains(&c) {
                self.out.push(c);
            } else {
                let text = match self.spelling {
                    Spelling::Plain => format!("\\x{c:02x}"),
                    // Always three digits, so that a digit after it is not taken in.
                    Spelling::Alternate => format!("\\{c:03o}"),
                };
                self.put(&text);
            }
        }
        self.out.push(quote);
    }
}

/// The code point at the start of `s` and its length in bytes, reading UTF-8 without the checks
/// that would refuse a surrogate's 3-byte form. A stray byte reads as itself.
fn code_point(s: &[u8]) -> (u32, usize) {
    let b0 = u32::from(s[0]);
    let (n, lead) = match s[0] {
        0xC0..=0xDF => (2, b0 & 0x1F),
        0xE0..=0xEF => (3, b0 & 0x0F),
        0xF0..=0xF7 => (4, b0 & 0x07),
        _ => return (b0, 1),
    };
    let Some(tail) = s.get(1..n) else {
        return (b0, 1);
    };
    if !tail.iter().all(|&b| b & 0xC0 == 0x80) {
        return (b0, 1);
    }
    let cp = tail
        .iter()
        .fold(lead, |cp, &b| (cp << 6) | u32::from(b & 0x3F));
    (cp, n)
}

/// Whether two floats are the same value: bit for bit (so `-0.0` is not `0.0`), any NaN equal to
/// any NaN (`str()` prints every NaN as `nan`).
fn same_float(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// `Ok` if two tapes hold the same values node for node (contents compared, not arena offsets;
/// floats by [`same_float`]), else the first difference.
pub fn same_tape(a: &Parsed, b: &Parsed) -> Result<(), String> {
    if a.nodes.len() != b.nodes.len() {
        return Err(format!("{} nodes against {}", a.nodes.len(), b.nodes.len()));
    }
    for (i, (x, y)) in a.nodes.iter().zip(&b.nodes).enumerate() {
        let same = match (*x, *y) {
            (Node::Float(f), Node::Float(g)) => same_float(f, g),
            (Node::Complex { re: r1, im: i1 }, Node::Complex { re: r2, im: i2 }) => {
                same_float(r1, r2) && same_float(i1, i2)
            }
            (
                Node::BigInt {
                    start: s1,
                    len: l1,
                    radix: r1,
                    negative: n1,
                    ..
                },
                Node::BigInt {
                    start: s2,
                    len: l2,
                    radix: r2,
                    negative: n2,
                    ..
                },
            ) => (r1, n1) == (r2, n2) && a.slice(s1, l1) == b.slice(s2, l2),
            (
                Node::Str {
                    start: s1,
                    len: l1,
                    surrogates: u1,
                },
                Node::Str {
                    start: s2,
                    len: l2,
                    surrogates: u2,
                },
            ) => u1 == u2 && a.slice(s1, l1) == b.slice(s2, l2),
            (
                Node::PyStr {
                    start: s1, len: l1, ..
                },
                Node::PyStr {
                    start: s2, len: l2, ..
                },
            )
            | (Node::Bytes { start: s1, len: l1 }, Node::Bytes { start: s2, len: l2 }) => {
                a.slice(s1, l1) == b.slice(s2, l2)
            }
            (x, y) => x == y,
        };
        if !same {
            return Err(format!("node {i}: {x:?} against {y:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::parse;

    fn tape(text: &str, depth: usize) -> Parsed {
        parse(text.as_bytes(), depth).unwrap_or_else(|e| panic!("{text:?}: {}", e.message))
    }

    /// Parse, write in `spelling`, parse again: the same tape, or a panic naming the texts.
    fn round_trip(text: &str, spelling: Spelling) -> String {
        let first = tape(text, 64);
        let written = write(&first, spelling);
        let again = parse(&written, 64).unwrap_or_else(|e| {
            panic!(
                "{text:?} written as {:?} does not parse: {}",
                String::from_utf8_lossy(&written),
                e.message
            )
        });
        if let Err(d) = same_tape(&first, &again) {
            panic!(
                "{text:?} written as {:?}: {d}",
                String::from_utf8_lossy(&written)
            );
        }
        String::from_utf8_lossy(&written).into_owned()
    }

    /// Payloads with every node kind, and the spellings that are easy to get wrong.
    const PAYLOADS: &[&str] = &[
        "None",
        "[True, False, ..., None]",
        "{'a': [1, -2, 0, 9223372036854775807, -9223372036854775808]}",
        "[99999999999999999999, -99999999999999999999, 0x1ffffffffffffffff, -0o7777777777777777777777, 0b11111111111111111111111111111111111111111111111111111111111111111]",
        "[0.1, -0.0, 0.0, 1e300, 5e-324, -1.5e-7, 1e22, 123456789.125, nan, -nan, inf, -inf]",
        "[2j, -0j, 0j, 1+2j, -1-2.5j, -0.0-0j, -0.0-5j, 1-0j, nanj, -nanj, 1e400j, -inf+infj, nan-1j, 0x1ffffffffffffffff+1j]",
        r#"['', 'it\'s', 'a\\b', '\x00\t\n\r\x0b\x0c\x7f', 'é', '\u20ac\U0001F600', 'say "hi"', "x'y"]"#,
        r"['\ud800', 'x\udfffy', '\ud83d\ude00', '\U0001F600\udc00']",
        r#"[b'', b'\x00\xff\\\'\"', b"a'b\n", rb'\d']"#,
        r"['\N{BULLET}', ('\N{EM DASH}' # a comment between the pieces
           'x'), u'\N{DASH}' '\u00e9']",
        r"('\N{BULLET}'
          'two lines')",
        "{1, 'a', (2, 3)}",
        "[set(), {}, (), [], (1,), ((1,),), [[[]]]]",
        "{(1, 2): {'k': {b'v': [{2}]}}, 3.5: -1, None: ..., 1j: True}",
        "1, 'two', [3]",
        "1,",
        "(1,)",
    ];

    #[test]
    fn every_node_kind_round_trips_in_both_spellings() {
        for text in PAYLOADS {
            round_trip(text, Spelling::Plain);
            round_trip(text, Spelling::Alternate);
        }
    }

    #[test]
    fn spellings() {
        assert_eq!(
            round_trip("{'a': [1, 2.5, None, b'\\x01']}", Spelling::Plain),
            "{'a': [1, 2.5, None, b'\\x01']}"
        );
        assert_eq!(
            round_trip("{'é': [255, 2.5, b'\\x01']}", Spelling::Alternate),
            "{\"\\xe9\": [0xff, 2.5e0, b\"\\001\"]}"
        );
        assert_eq!(round_trip("(1,)", Spelling::Plain), "1,");
        assert_eq!(round_trip("-0j", Spelling::Plain), "-0.0j");
        assert_eq!(round_trip("-0.0-0j", Spelling::Plain), "-0.0-0.0j");
        assert_eq!(round_trip("'\\udc00'", Spelling::Plain), "'\\udc00'");
        assert_eq!(
            round_trip("'\\N{BULLET}'", Spelling::Plain),
            "'\\N{BULLET}'"
        );
        assert_eq!(
            round_trip(
                "['\\\\\\N{bullet}' # c\n 'é\\N{EM DASH}']",
                Spelling::Alternate
            ),
            "[\"\\\\\\N{bullet}\\xe9\\N{EM DASH}\"]"
        );
    }

    #[test]
    fn deep_nesting_round_trips() {
        let text = format!("{}1{}", "[(".repeat(32), ",)]".repeat(32));
        let first = tape(&text, 64);
        let again = tape(
            &String::from_utf8_lossy(&write(&first, Spelling::Plain)),
            64,
        );
        assert_eq!(same_tape(&first, &again), Ok(()));
    }

    #[test]
    fn same_tape_finds_differences() {
        let same = |a: &str, b: &str| same_tape(&tape(a, 64), &tape(b, 64)).is_ok();
        assert!(same("[nan, -nan, 1]", "[-nan, nan, 1]"));
        assert!(same("1+nanj", "(1+nanj)"));
        assert!(!same("0.0", "-0.0"));
        assert!(!same("1.0", "1.0000000000000002"));
        assert!(!same("'a'", "'b'"));
        assert!(!same("'\\ud800'", "'\\u0800'"));
        assert!(!same("b'a'", "'a'"));
        assert!(!same("99999999999999999999", "-99999999999999999999"));
        // The same number in another base: the tape keeps the digits as written.
        assert!(!same("0x1ffffffffffffffff", "36893488147419103231"));
        assert!(!same("[1, 2]", "[1, [2]]"));
        assert!(!same("(1, 2)", "[1, 2]"));
        assert!(!same("'\\N{BULLET}'", "'\\N{EM DASH}'"));
    }
}
