//! The payload parser: `literal::parse`, then the round trip: the tape written back as literal
//! text (both spellings of `literal::write`) parses again to the same tape, node for node. Also
//! the face-header take-apart (`face::face_parts`) on whatever parses, and scan's facts
//! (`face::face_facts`), which must be found for exactly the payloads that take apart, and be
//! what their parts say.
//!
//! The nesting limit is the highest `faceio.set_limits` allows, so that the deepest payloads a
//! user may permit are parsed here (and checked for stack use).
#![no_main]

use _core::face;
use _core::literal::{self, write, write::Spelling};
use libfuzzer_sys::fuzz_target;

const MAX_DEPTH: usize = 1000;

fuzz_target!(|data: &[u8]| {
    let Ok(first) = literal::parse(data, MAX_DEPTH) else {
        return;
    };
    let parts = face::face_parts(&first);
    let facts = face::face_facts(&first);
    assert_eq!(
        parts.as_ref().and_then(face::facts_of_parts),
        facts,
        "face_parts and face_facts disagree on {:?}",
        String::from_utf8_lossy(data)
    );
    for spelling in [Spelling::Plain, Spelling::Alternate] {
        let text = write::write(&first, spelling);
        let again = literal::parse(&text, MAX_DEPTH).unwrap_or_else(|e| {
            panic!(
                "written back as {:?}, the payload does not parse: {}",
                String::from_utf8_lossy(&text),
                e.message
            )
        });
        if let Err(d) = write::same_tape(&first, &again) {
            panic!(
                "written back as {:?}, the payload parses differently: {d}",
                String::from_utf8_lossy(&text)
            );
        }
    }
});
