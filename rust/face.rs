//! The face header's schema (docs/format.md, "The face header"), and the recognition of a
//! parsed payload that has exactly a face header's shape, its arrays pulled out as float32.
//!
//! `png_read_meta` turns a face payload into a `PNGHeader` whose landmarks, affine matrices and
//! identity vectors are float32 arrays. Building ~700 Python floats only for numpy to pack them
//! again costs more than parsing the payload; here the numbers go straight to float32 (the same
//! round-to-nearest cast numpy does). Anything that is not the canonical shape (an unknown or
//! missing key, a duplicate key, a ragged or non-numeric array, a non-string mask name) returns
//! `None`, and the caller takes the general path, whose `from_dict` raises the precise error.

use crate::literal::{Node, Parsed};

/// How a field's value is taken from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any value, passed on as parsed.
    Value,
    /// A regular, non-empty numeric list (1-D) or list of lists (2-D), packed as float32.
    Array,
    /// A list or tuple (given as a tuple) or `None`: the source frame's dimensions.
    Dims,
    /// A nested object, of the class at this index of [`SCHEMA`].
    Object(usize),
    /// A dict of objects of the class at this index of [`SCHEMA`], by name; absent or `None`
    /// means no entries.
    Objects(usize),
    /// A dict of float32 arrays by name; absent or `None` means no entries.
    Arrays,
}

impl Kind {
    /// The kind's name, as `faceio.header` reads it from `_core.HEADER_SCHEMA`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Value => "value",
            Kind::Array => "array",
            Kind::Dims => "dims",
            Kind::Object(_) => "object",
            Kind::Objects(_) => "objects",
            Kind::Arrays => "arrays",
        }
    }

    /// The class a nested object field holds, if any.
    pub fn class(self) -> Option<usize> {
        match self {
            Kind::Object(c) | Kind::Objects(c) => Some(c),
            _ => None,
        }
    }
}

/// One field of a header class.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

/// A header class: its role (`header`, `alignments`, `source`, `mask`, the keywords of
/// `faceio.set_header_classes`), faceio's class name and its fields in field order.
#[derive(Debug)]
pub struct Class {
    pub role: &'static str,
    pub name: &'static str,
    pub fields: &'static [Field],
}

pub const HEADER: usize = 0;
pub const ALIGNMENTS: usize = 1;
pub const SOURCE: usize = 2;
pub const MASK: usize = 3;

const fn field(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const fn optional(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

/// The face header's schema (docs/format.md, "The face header"): the one definition of its
/// fields. `faceio.header` checks its dataclasses against it (a test fails when the two
/// differ), and reads each field's kind from it. Field order is part of the byte format:
/// `str(header.to_dict())` writes the keys in this order.
pub static SCHEMA: [Class; 4] = [
    Class {
        role: "header",
        name: "PNGHeader",
        fields: &[
            field("alignments", Kind::Object(ALIGNMENTS)),
            field("source", Kind::Object(SOURCE)),
        ],
    },
    Class {
        role: "alignments",
        name: "PNGAlignments",
        fields: &[
            field("x", Kind::Value),
            field("y", Kind::Value),
            field("w", Kind::Value),
            field("h", Kind::Value),
            field("landmarks_xy", Kind::Array),
            optional("mask", Kind::Objects(MASK)),
            optional("identity", Kind::Arrays),
        ],
    },
    Class {
        role: "source",
        name: "PNGSource",
        fields: &[
            field("alignments_version", Kind::Value),
            field("original_filename", Kind::Value),
            field("face_index", Kind::Value),
            field("source_filename", Kind::Value),
            field("source_is_video", Kind::Value),
            field("source_frame_dims", Kind::Dims),
        ],
    },
    Class {
        role: "mask",
        name: "MaskAlignmentsFile",
        fields: &[
            field("mask", Kind::Value),
            field("affine_matrix", Kind::Array),
            field("interpolator", Kind::Value),
            field("stored_size", Kind::Value),
            field("stored_centering", Kind::Value),
        ],
    },
];

/// A float32 array: row-major data and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}

/// One field's value, taken apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// An optional field the payload leaves out (the class's default applies).
    Absent,
    /// The node of a plain value.
    Node(usize),
    Array(Array),
    /// The node of the dims list or tuple, or `None`.
    Dims(Option<usize>),
    Object(Object),
    /// (name node, object) pairs.
    Objects(Vec<(usize, Object)>),
    /// (name node, array) pairs.
    Arrays(Vec<(usize, Array)>),
}

/// An object of a header class taken apart: the class (an index of [`SCHEMA`]) and its
/// fields' values in field order.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub class: usize,
    pub parts: Vec<Part>,
}

