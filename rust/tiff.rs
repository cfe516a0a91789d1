//! TIFF ImageDescription (tag 270): read it, and insert it into the single-IFD little-endian
//! files that OpenCV writes (docs/format.md, "TIFF").
//!
//! Insertion grows the IFD by one 12-byte entry in place, so everything stored after the IFD
//! moves 12 bytes on: offsets that point there are moved with it. The payload goes at the end.

use crate::error::{Error, Result};

const TAG_DESCRIPTION: u16 = 270;
const TYPE_ASCII: u16 = 2;
/// Tags whose values are offsets into the file (strips, tiles, free space, JPEG tables).
const DATA_OFFSET_TAGS: [u16; 4] = [273, 288, 324, 513];
/// Tags that point at further IFDs, whose own offsets this writer would have to follow.
const IFD_POINTER_TAGS: [u16; 4] = [330, 34665, 34853, 40965];
/// Sub-IFDs looked into, at most, how deep (a sub-IFD's own pointers, its next IFD), and how
/// many offsets their entries may hold in all: a file past these is refused, not half checked.
const MAX_SUB_IFDS: usize = 64;
const MAX_SUB_DEPTH: usize = 4;
const MAX_SUB_OFFSETS: usize = 1 << 20;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Bytes per value of a TIFF field type.
fn type_size(t: u16) -> Option<u64> {
    match t {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 => Some(8),
        _ => None,
    }
}

/// One IFD entry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub tag: u16,
    pub kind: u16,
    pub count: u32,
    /// The raw 4-byte value/offset field.
    pub value: [u8; 4],
    /// Where the entry sits in the file.
    pub at: usize,
}

impl Entry {
    /// Total size of the value in bytes, if the type is known.
    fn byte_len(&self) -> Result<u64> {
        let size = type_size(self.kind).ok_or_else(|| {
            Error::tiff(
                self.at as u64 + 2,
                format!(
                    "tag {} at byte {} has unknown field type {}",
                    self.tag, self.at, self.kind
                ),
            )
        })?;
        Ok(size * u64::from(self.count))
    }

    fn offset(&self) -> u32 {
        u32::from_le_bytes(self.value)
    }
}

/// The parsed single IFD of a supported TIFF.
#[derive(Debug)]
pub struct Ifd {
    pub offset: usize,
    pub entries: Vec<Entry>,
    /// One past the next-IFD pointer.
    pub end: usize,
}

/// Check the header and read the one IFD, with every bound checked.
pub fn parse_ifd(tiff: &[u8]) -> Result<Ifd> {
    let offset = check_header(tiff)?;
    let n = le16(tiff, offset) as usize;
    let end = offset + 2 + 12 * n + 4;
    if end > tiff.len() {
        return Err(Error::tiff(
            offset as u64,
            format!(
                "IFD at byte {offset} with {n} entries runs past the end of the file ({} bytes)",
                tiff.len()
            ),
        ));
    }
    let next = le32(tiff, end - 4);
    if next != 0 {
        return Err(Error::tiff(
            (end - 4) as u64,
            "TIFF with several IFDs (pages) is not supported",
        ));
    }
    let entries = entries_at(tiff, offset, n);
    for e in &entries {
        check_value_bounds(tiff, e)?;
    }
    Ok(Ifd {
        offset,
        entries,
        end,
    })
}

/// The `n` entries of the IFD at `offset` (the caller checked they lie inside the file).
fn entries_at(tiff: &[u8], offset: usize, n: usize) -> Vec<Entry> {
    (0..n)
        .map(|i| {
            let at = offset + 2 + 12 * i;
            Entry {
                tag: le16(tiff, at),
                kind: le16(tiff, at + 2),
                count: le32(tiff, at + 4),
                value: [tiff[at + 8], tiff[at + 9], tiff[at + 10], tiff[at + 11]],
                at,
            }
        })
        .collect()
}

