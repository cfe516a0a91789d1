//! File-level metadata reads: one file (`read_image_meta`) or many in parallel (`read_batch`).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::face::{self, FaceFacts, FaceParts};
use crate::imagesize;
use crate::limits::Limits;
use crate::literal::{self, Parsed};
use crate::png::{self, MetaText};
use crate::source::{FileSource, MemSource, Source};

/// What `read_image_meta` returns: the size, and the parsed faceswap payload if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageMeta {
    pub width: u32,
    pub height: u32,
    pub itxt: Option<Parsed>,
    /// The payload's scan facts, when asked for ([`read_batch`]) and it is a face header.
    pub facts: Option<FaceFacts>,
}

/// Parse a faceswap chunk's text, wording errors with the chunk they come from.
pub fn parse_text(t: &MetaText, limits: &Limits) -> Result<Parsed> {
    literal::parse(&t.text, limits.max_depth).map_err(|e| {
        let at = e.offset.unwrap_or(0);
        e.context(&format!("{}: payload byte {at}", t.describe()))
    })
}

/// The parsed faceswap payload of an in-memory PNG.
pub fn parse_png_payload(image: &[u8], limits: &Limits) -> Result<Parsed> {
    let m = png::read_meta(&mut MemSource(image), limits)?;
    let t = m
        .text
        .ok_or_else(|| Error::not_found("PNG has no faceswap iTXt chunk"))?;
    parse_text(&t, limits)
}

/// A parsed payload, and its face parts when it has a face header's shape.
pub type FacePayload = (Parsed, Option<FaceParts>);

/// The parsed payload of an in-memory PNG, taken apart if it is a face header.
pub fn parse_face_payload(image: &[u8], limits: &Limits) -> Result<FacePayload> {
    let parsed = parse_png_payload(image, limits)?;
    let parts = face::face_parts(&parsed);
    Ok((parsed, parts))
}

/// Whether a file is read as a PNG: by its name, as faceswap's readers decide.
pub fn is_png_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// Read one file's size and faceswap header, reading only the bytes needed.
pub fn read_image_meta(path: &Path, limits: &Limits) -> Result<ImageMeta> {
    read_inner(path, limits).map_err(|e| e.with_path(path))
}

fn read_inner(path: &Path, limits: &Limits) -> Result<ImageMeta> {
    let mut src = FileSource::open(path)?;
    let (width, height, text) = read_text(&mut src, is_png_name(path), limits)?;
    let itxt = match &text {
        Some(t) => Some(parse_text(t, limits)?),
        None => None,
    };
    Ok(ImageMeta {
        width,
        height,
        itxt,
        facts: None,
    })
}

/// An image's size and, for a PNG (`png`, decided by the file's name), its faceswap chunk's
/// text, not yet parsed: the one reading rule for files on disk and bytes fetched from
/// elsewhere (`columns`).
pub fn read_text<S: Source>(
    src: &mut S,
    png: bool,
    limits: &Limits,
) -> Result<(u32, u32, Option<MetaText>)> {
    if png {
        let m = png::read_meta(src, limits)?;
        return Ok((m.width, m.height, m.text));
    }
    let head = src.read_at(0, 32)?;
    if head.is_empty() {
        return Err(Error::new(ErrorKind::Unsupported, Some(0), "empty file"));
    }
    let format = imagesize::sniff(head).ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            Some(0),
            "unrecognised image format (not PNG, JPEG, BMP, TIFF or WebP)",
        )
    })?;
    let (width, height) = imagesize::size(src, format)?;
    if width == 0 || height == 0 {
        // E.g. a JPEG that gives its height in a later DNL segment: let the caller decode it
        // rather than report a size of zero.
        return Err(Error::new(
            ErrorKind::Unsupported,
            Some(0),
            format!("the {format:?} header gives a size of {width}x{height}"),
        ));
    }
    Ok((width, height, None))
}

/// Read many files on the worker pool (`crate::pool`); results in input order. With `facts`, a
/// face header's scan facts are taken too, on the same thread as its parse.
pub fn read_batch(paths: &[PathBuf], limits: &Limits, facts: bool) -> Vec<Result<ImageMeta>> {
    crate::pool::install(|| {
        paths
            .par_iter()
            .map(|p| {
                let mut m = read_image_meta(p, limits)?;
                if facts {
                    // A payload Python may refuse to build is left to the dict route,
                    // which fails the file as verify does.
                    m.facts = m
                        .itxt
                        .as_ref()
                        .filter(|p| !face::python_may_refuse(p))
                        .and_then(face::face_facts);
                }
                Ok(m)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_png_file_and_reports_path() {
        let dir = std::env::temp_dir().join(format!("faceio-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut png = png::SIGNATURE.to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&5u32.to_be_bytes());
        ihdr.extend_from_slice(&4u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png.extend(png::build_chunk(b"IHDR", &ihdr).unwrap());
        png.extend(png::pack_itxt(b"{'a': [1, 2.5]}").unwrap());
        png.extend(png::build_chunk(b"IDAT", b"x").unwrap());
        png.extend(png::build_chunk(b"IEND", b"").unwrap());
        let good = dir.join("face.PNG");
        std::fs::write(&good, &png).unwrap();
        let m = read_image_meta(&good, &Limits::default()).unwrap();
        assert_eq!((m.width, m.height), (5, 4));
        assert!(matches!(
            m.itxt.map(|p| p.to_value()),
            Some(literal::Value::Dict(_))
        ));

        let mut broken = png.clone();
        let at = broken.len() - 12 - 13 - 4;
        broken[at] = b'!'; // corrupt the payload (and so the CRC)
        let bad = dir.join("bad.png");
        std::fs::write(&bad, &broken).unwrap();
        let e = read_image_meta(&bad, &Limits::default()).unwrap_err();
        assert_eq!(e.path.as_deref(), Some(bad.as_path()));
        assert!(e.to_string().contains("CRC mismatch"), "{e}");

        let res = read_batch(
            &[good.clone(), dir.join("nope.png"), good],
            &Limits::default(),
            false,
        );
        assert!(res[0].is_ok() && res[2].is_ok());
        assert_eq!(res[1].as_ref().unwrap_err().kind, ErrorKind::Io);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
