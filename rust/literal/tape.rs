//! The parse result: [`Node`]s in pre-order over one byte arena ([`Parsed`]), the helpers that
//! walk it (skip a subtree, a dict's pairs, a sequence's items), and [`Value`], the same data as
//! a tree for tests and debugging.

/// One value on the tape. Offsets index [`Parsed::arena`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    None,
    Ellipsis,
    Bool(bool),
    Int(i64),
    /// An int that does not fit in i64: its digits (no sign, no underscores), radix, and `at`,
    /// where its literal starts in the text (for the error when Python's limit on decimal
    /// digits refuses it).
    BigInt {
        start: u32,
        len: u32,
        radix: u8,
        negative: bool,
        at: u32,
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
    /// A string with `\N{name}` escapes, whose names only Python's Unicode table knows: its
    /// content as for `Str` (with surrogates), each escape kept as the byte 0xFF, the name and
    /// 0xFF again (0xFF is never part of UTF-8; a name is ASCII letters, digits, spaces and
    /// hyphens). `at` is where its first literal starts in the text.
    PyStr {
        start: u32,
        len: u32,
        at: u32,
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

    /// A copy of the subtrees at `roots` (in that order, with the arena bytes they point to),
    /// and where each root is in it.
    pub fn extract(&self, roots: &[usize]) -> (Parsed, Vec<usize>) {
        let mut out = Parsed::default();
        let mut at = Vec::with_capacity(roots.len());
        for &root in roots {
            at.push(out.nodes.len());
            let end = self.skip(root).min(self.nodes.len());
            for node in self.nodes.get(root..end).unwrap_or(&[]) {
                let mut copy = *node;
                if let Node::BigInt { start, len, .. }
                | Node::Str { start, len, .. }
                | Node::PyStr { start, len, .. }
                | Node::Bytes { start, len } = &mut copy
                {
                    let moved = u32::try_from(out.arena.len()).unwrap_or(u32::MAX);
                    out.arena.extend_from_slice(self.slice(*start, *len));
                    *start = moved;
                }
                out.nodes.push(copy);
            }
        }
        (out, at)
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
            Some(Node::List { items, .. } | Node::Tuple { items, .. }) => *items,
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

    /// The value of the subtree at node `*i` as a tree, `*i` moved past it.
    pub(crate) fn value_at(&self, i: &mut usize) -> Value {
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
                ..
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
            } => Value::Str(self.text(start, len, surrogates)),
            Node::PyStr { start, len, .. } => Value::PyStr(named_text(self.slice(start, len))),
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

    /// A string node's content in the tree form.
    fn text(&self, start: u32, len: u32, surrogates: bool) -> Text {
        let b = self.slice(start, len).to_vec();
        match (surrogates, String::from_utf8(b)) {
            (false, Ok(s)) => Text::Utf8(s),
            (_, Ok(s)) => Text::Surrogates(s.into_bytes()),
            (_, Err(e)) => Text::Surrogates(e.into_bytes()),
        }
    }
}

/// A `PyStr` node's content in the tree form: each name marker written back as `\N{NAME}`.
fn named_text(content: &[u8]) -> String {
    let mut out = String::new();
    for (k, part) in content.split(|&b| b == 0xFF).enumerate() {
        let part = String::from_utf8_lossy(part);
        if k % 2 == 1 {
            out.push_str(&format!("\\N{{{part}}}"));
        } else {
            out.push_str(&part);
        }
    }
    out
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