/// The sub-IFDs still to look into, with bounded work on a hostile file: each offset queued
/// once, at most [`MAX_SUB_IFDS`] of them, [`MAX_SUB_DEPTH`] deep, and at most
/// [`MAX_SUB_OFFSETS`] offsets read in all (one array of a million pointers shared by
/// thousands of entries would otherwise take gigabytes or hours).
struct SubWalk<'a> {
    tiff: &'a [u8],
    queued: Vec<u32>,
    todo: Vec<(u32, usize)>,
    budget: usize,
}

impl<'a> SubWalk<'a> {
    fn new(tiff: &'a [u8]) -> Self {
        SubWalk {
            tiff,
            queued: Vec::new(),
            todo: Vec::new(),
            budget: MAX_SUB_OFFSETS,
        }
    }

    /// The offsets an entry holds, counted against the budget.
    fn offsets(&mut self, e: &Entry) -> Result<Vec<u32>> {
        self.budget = self
            .budget
            .checked_sub(e.count as usize)
            .ok_or_else(|| Error::tiff(e.at as u64, "sub-IFDs hold too many offsets to check"))?;
        offsets_of(self.tiff, e)
    }

    /// Queue the sub-IFD at `p`, `depth` levels below the main IFD (`at`: where it is named).
    fn queue(&mut self, p: u32, depth: usize, at: usize) -> Result<()> {
        if self.queued.contains(&p) {
            return Ok(());
        }
        if depth > MAX_SUB_DEPTH {
            return Err(Error::tiff(
                at as u64,
                format!("sub-IFDs nested more than {MAX_SUB_DEPTH} deep"),
            ));
        }
        if self.queued.len() >= MAX_SUB_IFDS {
            return Err(Error::tiff(
                at as u64,
                format!("too many sub-IFDs (more than {MAX_SUB_IFDS})"),
            ));
        }
        self.queued.push(p);
        self.todo.push((p, depth));
        Ok(())
    }
}

/// Refuse a file whose sub-IFDs (SubIFDs, Exif, GPS, Interoperability; their own sub-IFDs and
/// next IFDs, a few levels deep) keep anything at or past the main IFD's end: the rewrite moves
/// those bytes 12 on, and the offsets held inside sub-IFDs are not rewritten, so their values
/// would be read from the wrong place. Sub-IFDs wholly before the main IFD's end stay as
/// they are.
fn check_sub_ifds(tiff: &[u8], ifd: &Ifd) -> Result<()> {
    let refuse = |at: usize, what: String| {
        Err(Error::tiff(
            at as u64,
            format!(
                "{what}, after the main IFD: a file whose sub-IFDs reach past it is not supported"
            ),
        ))
    };
    let mut walk = SubWalk::new(tiff);
    for e in ifd
        .entries
        .iter()
        .filter(|e| IFD_POINTER_TAGS.contains(&e.tag))
    {
        for p in walk.offsets(e)? {
            walk.queue(p, 1, e.at)?;
        }
    }
    while let Some((offset, depth)) = walk.todo.pop() {
        let start = offset as usize;
        if start >= ifd.end {
            return refuse(start, format!("a sub-IFD at byte {start}"));
        }
        let n = match tiff.get(start..start + 2) {
            Some(b) => usize::from(u16::from_le_bytes([b[0], b[1]])),
            None => return Err(Error::tiff(start as u64, "a sub-IFD lies outside the file")),
        };
        let end = start + 2 + 12 * n + 4;
        if end > tiff.len() {
            return Err(Error::tiff(
                start as u64,
                format!("the sub-IFD at byte {start} runs past the end of the file"),
            ));
        }
        if end > ifd.end {
            return refuse(
                start,
                format!("the sub-IFD at byte {start} ends at byte {end}"),
            );
        }
        for e in entries_at(tiff, start, n) {
            check_value_bounds(tiff, &e)?;
            let len = e.byte_len()?;
            if len > 4 && u64::from(e.offset()) + len > ifd.end as u64 {
                return refuse(e.at, format!("the value of tag {} of a sub-IFD", e.tag));
            }
            let data = DATA_OFFSET_TAGS.contains(&e.tag) || IFD_POINTER_TAGS.contains(&e.tag);
            if data && matches!(e.kind, 3 | 4 | 13) {
                for p in walk.offsets(&e)? {
                    if p as usize >= ifd.end {
                        return refuse(e.at, format!("the data of tag {} of a sub-IFD", e.tag));
                    }
                    if IFD_POINTER_TAGS.contains(&e.tag) {
                        walk.queue(p, depth + 1, e.at)?;
                    }
                }
            }
        }
        let next = le32(tiff, end - 4);
        if next != 0 {
            walk.queue(next, depth + 1, end - 4)?;
        }
    }
    Ok(())
}

