//! The recursive descent: the [`Parser`] state, the payload as a whole, expressions (signs and
//! `real + imaginary`), atoms, containers (list, tuple, dict, set and their nesting limit),
//! names, and the whitespace and comments between tokens.

use super::tape::{Node, Parsed};
use crate::error::{Error, Result};

/// What a parsed operand is, for the rules on `-x` and `a + bj` (literal_eval accepts a sign only
/// on a number constant, and `+`/`-` only between a real and an imaginary constant).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
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

/// The parser's state. Its methods are spread over this file, `strings` and `numbers`.
pub(super) struct Parser<'a> {
    pub(super) s: &'a [u8],
    pub(super) i: usize,
    /// Open brackets and parentheses; inside any, newlines are plain whitespace.
    pub(super) depth: usize,
    max_depth: usize,
    pub(super) out: Parsed,
}

pub(super) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

pub(super) fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

impl<'a> Parser<'a> {
    /// A parser at the start of `text`, whose size the caller checked fits in u32.
    pub(super) fn new(text: &'a [u8], max_depth: usize) -> Self {
        Parser {
            s: text,
            i: 0,
            depth: 0,
            max_depth,
            // About one node per 20 bytes of a face header; the arena holds its masks' bytes,
            // about half a face header's text: sized so that neither grows (and copies)
            // mid-parse. Buffers a batch handed back are reused (see `spare`).
            out: super::spare::take(text.len() / 16 + 4, text.len() / 2),
        }
    }

    /// The whole payload: one expression (or a bare tuple) and nothing after it but blanks and
    /// comments.
    pub(super) fn payload(&mut self) -> Result<()> {
        // ast.literal_eval strips leading spaces and tabs; blank lines are ignored by the
        // tokenizer, but the first real line must not be indented.
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        let first_line = self.i;
        self.skip_space(true);
        if self.i >= self.s.len() {
            return Err(self.err("expected a value, found the end of the payload"));
        }
        if self.first_token_column(first_line) > 0 {
            return Err(self.err("unexpected indent"));
        }
        self.expr()?;
        self.skip_space(false);
        if self.peek() == Some(b',') {
            // A bare tuple at the top level: `1, 2`.
            self.out.nodes.insert(0, Node::Tuple { items: 0, size: 0 });
            self.sequence_tail(0, None)?;
        }
        let end_of_value = self.i;
        self.skip_space(true);
        if self.i < self.s.len() {
            return Err(self.expected("the end of the payload"));
        }
        // Python's tokenizer rejects a last line of only spaces or tabs with no newline after it.
        if self.s[end_of_value..]
            .iter()
            .any(|&b| b == b'\n' || b == b'\r')
            && self.indented_line(self.i)
        {
            return Err(self.err("unexpected indent at the end of the payload"));
        }
        Ok(())
    }

    pub(super) fn err(&self, msg: &str) -> Error {
        Error::syntax(self.i as u64, msg)
    }

    pub(super) fn err_at(&self, at: usize, msg: &str) -> Error {
        Error::syntax(at as u64, msg)
    }

    /// The indentation of the first token's line, as Python's tokenizer counts it: a space
    /// adds a column, a tab moves to the next multiple of 8, a form feed goes back to column 0;
    /// blank and comment-only lines do not count. Indentation cannot be split by a line
    /// continuation: the column before the first backslash counts if it is not 0, else the
    /// column reached on the lines it joins (so `"\\\n 1"` and `"#\n\t\\\n1"` are indented).
    /// `from` is past the spaces and tabs `ast.literal_eval` strips (so `"\x0c\t1"`, where the
    /// tab follows a form feed, is indented).
    fn first_token_column(&self, from: usize) -> usize {
        let s = self.s;
        let newline = |j: usize| match (s.get(j), s.get(j + 1)) {
            (Some(b'\r'), Some(b'\n')) => 2,
            (Some(b'\n' | b'\r'), _) => 1,
            _ => 0,
        };
        let mut i = from;
        loop {
            let (mut column, mut continued) = (0usize, 0usize);
            loop {
                match s.get(i) {
                    Some(b' ') => column += 1,
                    Some(b'\t') => column = (column / 8 + 1) * 8,
                    Some(b'\x0c') => column = 0,
                    Some(b'\\') if newline(i + 1) > 0 => {
                        if continued == 0 {
                            continued = column;
                        }
                        i += newline(i + 1);
                    }
                    _ => break,
                }
                i += 1;
            }
            if s.get(i) == Some(&b'#') {
                while !matches!(s.get(i), None | Some(b'\n' | b'\r')) {
                    i += 1;
                }
            }
            match newline(i) {
                0 if i < s.len() => return if continued > 0 { continued } else { column },
                0 => return 0,
                n => i += n, // a blank line
            }
        }
    }

