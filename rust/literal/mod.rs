//! The faceswap payload parser: Python-literal text (what `str(dict)` prints) into a [`Parsed`]
//! tape of nodes.
//!
//! It accepts what `ast.literal_eval` accepts: dict, list, tuple, set (and `set()`), str and bytes
//! with every prefix, quote style, escape and implicit concatenation, int in any base and of any
//! size, float, complex (`1+2j`), `True`/`False`/`None`/`...`, unary signs, parentheses and
//! comments. On top of that it reads `nan`, `inf` (and `infj`, `nanj`), which `str()` prints for
//! non-finite floats and faceswap itself cannot read back. Nesting is capped (limits.rs), so
//! hostile input cannot exhaust the stack.
//!
//! The result is a flat tape: nodes in pre-order (a container node gives its item count and its
//! items follow) and one byte arena for string, bytes and big-int contents. Two allocations per
//! payload instead of one per value: on a 23 KB face header this parses about 3x faster than a
//! tree of boxed values. Errors carry the byte offset into the text and what was expected there.
//!
//! The parts: `tape` (the result and its navigation), `grammar` (the recursive descent over
//! containers, expressions, names, whitespace and comments), `strings` (str and bytes literals
//! and their escapes), `numbers` (ints, big ints, floats, complex), `simd` (the 64-byte block
//! decoder for bytes literals, one compilation per processor tier).

mod grammar;
mod numbers;
mod simd;
pub mod spare;
mod strings;
mod tape;
#[cfg(test)]
mod tests;
#[cfg(any(test, fuzzing))]
pub mod write;

pub use tape::{Node, Parsed, Text, Value};

use crate::error::{Error, Result};

/// Parse a whole payload. `max_depth` caps container and parenthesis nesting.
pub fn parse(text: &[u8], max_depth: usize) -> Result<Parsed> {
    // No whole-text passes for NUL bytes or UTF-8: outside strings the grammar rejects both, and
    // string literals check their own bytes (parse time on a face header fell by a tenth).
    if u32::try_from(text.len()).is_err() {
        return Err(Error::syntax(0, "payload larger than 4 GiB"));
    }
    let mut p = grammar::Parser::new(text, max_depth);
    p.payload()?;
    Ok(p.out)
}