/// Check the 8-byte header (little-endian, version 42) and return the IFD's offset.
fn check_header(tiff: &[u8]) -> Result<usize> {
    if tiff.is_empty() {
        return Err(Error::tiff(0, "empty file: not a TIFF"));
    }
    if tiff.len() < 8 {
        return Err(Error::tiff(0, "file too short for a TIFF header"));
    }
    match &tiff[..2] {
        b"II" => {}
        b"MM" => return Err(Error::tiff(0, "big-endian (MM) TIFF is not supported")),
        _ => {
            return Err(Error::tiff(
                0,
                "not a TIFF file: byte order mark is not II or MM",
            ))
        }
    }
    match le16(tiff, 2) {
        42 => {}
        43 => return Err(Error::tiff(2, "BigTIFF (version 43) is not supported")),
        v => {
            return Err(Error::tiff(
                2,
                format!("not a TIFF file: version {v}, expected 42"),
            ))
        }
    }
    let offset = le32(tiff, 4) as usize;
    if offset < 8 || offset.checked_add(2).is_none_or(|e| e > tiff.len()) {
        return Err(Error::tiff(
            4,
            format!(
                "IFD offset {offset} is outside the file ({} bytes)",
                tiff.len()
            ),
        ));
    }
    Ok(offset)
}

/// An entry whose value is stored out of line must point inside the file.
fn check_value_bounds(tiff: &[u8], e: &Entry) -> Result<()> {
    let len = e.byte_len()?;
    if len > 4 {
        let off = u64::from(e.offset());
        if off + len > tiff.len() as u64 {
            return Err(Error::tiff(
                e.at as u64 + 8,
                format!(
                    "tag {} at byte {}: value at offset {off} ({len} bytes) runs past the end of the file ({} bytes)",
                    e.tag,
                    e.at,
                    tiff.len()
                ),
            ));
        }
    }
    Ok(())
}

/// The value bytes of an entry (inline or at its offset); bounds were checked by `parse_ifd`.
fn value_bytes<'a>(tiff: &'a [u8], e: &Entry) -> Result<&'a [u8]> {
    let len = e.byte_len()? as usize;
    if len <= 4 {
        Ok(&tiff[e.at + 8..e.at + 8 + len])
    } else {
        let off = e.offset() as usize;
        Ok(&tiff[off..off + len])
    }
}

/// The ImageDescription bytes, with trailing NULs removed.
pub fn read_description(tiff: &[u8]) -> Result<Vec<u8>> {
    let ifd = parse_ifd(tiff)?;
    let e = ifd
        .entries
        .iter()
        .find(|e| e.tag == TAG_DESCRIPTION)
        .ok_or_else(|| Error::not_found("TIFF has no ImageDescription (tag 270)"))?;
    let mut v = value_bytes(tiff, e)?;
    while let Some((0, rest)) = v.split_last() {
        v = rest;
    }
    Ok(v.to_vec())
}

/// Move a file offset that lies after the IFD by the 12 bytes the new entry adds.
fn shifted(off: u32, ifd_end: usize, at: usize, tag: u16) -> Result<u32> {
    if (off as usize) < ifd_end {
        return Ok(off);
    }
    off.checked_add(12).ok_or_else(|| {
        Error::tiff(
            at as u64,
            format!("tag {tag} at byte {at}: offset {off} overflows when moved"),
        )
    })
}