    /// Whether the line of `at` (not the first) is blank but indented up to `at`, counting
    /// columns as [`Self::first_token_column`] does.
    fn indented_line(&self, at: usize) -> bool {
        let Some(line_start) = self.s[..at].iter().rposition(|&b| b == b'\n' || b == b'\r') else {
            return false;
        };
        let mut column = 0usize;
        for &b in &self.s[line_start + 1..at] {
            match b {
                b' ' => column += 1,
                b'\t' => column = (column / 8 + 1) * 8,
                b'\x0c' => column = 0,
                _ => return false,
            }
        }
        column > 0
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    pub(super) fn push(&mut self, node: Node) {
        self.out.nodes.push(node);
    }

    pub(super) fn arena_pos(&self) -> u32 {
        // The arena never outgrows the text, whose size parse() checked fits in u32.
        u32::try_from(self.out.arena.len()).unwrap_or(u32::MAX)
    }

    /// The number of nodes after the container node at `at`: its subtree, now complete.
    fn size_from(&self, at: usize) -> u32 {
        Self::count(self.out.nodes.len() - at - 1)
    }

    pub(super) fn count(n: usize) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// An error at the cursor: `what` was expected, and what is there instead.
    fn expected(&self, what: &str) -> Error {
        self.err(&format!("expected {what}, found {}", self.describe_here()))
    }

    pub(super) fn describe_here(&self) -> String {
        // The character at the cursor: at most 4 bytes of UTF-8.
        let rest = &self.s[self.i..];
        let head = &rest[..rest.len().min(4)];
        let valid = match std::str::from_utf8(head) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        };
        match (valid.chars().next(), self.peek()) {
            (Some(c), _) => format!("{c:?}"),
            (None, Some(b)) if b >= 0x80 => format!("invalid UTF-8 (byte 0x{b:02x})"),
            (None, Some(b)) => format!("byte 0x{b:02x}"),
            (None, None) => "the end of the payload".to_string(),
        }
    }

    /// Skip whitespace and comments. Newlines are skipped when inside brackets or when
    /// `newlines` is set; a backslash-newline joins lines anywhere.
    #[inline]
    pub(super) fn skip_space(&mut self, newlines: bool) {
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
                    if !self.skip_comment() {
                        break;
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

    /// Move past a comment to the end of its line (or a NUL, which the caller refuses).
    /// Python decodes the whole text as UTF-8, comments too: at invalid UTF-8 the cursor stops
    /// on the bad byte, which no token can start with, and `false` is returned.
    fn skip_comment(&mut self) -> bool {
        let rest = &self.s[self.i..];
        let len = rest
            .iter()
            .position(|&c| c == b'\n' || c == b'\r' || c == 0)
            .unwrap_or(rest.len());
        let comment = &rest[..len];
        if !comment.is_ascii() {
            if let Err(e) = std::str::from_utf8(comment) {
                self.i += e.valid_up_to();
                return false;
            }
        }
        self.i += len;
        true
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<()> {
        self.skip_space(false);
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.expected(what))
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

    /// Step into the bracket at the cursor and push `placeholder` for its container node, to
    /// be filled in once its items are read; returns where the bracket is and the node's index.
    fn open(&mut self, placeholder: Node) -> Result<(usize, usize)> {
        let open_at = self.i;
        self.i += 1;
        self.enter(open_at)?;
        let at = self.out.nodes.len();
        self.push(placeholder);
        Ok((open_at, at))
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
        self.complex_sum(add, start, at)?;
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
                    self.negate_last(at);
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
                self.list()?;
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
            _ => Err(self.expected("a value")),
        }
    }

    /// `[...]`.
    fn list(&mut self) -> Result<()> {
        let (start, at) = self.open(Node::List { items: 0, size: 0 })?;
        let items = self.items(b']', start)?;
        self.out.nodes[at] = Node::List {
            items,
            size: self.size_from(at),
        };
        self.depth -= 1;
        Ok(())
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
                let (item, item_at) = (self.out.nodes.len(), self.i);
                self.expr()?;
                // `}` closes only a set here (a dict has its own loop).
                if close == b'}' {
                    self.check_hashable(item, item_at, false)?;
                }
            }
            n += 1;
            self.skip_space(false);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                None => return Err(self.unclosed(open_at)),
                _ => return Err(self.expected(&format!("',' or '{}'", close as char))),
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
                _ => return Err(self.expected("',' or ')'")),
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
            _ => return Err(self.expected("',' or ')'")),
        };
        self.depth -= 1;
        Ok(result)
    }

