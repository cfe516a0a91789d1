use super::*;
use crate::colbuf::{pack, RowError};
use crate::face::SCHEMA;
use crate::literal::parse;
use crate::png;

const FACE: &str = "{'alignments': {'x': 1, 'y': 2, 'w': 3, 'h': 4, \
    'landmarks_xy': [[0.5, 1.5], [2, 3]], \
    'mask': {'components': {'mask': b'x', 'affine_matrix': [[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]], \
    'interpolator': 3, 'stored_size': 128, 'stored_centering': 'face'}}, \
    'identity': {'vggface2': [0.25, -1.0]}}, \
    'source': {'alignments_version': 2, 'original_filename': 'a.png', 'face_index': 7, \
    'source_filename': 'b.png', 'source_is_video': True, 'source_frame_dims': (1080, 1920)}}";

fn png_with(payload: &[u8]) -> Vec<u8> {
    let mut out = png::SIGNATURE.to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&5u32.to_be_bytes());
    ihdr.extend_from_slice(&4u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend(png::build_chunk(b"IHDR", &ihdr).unwrap());
    out.extend(png::pack_itxt(payload).unwrap());
    out.extend(png::build_chunk(b"IDAT", b"x").unwrap());
    out.extend(png::build_chunk(b"IEND", b"").unwrap());
    out
}

#[test]
fn every_header_field_has_a_column_or_is_left_out() {
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    for class in [ALIGNMENTS, SOURCE] {
        for f in SCHEMA[class].fields {
            let prefix = format!("{}_", f.name);
            assert!(
                names.contains(&f.name) || names.iter().any(|n| n.starts_with(&prefix)),
                "{}",
                f.name
            );
        }
    }
    for f in SCHEMA[MASK].fields {
        let column = format!("mask_{}s", f.name);
        assert!(
            names.contains(&column.as_str()) || LEFT_OUT.contains(&f.name),
            "{}",
            f.name
        );
    }
}

#[test]
fn a_face_header_becomes_its_row() {
    let row = face_row(&parse(FACE.as_bytes(), 64).unwrap()).unwrap();
    assert_eq!(row.face_box, [1, 2, 3, 4]);
    assert_eq!(row.landmarks, vec![0.5, 1.5, 2.0, 3.0]);
    assert_eq!(row.mask_names, vec!["components"]);
    assert_eq!(row.mask_sizes, vec![128]);
    assert_eq!(row.mask_centerings, vec!["face"]);
    assert_eq!(row.identity_names, vec!["vggface2"]);
    assert_eq!(row.alignments_version, 2.0);
    assert_eq!(row.face_index, 7);
    assert!(row.source_is_video);
    assert_eq!(row.frame_dims, Some([1080, 1920]));
    assert_eq!(
        (&*row.original_filename, &*row.source_filename),
        ("a.png", "b.png")
    );
}

#[test]
fn values_that_do_not_fit_their_column_are_named() {
    for (from, to, field) in [
        ("'x': 1", "'x': 1.5", "'x'"),
        ("'face_index': 7", "'face_index': '7'", "'face_index'"),
        (
            "'source_is_video': True",
            "'source_is_video': 1",
            "'source_is_video'",
        ),
        ("(1080, 1920)", "(1080, 1920, 3)", "'source_frame_dims'"),
        ("'a.png'", "b'a.png'", "'original_filename'"),
        ("[[0.5, 1.5], [2, 3]]", "[[0.5, 1.5, 2]]", "'landmarks_xy'"),
        ("'stored_size': 128", "'stored_size': None", "'stored_size'"),
        ("'face'}", "'\\ud800'}", "'stored_centering'"),
    ] {
        let text = FACE.replacen(from, to, 1);
        assert_ne!(text, FACE);
        let why = face_row(&parse(text.as_bytes(), 64).unwrap()).unwrap_err();
        assert!(why.contains(field), "{text}: {why}");
    }
    let why = face_row(&parse(b"{'a': 1}", 64).unwrap()).unwrap_err();
    assert!(why.contains("not a face header"), "{why}");
}

#[test]
fn a_prefix_asks_for_the_end_of_the_faceswap_chunk() {
    let data = png_with(FACE.as_bytes());
    let end = data.len() - 12 - 13; // before IDAT and IEND
    let name = Path::new("f.png");
    let lim = Limits::default();
    for cut in [0, 5, 8, 20, 33, 40, end - 1] {
        match read_blob(name, &data[..cut], false, &lim) {
            Outcome::Need(n) => assert!(n > cut as u64 && n <= end as u64, "{cut}: {n}"),
            other => panic!("{cut}: {other:?}"),
        }
    }
    let whole = read_blob(name, &data[..end], false, &lim);
    assert!(matches!(whole, Outcome::Read { header: Some((n, Ok(_))), .. } if n == FACE.len()));
    // Said to be whole, a short file is what it is: cut.
    match read_blob(name, &data[..40], true, &lim) {
        Outcome::Failed(e) => {
            assert_eq!(e.path.as_deref(), Some(name));
            assert!(e.to_string().contains("f.png"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn packed_columns_have_arrows_layout() {
    let lim = Limits::default();
    let face = png_with(FACE.as_bytes());
    let other = png_with(b"{'a': 1}");
    let names: Vec<PathBuf> = ["a.png", "b.png", "c.png"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let blobs: [&[u8]; 3] = [&face, &other, b"junk"];
    let packed = pack(read_blobs(&names, &blobs, &[true; 3], &lim));
    assert_eq!(packed.batches.len(), 1);
    let (rows, cols) = &packed.batches[0];
    assert_eq!(*rows, 3);
    let col = |name: &str| cols.iter().find(|c| c.name == name).unwrap();
    let width = col("width");
    // Rows 0 and 1 read (b's payload does not fit, but its size does), row 2 failed.
    assert_eq!(
        (width.validity.as_slice(), width.nulls),
        (&[0b011u8][..], 1)
    );
    assert_eq!(&width.values[..8], &5i64.to_ne_bytes());
    let lm = col("landmarks_xy");
    assert_eq!(lm.offsets, vec![0, 2, 2, 2]);
    assert_eq!((lm.validity.as_slice(), lm.nulls), (&[0b001u8][..], 2));
    let floats: Vec<f32> = lm
        .values
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(floats, vec![0.5, 1.5, 2.0, 3.0]);
    let masks = col("mask_names");
    assert_eq!(
        (masks.offsets.clone(), masks.inner.clone()),
        (vec![0, 1, 1, 1], vec![0, 10])
    );
    assert_eq!(masks.values, b"components");
    let name = col("original_filename");
    assert_eq!(
        (name.offsets.clone(), name.values.clone()),
        (vec![0, 5, 5, 5], b"a.png".to_vec())
    );
    assert_eq!(col("source_is_video").values, vec![0b001]);
    assert_eq!(col("header_bytes").validity, vec![0b011]);
    assert!(matches!(packed.errors[0], RowError::Schema(1, _)));
    assert!(matches!(&packed.errors[1], RowError::Failed(2, e) if e.path == Some("c.png".into())));
}