/// Insert an ImageDescription holding `payload` (docs/format.md, "TIFF").
pub fn write_description(tiff: &[u8], payload: &[u8]) -> Result<Vec<u8>> {
    let ifd = parse_ifd(tiff)?;
    let count = check_room(tiff, &ifd, payload)?;
    check_sub_ifds(tiff, &ifd)?;
    // Values of up to 4 bytes sit in the entry itself (TIFF 6.0); longer ones at the end.
    let inline = payload.len() <= 4;
    let mut desc_value = [0u8; 4];
    if inline {
        desc_value[..payload.len()].copy_from_slice(payload);
    } else {
        desc_value = ((tiff.len() + 12) as u32).to_le_bytes();
    }

    let mut out = Vec::with_capacity(tiff.len() + 12 + payload.len());
    out.extend_from_slice(&tiff[..ifd.offset]);
    out.extend_from_slice(&((ifd.entries.len() + 1) as u16).to_le_bytes());
    let mut placed = false;
    for e in &ifd.entries {
        if !placed && e.tag > TAG_DESCRIPTION {
            push_entry(&mut out, TAG_DESCRIPTION, TYPE_ASCII, count, desc_value);
            placed = true;
        }
        push_entry(&mut out, e.tag, e.kind, e.count, moved_value(&ifd, e)?);
    }
    if !placed {
        push_entry(&mut out, TAG_DESCRIPTION, TYPE_ASCII, count, desc_value);
    }
    out.extend_from_slice(&tiff[ifd.end - 4..]);
    shift_offset_arrays(&mut out, &ifd)?;
    if !inline {
        out.extend_from_slice(payload);
    }
    Ok(out)
}

/// Refuse a file that cannot take the new entry; the payload's length as the entry's count.
fn check_room(tiff: &[u8], ifd: &Ifd, payload: &[u8]) -> Result<u32> {
    if ifd.entries.len() >= usize::from(u16::MAX) {
        return Err(Error::tiff(
            ifd.offset as u64,
            "IFD is full (65535 entries)",
        ));
    }
    if let Some(e) = ifd.entries.iter().find(|e| e.tag == TAG_DESCRIPTION) {
        return Err(Error::tiff(
            e.at as u64,
            format!(
                "TIFF already has an ImageDescription (tag 270) at byte {}",
                e.at
            ),
        ));
    }
    check_apart(ifd)?;
    let count = u32::try_from(payload.len())
        .map_err(|_| Error::tiff(0, "payload too large for a TIFF field"))?;
    if tiff.len() as u64 + 12 + u64::from(count) > u64::from(u32::MAX) {
        return Err(Error::tiff(
            0,
            "the file would exceed 4 GiB, the limit of classic TIFF",
        ));
    }
    Ok(count)
}

/// What a span of the file is, for [`check_apart`].
#[derive(Clone, Copy)]
enum Owner {
    Header,
    Ifd,
    /// An entry's out-of-line value: its tag and where the entry is.
    Value(u16, usize),
}

impl Owner {
    fn describe(self) -> String {
        match self {
            Owner::Header => "the 8-byte header".to_string(),
            Owner::Ifd => "the IFD".to_string(),
            Owner::Value(tag, at) => format!("the value of tag {tag} (entry at byte {at})"),
        }
    }
}