    /// `{...}`: dict or set.
    fn brace(&mut self) -> Result<()> {
        let (open_at, at) = self.open(Node::Dict { items: 0, size: 0 })?;
        self.skip_space(false);
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        let first_at = self.i;
        self.expr()?;
        self.skip_space(false);
        let is_dict = self.peek() == Some(b':');
        self.check_hashable(at + 1, first_at, is_dict)?;
        let node = if is_dict {
            let items = self.dict_rest(open_at)?;
            Node::Dict {
                items,
                size: self.size_from(at),
            }
        } else {
            let items = self.set_rest(open_at)?;
            Node::Set {
                items,
                size: self.size_from(at),
            }
        };
        self.out.nodes[at] = node;
        self.depth -= 1;
        Ok(())
    }

    /// Refuse a dict key (`key`) or set item whose value Python cannot hash: a list, dict or
    /// set, or a tuple holding one at any depth. `ast.literal_eval` raises TypeError for these
    /// when it builds the value; here the offset (`at`) is known. `node` is its first node.
    fn check_hashable(&self, node: usize, at: usize, key: bool) -> Result<()> {
        let unhashable = |n: &Node| match n {
            Node::List { .. } => Some("list"),
            Node::Dict { .. } => Some("dict"),
            Node::Set { .. } => Some("set"),
            _ => None,
        };
        let found = match self.out.nodes.get(node) {
            Some(Node::Tuple { .. }) => self.out.nodes[node + 1..].iter().find_map(unhashable),
            Some(n) => unhashable(n),
            None => None,
        };
        let Some(kind) = found else {
            return Ok(());
        };
        let role = if key { "dict key" } else { "set item" };
        let what = if matches!(self.out.nodes.get(node), Some(Node::Tuple { .. })) {
            format!("a tuple holding a {kind}")
        } else {
            format!("a {kind}")
        };
        Err(self.err_at(
            at,
            &format!("a {role} must be hashable, and {what} is not (Python raises TypeError)"),
        ))
    }

    /// At the `:` after a dict's first key: the rest of the dict, through its `}`; returns how
    /// many pairs it has.
    fn dict_rest(&mut self, open_at: usize) -> Result<u32> {
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
                _ => return Err(self.expected("',' or '}'")),
            }
            let (key, key_at) = (self.out.nodes.len(), self.i);
            self.expr()?;
            self.check_hashable(key, key_at, true)?;
            self.expect(b':', "':' after a dict key")?;
            self.expr()?;
            pairs += 1;
        }
        Ok(Self::count(pairs))
    }

    /// After a set's first item: the rest of the set, through its `}`; returns how many items
    /// it has.
    fn set_rest(&mut self, open_at: usize) -> Result<u32> {
        let mut n = 1usize;
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                n += self.items(b'}', open_at)? as usize;
            }
            Some(b'}') => self.i += 1,
            None => return Err(self.unclosed(open_at)),
            _ => return Err(self.expected("',', ':' or '}'")),
        }
        Ok(Self::count(n))
    }

    /// A name: a keyword constant, `set()`, `nan`/`inf`, or a string prefix.
    fn word(&mut self) -> Result<Num> {
        let start = self.i;
        while self.peek().is_some_and(is_ident_char) {
            self.i += 1;
        }
        let word = &self.s[start..self.i];
        if matches!(self.peek(), Some(b'\'' | b'"')) && super::strings::is_string_prefix(word) {
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
                self.empty_set(start)?;
                (Node::Set { items: 0, size: 0 }, Num::No)
            }
            _ => {
                let what = match std::str::from_utf8(word) {
                    Ok(name) => format!("unexpected name {name:?}"),
                    // Python decodes the whole text first (a bad byte in a comment stops here).
                    Err(_) => "invalid UTF-8".to_string(),
                };
                return Err(self.err_at(start, &what));
            }
        };
        self.push(node);
        Ok(kind)
    }

    /// After the name `set` (at `start`): its `()`, the only call a literal may hold.
    fn empty_set(&mut self, start: usize) -> Result<()> {
        self.skip_space(false);
        if self.peek() != Some(b'(') {
            return Err(self.err_at(start, "the name 'set' is only allowed as 'set()'"));
        }
        self.i += 1;
        self.depth += 1;
        let r = self.expect(b')', "')': only 'set()' with no arguments is allowed");
        self.depth -= 1;
        r
    }
}