/// A face header taken apart.
pub type FaceParts = Object;

/// The value node of each of `class`'s fields (`None` for an optional one left out), if the
/// dict at `i` has exactly the class's required keys plus any of its optional ones, each once.
fn fields(p: &Parsed, i: usize, class: &Class) -> Option<Vec<Option<usize>>> {
    let mut out = vec![None; class.fields.len()];
    for (k, v) in p.dict_items(i)? {
        let key = p.str_at(k)?;
        let slot = class.fields.iter().position(|f| f.name.as_bytes() == key)?;
        if out[slot].replace(v).is_some() {
            return None; // a duplicate key
        }
    }
    let complete = class
        .fields
        .iter()
        .zip(&out)
        .all(|(f, v)| v.is_some() || !f.required);
    complete.then_some(out)
}

fn number(node: Node) -> Option<f32> {
    match node {
        Node::Int(v) => Some(v as f32),
        Node::Float(v) => Some(v as f32),
        Node::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// A numeric list (1-D) or list of equal-length numeric lists (2-D), as numpy would read it.
/// Without `DATA`, only its shape is taken (`data` is left empty).
fn array<const DATA: bool>(p: &Parsed, i: usize) -> Option<Array> {
    let (Node::List { items: rows, .. } | Node::Tuple { items: rows, .. }) = *p.nodes.get(i)?
    else {
        return None;
    };
    let mut data = Vec::with_capacity(if DATA { rows as usize * 2 } else { 0 });
    let mut width: Option<usize> = None;
    let mut scalars = false;
    // One pass along the tape: a row's items must all be numbers, one node each.
    let mut k = i + 1;
    for _ in 0..rows {
        match *p.nodes.get(k)? {
            Node::List { items: cols, .. } | Node::Tuple { items: cols, .. } => {
                let cols = cols as usize;
                if scalars || *width.get_or_insert(cols) != cols {
                    return None;
                }
                for node in p.nodes.get(k + 1..k + 1 + cols)? {
                    let value = number(*node)?;
                    if DATA {
                        data.push(value);
                    }
                }
                k += 1 + cols;
            }
            node => {
                // A 1-D array: every item a number, none a list.
                if width.is_some() {
                    return None;
                }
                scalars = true;
                let value = number(node)?;
                if DATA {
                    data.push(value);
                }
                k += 1;
            }
        }
    }
    let rows = rows as usize;
    // Empty arrays (and rows) keep numpy's own shape rules: the general path handles them.
    let shape = match width {
        Some(w) if w > 0 => vec![rows, w],
        Some(_) => return None,
        None if rows == 0 => return None,
        None => vec![rows],
    };
    Some(Array { data, shape })
}

/// The header's parts, if the payload has exactly a face header's shape.
pub fn face_parts(p: &Parsed) -> Option<FaceParts> {
    object::<true>(p, 0, HEADER)
}

/// The object of class `class` at node `i`, taken apart field by field (without `DATA`, its
/// arrays' shapes only).
fn object<const DATA: bool>(p: &Parsed, i: usize, class: usize) -> Option<Object> {
    let schema = &SCHEMA[class];
    let nodes = fields(p, i, schema)?;
    let parts = schema
        .fields
        .iter()
        .zip(nodes)
        .map(|(f, node)| match node {
            None => Some(Part::Absent),
            Some(node) => part::<DATA>(p, node, f.kind),
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Object { class, parts })
}

/// One field's value at node `i`, as its kind takes it.
fn part<const DATA: bool>(p: &Parsed, i: usize, kind: Kind) -> Option<Part> {
    Some(match kind {
        Kind::Value => Part::Node(i),
        Kind::Array => Part::Array(array::<DATA>(p, i)?),
        Kind::Dims => match p.nodes.get(i)? {
            Node::None => Part::Dims(None),
            Node::List { .. } | Node::Tuple { .. } => Part::Dims(Some(i)),
            _ => return None,
        },
        Kind::Object(class) => Part::Object(object::<DATA>(p, i, class)?),
        Kind::Objects(class) => Part::Objects(
            named(p, i)?
                .into_iter()
                .map(|(name, v)| Some((name, object::<DATA>(p, v, class)?)))
                .collect::<Option<_>>()?,
        ),
        Kind::Arrays => Part::Arrays(
            named(p, i)?
                .into_iter()
                .map(|(name, v)| Some((name, array::<DATA>(p, v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// A dict field of named entries (masks, identities): `None` or a dict whose keys are distinct
/// strings, as (name node, value node) pairs.
fn named(p: &Parsed, i: usize) -> Option<Vec<(usize, usize)>> {
    let items = match p.nodes.get(i)? {
        Node::None => return Some(Vec::new()),
        Node::Dict { .. } => p.dict_items(i)?,
        _ => return None,
    };
    let mut names: Vec<&[u8]> = Vec::with_capacity(items.len());
    for &(k, _) in &items {
        let name = p.str_at(k)?;
        if names.contains(&name) {
            return None;
        }
        names.push(name);
    }
    Some(items)
}

/// What `faceio scan` counts of a face header (`file_facts` in `faceio/cli/scan.py`), taken
/// on the reading thread so that the header's objects need not be built: the landmarks' row
/// count, the mask and identity name nodes in payload order, and the nodes of the four values
/// scan shows as they are (version, original file name, source frame, whether a video).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceFacts {
    pub landmarks: usize,
    pub masks: Vec<usize>,
    pub identity: Vec<usize>,
    pub version: usize,
    pub original: usize,
    pub frame: usize,
    pub video: usize,
}

impl FaceFacts {
    /// The nodes these facts name, copied out of `p` (names, a few numbers and strings) with
    /// the facts pointing into the copy: small enough to keep where the parse is dropped.
    pub fn extracted(&self, p: &Parsed) -> (Parsed, FaceFacts) {
        let four = [self.version, self.original, self.frame, self.video];
        let roots: Vec<usize> = [&self.masks[..], &self.identity[..], &four[..]].concat();
        let (small, at) = p.extract(&roots);
        let (masks, rest) = at.split_at(self.masks.len());
        let (identity, rest) = rest.split_at(self.identity.len());
        let &[version, original, frame, video] = rest else {
            unreachable!("extract gives one index per root")
        };
        let facts = FaceFacts {
            landmarks: self.landmarks,
            masks: masks.to_vec(),
            identity: identity.to_vec(),
            version,
            original,
            frame,
            video,
        };
        (small, facts)
    }
}

/// The position of field `name` in class `class` of [`SCHEMA`].
pub fn field_index(class: usize, name: &str) -> Option<usize> {
    SCHEMA
        .get(class)?
        .fields
        .iter()
        .position(|f| f.name == name)
}

impl Object {
    /// The value of this object's field `name`.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.get(field_index(self.class, name)?)
    }
}

/// Whether Python may refuse to build a node of the payload: a big int (a decimal one past
/// `sys.get_int_max_str_digits()`) or a string with a `\N{...}` escape naming no character.
/// The dict route then fails the file (as `verify` does), so scan must not take its facts
/// without building it. Every other node builds without fail (the parser refuses unhashable
/// set items and keys).
pub fn python_may_refuse(p: &Parsed) -> bool {
    p.nodes
        .iter()
        .any(|n| matches!(n, Node::BigInt { .. } | Node::PyStr { .. }))
}

/// The facts of a payload that has exactly a face header's shape ([`face_parts`]); such a
/// payload is one `PNGHeader.from_dict` takes, so scan's schema check has nothing to add.
/// The caller leaves out payloads Python may refuse to build ([`python_may_refuse`]).
pub fn face_facts(p: &Parsed) -> Option<FaceFacts> {
    // The same walk as face_parts, every check made, the numbers not kept.
    facts_of_parts(&object::<false>(p, 0, HEADER)?)
}

/// The scan facts a face header's parts hold (with or without their arrays' numbers).
pub fn facts_of_parts(header: &FaceParts) -> Option<FaceFacts> {
    let sub = |field: &str| match header.part(field)? {
        Part::Object(o) => Some(o),
        _ => None,
    };
    let (alignments, source) = (sub("alignments")?, sub("source")?);
    let node = |field: &str| match source.part(field)? {
        Part::Node(i) => Some(*i),
        _ => None,
    };
    let names = |field: &str| -> Option<Vec<usize>> {
        Some(match alignments.part(field)? {
            Part::Absent => Vec::new(),
            Part::Objects(entries) => entries.iter().map(|(name, _)| *name).collect(),
            Part::Arrays(entries) => entries.iter().map(|(name, _)| *name).collect(),
            _ => return None,
        })
    };
    let landmarks = match alignments.part("landmarks_xy")? {
        Part::Array(a) => *a.shape.first()?,
        _ => return None,
    };
    Some(FaceFacts {
        landmarks,
        masks: names("mask")?,
        identity: names("identity")?,
        version: node("alignments_version")?,
        original: node("original_filename")?,
        frame: node("source_filename")?,
        video: node("source_is_video")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::parse;

    const FACE: &str = "{'alignments': {'x': 1, 'y': 2, 'w': 3, 'h': 4, \
        'landmarks_xy': [[0.5, 1.5], [2, 3]], \
        'mask': {'components': {'mask': b'x', 'affine_matrix': [[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]], \
        'interpolator': 3, 'stored_size': 128, 'stored_centering': 'face'}}, \
        'identity': {'vggface2': [0.25, -1.0, 1e40]}}, \
        'source': {'alignments_version': 2.4, 'original_filename': 'a.png', 'face_index': 0, \
        'source_filename': 'b.png', 'source_is_video': False, 'source_frame_dims': [1080, 1920]}}";

    /// The object of an `Object` part.
    fn sub(o: &Object, field: usize) -> &Object {
        match &o.parts[field] {
            Part::Object(sub) => sub,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn canonical_header() {
        let p = parse(FACE.as_bytes(), 64).unwrap();
        let f = face_parts(&p).unwrap();
        let al = sub(&f, 0);
        assert_eq!(al.class, ALIGNMENTS);
        let Part::Array(landmarks) = &al.parts[4] else {
            panic!("landmarks")
        };
        assert_eq!(landmarks.shape, vec![2, 2]);
        assert_eq!(landmarks.data, vec![0.5, 1.5, 2.0, 3.0]);
        let Part::Objects(masks) = &al.parts[5] else {
            panic!("masks")
        };
        assert_eq!(masks.len(), 1);
        assert!(matches!(&masks[0].1.parts[1], Part::Array(a) if a.shape == vec![2, 3]));
        let Part::Arrays(identity) = &al.parts[6] else {
            panic!("identity")
        };
        assert_eq!(identity[0].1.data, vec![0.25, -1.0, f32::INFINITY]);
        let Part::Node(h) = al.parts[3] else {
            panic!("h")
        };
        assert_eq!(p.nodes[h], Node::Int(4));
        assert!(matches!(sub(&f, 1).parts[5], Part::Dims(Some(_))));
    }

    #[test]
    fn schema_nests_as_the_header_does() {
        for (i, class) in SCHEMA.iter().enumerate() {
            for f in class.fields {
                if let Some(c) = f.kind.class() {
                    assert!(c < SCHEMA.len() && c != i, "{}.{}", class.name, f.name);
                }
            }
        }
    }

    #[test]
    fn anything_else_takes_the_general_path() {
        for (from, to) in [
            ("'x': 1,", "'x': 1, 'extra': 0,"),
            ("'x': 1,", ""),
            ("[[0.5, 1.5], [2, 3]]", "[[0.5, 1.5], [2]]"),
            ("[[0.5, 1.5], [2, 3]]", "[[0.5, 'a'], [2, 3]]"),
            ("[[0.5, 1.5], [2, 3]]", "[]"),
            ("'components':", "1:"),
            ("[1080, 1920]", "'ab'"),
            ("'vggface2':", "b'vggface2':"),
            ("'face_index': 0,", "'face_index': 0, 'face_index': 1,"),
            ("[0.25, -1.0, 1e40]", "[99999999999999999999999]"),
        ] {
            let text = FACE.replacen(from, to, 1);
            assert_ne!(text, FACE);
            let p = parse(text.as_bytes(), 64).unwrap();
            assert!(face_parts(&p).is_none(), "{text}");
        }
        let p = parse(b"{'a': 1}", 64).unwrap();
        assert!(face_parts(&p).is_none());
    }

    #[test]
    fn facts_of_a_face_header() {
        let p = parse(FACE.as_bytes(), 64).unwrap();
        let f = face_facts(&p).unwrap();
        assert_eq!(f.landmarks, 2);
        let text = |i: usize| p.str_at(i).unwrap().to_vec();
        assert_eq!(
            f.masks.iter().map(|&i| text(i)).collect::<Vec<_>>(),
            [b"components".to_vec()]
        );
        assert_eq!(
            f.identity.iter().map(|&i| text(i)).collect::<Vec<_>>(),
            [b"vggface2".to_vec()]
        );
        assert_eq!(p.nodes[f.version], Node::Float(2.4));
        assert_eq!(text(f.original), b"a.png");
        assert_eq!(text(f.frame), b"b.png");
        assert_eq!(p.nodes[f.video], Node::Bool(false));
        // Masks and identities left out, or None: no names.
        let start = FACE.find("'mask':").unwrap();
        let end = FACE.find("'source':").unwrap();
        let bare = format!("{}'mask': None}}, {}", &FACE[..start], &FACE[end..]);
        let f = face_facts(&parse(bare.as_bytes(), 64).unwrap()).unwrap();
        assert!(f.masks.is_empty() && f.identity.is_empty());
        // Payloads Python may refuse to build are told apart (the caller leaves them out).
        assert!(!python_may_refuse(&p));
        for text in ["1".repeat(30), "'\\N{BULLET}'".to_string()] {
            let odd = FACE.replacen("'x': 1", &format!("'x': {text}"), 1);
            assert!(
                python_may_refuse(&parse(odd.as_bytes(), 64).unwrap()),
                "{odd}"
            );
        }
        // Anything the fast path leaves to from_dict has no facts either.
        let ragged = FACE.replacen("[[0.5, 1.5], [2, 3]]", "[[0.5, 1.5], [2]]", 1);
        assert!(face_facts(&parse(ragged.as_bytes(), 64).unwrap()).is_none());
    }

    #[test]
    fn optional_dicts_may_be_none_or_absent() {
        let start = FACE.find("'mask':").unwrap();
        let end = FACE.find("'source':").unwrap();
        let text = format!("{}'mask': None}}, {}", &FACE[..start], &FACE[end..]);
        let f = face_parts(&parse(text.as_bytes(), 64).unwrap()).unwrap();
        let al = sub(&f, 0);
        assert_eq!(al.parts[5], Part::Objects(vec![]));
        assert_eq!(al.parts[6], Part::Absent);
        let text = FACE.replacen("[[0.5, 1.5], [2, 3]]", "[1, [2, 3]]", 1);
        assert!(face_parts(&parse(text.as_bytes(), 64).unwrap()).is_none());
    }
}