/// Refuse a file in which a span the rewrite changes (the IFD, which grows; an offset array,
/// whose offsets move) overlaps any other span (the header, an out-of-line value): the rewrite
/// would write over it, and the file it returned would not parse or would hold other values.
/// No valid TIFF has such overlaps.
fn check_apart(ifd: &Ifd) -> Result<()> {
    // (start, end, changed by the rewrite, owner)
    let mut spans = vec![
        (0, 8, false, Owner::Header),
        (ifd.offset as u64, ifd.end as u64, true, Owner::Ifd),
    ];
    for e in &ifd.entries {
        let len = e.byte_len()?;
        if len > 4 {
            let start = u64::from(e.offset());
            let moves = DATA_OFFSET_TAGS.contains(&e.tag) && matches!(e.kind, 3 | 4);
            spans.push((start, start + len, moves, Owner::Value(e.tag, e.at)));
        }
    }
    spans.sort_unstable_by_key(|s| s.0);
    // A span overlaps an earlier one (by start) iff that one ends after it starts: the earlier
    // span reaching furthest, of all and of those the rewrite changes, is the witness to test.
    let mut reach_all: Option<(u64, Owner)> = None;
    let mut reach_changed: Option<(u64, Owner)> = None;
    for &(start, end, changed, owner) in &spans {
        let reach = if changed { reach_all } else { reach_changed };
        if let Some((_, other)) = reach.filter(|r| r.0 > start) {
            let at = match owner {
                Owner::Value(_, at) => at as u64 + 8,
                _ => start,
            };
            return Err(Error::tiff(
                at,
                format!(
                    "{} (bytes {start} to {end}) overlaps {}",
                    owner.describe(),
                    other.describe()
                ),
            ));
        }
        if reach_all.is_none_or(|r| end > r.0) {
            reach_all = Some((end, owner));
        }
        if changed && reach_changed.is_none_or(|r| end > r.0) {
            reach_changed = Some((end, owner));
        }
    }
    Ok(())
}

/// An existing entry's 4 value bytes in the new file: an out-of-line value's offset and inline
/// data offsets move 12 bytes on when they point past the IFD.
fn moved_value(ifd: &Ifd, e: &Entry) -> Result<[u8; 4]> {
    let len = e.byte_len()?;
    let mut value = e.value;
    if len > 4 {
        value = shifted(e.offset(), ifd.end, e.at, e.tag)?.to_le_bytes();
    }
    if DATA_OFFSET_TAGS.contains(&e.tag) && matches!(e.kind, 3 | 4) && len <= 4 {
        shift_offsets(&mut value[..len as usize], e, ifd.end)?;
    }
    Ok(value)
}

/// Offset arrays (strips, tiles) that now sit 12 bytes on: move the offsets they hold too.
fn shift_offset_arrays(out: &mut [u8], ifd: &Ifd) -> Result<()> {
    for e in &ifd.entries {
        let len = e.byte_len()?;
        if DATA_OFFSET_TAGS.contains(&e.tag) && matches!(e.kind, 3 | 4) && len > 4 {
            let arr = shifted(e.offset(), ifd.end, e.at, e.tag)? as usize;
            // parse_ifd checked the array lies inside the file, and `out` is 12 bytes longer.
            let slot = out.get_mut(arr..arr + len as usize).ok_or_else(|| {
                Error::tiff(
                    e.at as u64,
                    format!("tag {}: offset array outside the file", e.tag),
                )
            })?;
            shift_offsets(slot, e, ifd.end)?;
        }
    }
    Ok(())
}

fn push_entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&value);
}

/// Offsets held by an entry of SHORT or LONG type (inline or out of line).
fn offsets_of(tiff: &[u8], e: &Entry) -> Result<Vec<u32>> {
    let v = value_bytes(tiff, e)?;
    Ok(match e.kind {
        3 => v
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        4 | 13 => v
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => Vec::new(),
    })
}

/// Move every SHORT or LONG offset held in `values` (an entry's value bytes, inline or from its
/// array) that points past the IFD by the 12 bytes the new entry adds.
fn shift_offsets(values: &mut [u8], e: &Entry, ifd_end: usize) -> Result<()> {
    match e.kind {
        4 => {
            for c in values.chunks_exact_mut(4) {
                let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                c.copy_from_slice(&shifted(v, ifd_end, e.at, e.tag)?.to_le_bytes());
            }
        }
        3 => {
            for c in values.chunks_exact_mut(2) {
                let v = u32::from(u16::from_le_bytes([c[0], c[1]]));
                let nv = u16::try_from(shifted(v, ifd_end, e.at, e.tag)?).map_err(|_| {
                    Error::tiff(
                        e.at as u64,
                        format!("tag {}: moved offset does not fit a SHORT", e.tag),
                    )
                })?;
                c.copy_from_slice(&nv.to_le_bytes());
            }
        }
        _ => {}
    }
    Ok(())
}

