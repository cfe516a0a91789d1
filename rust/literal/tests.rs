//! The parser's tests through [`parse`]: every kind of value, the errors `ast.literal_eval`
//! raises, the nesting limit, the tape's subtree sizes, and long bytes literals through the
//! block decoder. Also the helpers the block decoder's own tests (in `simd`) share.

use super::{parse, Node, Parsed, Text, Value};
use crate::error::Error;

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
pub(super) struct Lcg(pub(super) u64);
impl Lcg {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A block for the 64-byte decoder (64 bytes and the 3 it may read past them) of
    /// bytes drawn from `alphabet`.
    pub(super) fn block(&mut self, alphabet: &[u8]) -> [u8; 67] {
        let mut block = [0u8; 67];
        for b in block.iter_mut() {
            *b = alphabet[self.next() as usize % alphabet.len()];
        }
        block
    }
}

/// Write `data` as a bytes literal the way the rule allows: printable bytes as themselves,
/// the others as `\xNN` (`upper` picks the hex case) or, with `named`, `\t` and company.
pub(super) fn bytes_literal(data: &[u8], named: bool, upper: bool) -> String {
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
                        Node::List { items, .. }
                        | Node::Tuple { items, .. }
                        | Node::Set { items, .. } => items as usize,
                        Node::Dict { items, .. } => 2 * items as usize,
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

#[test]
fn unhashable_keys_and_set_items_are_refused_at_their_offset() {
    for (text, at) in [
        ("{[1]: 2}", 1),
        ("{1: 2, {}: 3}", 7),
        ("{1, {2}}", 4),
        ("{(1, (2, [3])): 4}", 1),
        ("[{set()}]", 2),
    ] {
        let e = bad(text);
        assert_eq!(e.offset, Some(at), "{text}");
        assert!(e.message.contains("hashable"), "{}", e.message);
    }
    // Tuples of hashable values are fine, and lists as values.
    assert!(matches!(p("{(1, (2, 'a')): [3], 4: {5}}"), Value::Dict(_)));
}

#[test]
fn named_escapes_keep_the_name_between_markers() {
    // Joined across a comment inside brackets, next to a backslash and non-ASCII text.
    let parsed = parse("['\\\\\\N{bullet}é'\n # c\n '\\N{EM DASH}']".as_bytes(), 64).unwrap();
    let Some(&Node::PyStr { start, len, at }) = parsed.nodes.get(1) else {
        panic!("{:?}", parsed.nodes);
    };
    assert_eq!(at, 1);
    let expected = [
        b"\\\xFFbullet\xFF".as_slice(),
        "é".as_bytes(),
        b"\xFFEM DASH\xFF",
    ]
    .concat();
    assert_eq!(parsed.slice(start, len), expected.as_slice());
    for text in [
        r"'\N{}'",
        r"'\N{BULL_ET}'",
        r"'\N{BULLET'",
        r"'\N'",
        r"'\N{é}'",
    ] {
        assert!(bad(text).message.contains("\\N"), "{text}");
    }
}

#[test]
fn big_power_of_two_ints_round_once_in_a_complex_sum() {
    // 2^64 + 2^11 + 1 lies just above the halfway point between two floats: rounding digit
    // by digit gives 2^64, rounding once gives 2^64 + 2^12.
    let expected = 18_446_744_073_709_555_712.0;
    assert_eq!(p("0x10000000000000801+0j"), Value::Complex(expected, 0.0));
    assert_eq!(
        p("0o2000000000000000004001+0j"),
        Value::Complex(expected, 0.0)
    );
    // Ties go to even: 2^64 + 2^11 is halfway, and 2^64 is even.
    assert_eq!(
        p("0x10000000000000800+0j"),
        Value::Complex(18_446_744_073_709_551_616.0, 0.0)
    );
    assert!(bad(&format!("0x1{}+0j", "0".repeat(256)))
        .message
        .contains("too large"));
}

#[test]
fn form_feeds_and_indentation_of_the_first_line() {
    // A line continuation does not end the indentation: the column before the first
    // backslash counts if it is not 0, else the one reached after it.
    for text in [
        "\x0c\t1",
        "\x0c 1",
        " \x0c\t1",
        "\n\x0c\t1",
        "#\n\t\\\n1",
        "\\\n 1",
        "\n \\\r\n1",
        "\x0c \\\n1",
    ] {
        assert!(bad(text).message.contains("indent"), "{text:?}");
    }
    for text in [
        "\t\x0c1",
        "\x0c1",
        "\n \x0c1",
        "\x0c\t\n1",
        "\t\\\n1",
        "\n\\\n1",
        "\n \\\n\n1",
        "# c\n\\\n\x0c1",
    ] {
        assert_eq!(p(text), Value::Int(1), "{text:?}");
    }
}

#[test]
fn comments_must_be_utf8() {
    let e = parse(b"[1, # \xff\n 2]", 64).unwrap_err();
    assert_eq!(e.offset, Some(6));
    assert!(e.message.contains("UTF-8"), "{}", e.message);
    let e = parse(b"1 # caf\xc3", 64).unwrap_err();
    assert_eq!(e.offset, Some(7));
    assert_eq!(
        p("[1, # café\n 2]"),
        Value::List(vec![Value::Int(1), Value::Int(2)])
    );
}

#[test]
fn nodes_stay_three_words() {
    // A face header has about a thousand nodes; the offsets added to BigInt and PyStr fit in
    // the room the two floats of Complex already take.
    assert_eq!(std::mem::size_of::<Node>(), 24);
}

#[test]
fn extract_copies_subtrees_with_their_bytes() {
    // Every node of values holding strings, bytes, surrogates, \N{} names and long ints,
    // extracted alone and all together (backwards): each copy is the subtree it came from.
    let text = "{'a': ['x\\udcff', b'\\x00\\xff', {'k': ('v', -0x10)}], 'b': '\\N{BULLET}', \
                'c': 123456789012345678901234567890, 'd': [[], 'yy', 1.5j]}";
    let parsed = parse(text.as_bytes(), 64).unwrap_or_default();
    assert!(parsed.nodes.len() > 10);
    let tree = |p: &Parsed, i: usize| {
        let mut at = i;
        p.value_at(&mut at)
    };
    let all: Vec<usize> = (0..parsed.nodes.len()).rev().collect();
    let (small, at) = parsed.extract(&all);
    for (k, &i) in all.iter().enumerate() {
        assert_eq!(tree(&small, at[k]), tree(&parsed, i), "node {i}");
        let (one, at) = parsed.extract(&[i]);
        assert_eq!(
            (tree(&one, at[0]), one.nodes.len()),
            (tree(&parsed, i), parsed.skip(i) - i)
        );
    }
}