/// Width and height from the IFD's tags 256 and 257.
pub fn size(tiff: &[u8]) -> Result<(u32, u32)> {
    let ifd = parse_ifd(tiff)?;
    let get = |tag: u16, name: &str| -> Result<u32> {
        let e = ifd.entries.iter().find(|e| e.tag == tag).ok_or_else(|| {
            Error::tiff(ifd.offset as u64, format!("TIFF has no {name} (tag {tag})"))
        })?;
        if e.count != 1 {
            // Beyond one value the field holds an offset, not the size.
            return Err(Error::tiff(
                e.at as u64 + 4,
                format!("{name} has {} values, expected 1", e.count),
            ));
        }
        match e.kind {
            3 => Ok(u32::from(le16(&e.value, 0))),
            4 => Ok(le32(&e.value, 0)),
            k => Err(Error::tiff(
                e.at as u64,
                format!("{name} has unexpected field type {k}"),
            )),
        }
    };
    Ok((get(256, "ImageWidth")?, get(257, "ImageLength")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal TIFF: header | IFD | BitsPerSample array | strip data (all after the IFD, so
    /// every offset moves).
    fn sample() -> Vec<u8> {
        let mut t = b"II*\0".to_vec();
        t.extend_from_slice(&8u32.to_le_bytes());
        let n = 5u16;
        let ifd_end = 8 + 2 + 12 * n as usize + 4;
        let bps_at = ifd_end as u32;
        let strip_at = bps_at + 6;
        t.extend_from_slice(&n.to_le_bytes());
        let mut entry = |tag: u16, kind: u16, count: u32, value: u32| {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&kind.to_le_bytes());
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        };
        entry(256, 3, 1, 2);
        entry(257, 3, 1, 1);
        entry(258, 3, 3, bps_at);
        entry(273, 4, 1, strip_at);
        entry(279, 4, 1, 6);
        t.extend_from_slice(&0u32.to_le_bytes());
        for _ in 0..3 {
            t.extend_from_slice(&8u16.to_le_bytes());
        }
        t.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        t
    }

    #[test]
    fn insert_then_read() {
        let t = sample();
        let out = write_description(&t, b"{\"a\": 1}").unwrap();
        assert_eq!(out.len(), t.len() + 12 + 8);
        assert_eq!(read_description(&out).unwrap(), b"{\"a\": 1}");
        let ifd = parse_ifd(&out).unwrap();
        let tags: Vec<u16> = ifd.entries.iter().map(|e| e.tag).collect();
        assert_eq!(tags, vec![256, 257, 258, 270, 273, 279]);
        // BitsPerSample array and strip moved by 12, and still hold the same bytes.
        let bps = ifd.entries[2].offset() as usize;
        assert_eq!(&out[bps..bps + 6], &[8, 0, 8, 0, 8, 0]);
        let strip = ifd.entries[4].offset() as usize;
        assert_eq!(&out[strip..strip + 6], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(size(&out).unwrap(), (2, 1));
    }

    #[test]
    fn rejects_unsupported() {
        let t = sample();
        let once = write_description(&t, b"12345").unwrap();
        assert!(write_description(&once, b"12345")
            .unwrap_err()
            .message
            .contains("already"));
        let mut mm = t.clone();
        mm[..2].copy_from_slice(b"MM");
        assert!(parse_ifd(&mm).unwrap_err().message.contains("big-endian"));
        let mut big = t.clone();
        big[2] = 43;
        assert!(parse_ifd(&big).unwrap_err().message.contains("BigTIFF"));
        let mut past = t.clone();
        past[4..8].copy_from_slice(&10_000u32.to_le_bytes());
        assert!(parse_ifd(&past)
            .unwrap_err()
            .message
            .contains("outside the file"));
        let mut multi = t.clone();
        let next_at = 8 + 2 + 12 * 5;
        multi[next_at] = 1;
        assert!(parse_ifd(&multi)
            .unwrap_err()
            .message
            .contains("several IFDs"));
        let mut bad_off = t.clone();
        let bps_value_at = 8 + 2 + 12 * 2 + 8;
        bad_off[bps_value_at..bps_value_at + 4].copy_from_slice(&5000u32.to_le_bytes());
        assert!(parse_ifd(&bad_off)
            .unwrap_err()
            .message
            .contains("past the end"));
        assert!(parse_ifd(b"").is_err());
        assert_eq!(
            read_description(&t).unwrap_err().kind,
            crate::error::ErrorKind::NotFound
        );
        for cut in 0..t.len() {
            let _ = write_description(&t[..cut], b"{\"x\": 1}");
            let _ = read_description(&t[..cut]);
        }
    }

    /// `sample()` with entry `index` (0 to 4: tags 256, 257, 258, 273, 279) holding `count`
    /// values at offset `at`.
    fn pointing(index: usize, count: u32, at: u32) -> Vec<u8> {
        let mut t = sample();
        let entry = 8 + 2 + 12 * index;
        t[entry + 4..entry + 8].copy_from_slice(&count.to_le_bytes());
        t[entry + 8..entry + 12].copy_from_slice(&at.to_le_bytes());
        t
    }

    #[test]
    fn refuses_overlaps_the_rewrite_would_write_over() {
        // Found by the tiff_rewrite fuzz target: a StripOffsets array over the IFD had its
        // "offsets" moved over the new entries (the entry count became 25), and one over the
        // header moved the byte order mark; either way the file returned did not parse.
        let ifd_end = 8 + 2 + 12 * 5 + 4;
        let cases = [
            (pointing(3, 3, 8), "overlaps"), // strip offsets over the IFD
            (pointing(2, 3, ifd_end - 2), "the IFD"), // bits per sample over its end
            (pointing(2, 3, ifd_end - 70), "the IFD"), // over its start
            (pointing(3, 3, 1), "the 8-byte header"), // strip offsets over the header
            (pointing(3, 2, ifd_end), "tag 258"), // strip offsets over a value
            (pointing(2, 40, 2), "the IFD"), // a long value across the IFD
        ];
        for (t, what) in cases {
            parse_ifd(&t).unwrap();
            let e = write_description(&t, b"{\"a\": 1}").unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Tiff);
            assert!(
                e.message.contains("overlaps") && e.message.contains(what),
                "{}",
                e.message
            );
        }
        // A value over the header is kept as it is (only offset arrays change there), and one
        // that starts where the IFD ends is moved with everything after it.
        for t in [pointing(2, 3, 0), pointing(2, 3, ifd_end)] {
            let out = write_description(&t, b"{\"a\": 1}").unwrap();
            assert_eq!(read_description(&out).unwrap(), b"{\"a\": 1}");
            let old = parse_ifd(&t).unwrap().entries[2].offset() as usize;
            let new = parse_ifd(&out).unwrap().entries[2].offset() as usize;
            assert_eq!(out[new..new + 6], t[old..old + 6]);
        }
    }

    #[test]
    fn size_needs_one_value() {
        // With three SHORTs the value field is an offset, which was read as the width (and so
        // changed when a rewrite moved it; found by the tiff_rewrite fuzz target).
        let three = pointing(0, 3, 8 + 2 + 12 * 5 + 4);
        let e = size(&three).unwrap_err();
        assert!(
            e.message.contains("ImageWidth has 3 values"),
            "{}",
            e.message
        );
        assert_eq!(
            size(&pointing(1, 0, 7)).unwrap_err().kind,
            crate::error::ErrorKind::Tiff
        );
        assert_eq!(size(&sample()).unwrap(), (2, 1));
    }

    #[test]
    fn short_payload_inline() {
        let out = write_description(&sample(), b"{}").unwrap();
        assert_eq!(out.len(), sample().len() + 12);
        assert_eq!(read_description(&out).unwrap(), b"{}");
    }
}
