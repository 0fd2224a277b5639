//! A minimal, allocation-free scanner over the top level of one JSON object.
//!
//! It finds where each top-level member's value lies without building a
//! document: strings are located (not unescaped), nested objects and arrays are
//! skipped with a bounded nesting depth, scalars are checked for shape. This is
//! what lets the downlink find a multi-kilobyte base64 `delta` in one pass of
//! `memchr` instead of a general-purpose parse. Malformed text is an error,
//! never a panic.

#[cfg(not(target_arch = "x86_64"))]
use memchr::memchr2;
use thiserror::Error;

/// Deepest nesting the scanner will skip through.
pub const MAX_DEPTH: usize = 64;

/// Why the text is not a well-formed JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScanError {
    /// Something unexpected at this byte offset.
    #[error("malformed JSON at offset {0}")]
    Syntax(usize),
    /// The text ended inside a value.
    #[error("JSON text ends early")]
    Truncated,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("JSON nesting deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// The raw contents of a JSON string, between the quotes, escapes not processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStr<'a> {
    /// Bytes between the quotes.
    pub raw: &'a str,
    /// Whether any backslash escape occurs in it.
    pub escaped: bool,
}

/// A top-level member's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A string.
    Str(RawStr<'a>),
    /// An object, array, number, `true`, `false` or `null`: its source text.
    Other(&'a str),
}

impl<'a> Value<'a> {
    /// The string, if this is an unescaped string (ids, event types).
    pub fn plain_str(&self) -> Option<&'a str> {
        match self {
            Value::Str(s) if !s.escaped => Some(s.raw),
            _ => None,
        }
    }
}

/// Calls `member(key, value)` for every top-level member of the object in `text`.
pub fn scan_object<'a>(
    text: &'a str,
    mut member: impl FnMut(RawStr<'a>, Value<'a>),
) -> Result<(), ScanError> {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, 0);
    expect(b, pos, b'{')?;
    pos = skip_ws(b, pos + 1);
    if peek(b, pos)? == b'}' {
        return end(b, pos + 1);
    }
    loop {
        expect(b, pos, b'"')?;
        let (key, after) = scan_string(text, pos)?;
        pos = skip_ws(b, after);
        expect(b, pos, b':')?;
        pos = skip_ws(b, pos + 1);
        let (value, after) = scan_value(text, pos)?;
        member(key, value);
        pos = skip_ws(b, after);
        match peek(b, pos)? {
            b',' => pos = skip_ws(b, pos + 1),
            b'}' => return end(b, pos + 1),
            _ => return Err(ScanError::Syntax(pos)),
        }
    }
}

fn end(b: &[u8], pos: usize) -> Result<(), ScanError> {
    let pos = skip_ws(b, pos);
    if pos == b.len() {
        Ok(())
    } else {
        Err(ScanError::Syntax(pos))
    }
}

#[inline]
fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

#[inline]
fn peek(b: &[u8], pos: usize) -> Result<u8, ScanError> {
    b.get(pos).copied().ok_or(ScanError::Truncated)
}

#[inline]
fn expect(b: &[u8], pos: usize, want: u8) -> Result<(), ScanError> {
    match peek(b, pos)? {
        x if x == want => Ok(()),
        _ => Err(ScanError::Syntax(pos)),
    }
}

/// `open` indexes the opening quote. Returns the contents and the index after the
/// closing quote.
fn scan_string(text: &str, open: usize) -> Result<(RawStr<'_>, usize), ScanError> {
    let b = text.as_bytes();
    let mut pos = open + 1;
    let mut escaped = false;
    loop {
        pos += find_quote_or_backslash(&b[pos..]).ok_or(ScanError::Truncated)?;
        if b[pos] == b'"' {
            let raw = text.get(open + 1..pos).ok_or(ScanError::Syntax(open))?;
            return Ok((RawStr { raw, escaped }, pos + 1));
        }
        escaped = true;
        match peek(b, pos + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => pos += 2,
            b'u' => {
                let hex = b.get(pos + 2..pos + 6).ok_or(ScanError::Truncated)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(ScanError::Syntax(pos));
                }
                pos += 6;
            }
            _ => return Err(ScanError::Syntax(pos)),
        }
    }
}

/// The index of the first `"` or `\\`. Sixteen bytes at a time with SSE2 (part of
/// the x86-64 baseline): keys and ids end in the first block, without `memchr`'s
/// setup cost; elsewhere `memchr`.
#[inline]
fn find_quote_or_backslash(b: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let (blocks, _) = b.as_chunks::<16>();
        for (i, block) in blocks.iter().enumerate() {
            // SAFETY: SSE2 is baseline on x86-64; the load reads exactly this 16-byte block.
            let mask = unsafe {
                let v = _mm_loadu_si128(block.as_ptr() as *const __m128i);
                let hit = _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
                );
                _mm_movemask_epi8(hit) as u32
            };
            if mask != 0 {
                return Some(i * 16 + mask.trailing_zeros() as usize);
            }
        }
        let done = blocks.len() * 16;
        b[done..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\')
            .map(|i| done + i)
    }
    #[cfg(not(target_arch = "x86_64"))]
    memchr2(b'"', b'\\', b)
}

/// Scans the value starting at `pos`; returns it and the index after it.
fn scan_value(text: &str, pos: usize) -> Result<(Value<'_>, usize), ScanError> {
    let b = text.as_bytes();
    match peek(b, pos)? {
        b'"' => {
            let (s, after) = scan_string(text, pos)?;
            Ok((Value::Str(s), after))
        }
        b'{' | b'[' => {
            let after = skip_container(text, pos)?;
            Ok((Value::Other(&text[pos..after]), after))
        }
        _ => {
            let mut end = pos;
            while end < b.len()
                && matches!(b[end], b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E')
            {
                end += 1;
            }
            let word = &text[pos..end];
            let number = word.starts_with(|c: char| c == '-' || c.is_ascii_digit())
                && word
                    .bytes()
                    .all(|c| matches!(c, b'-' | b'+' | b'.' | b'0'..=b'9' | b'e' | b'E'));
            if number || matches!(word, "true" | "false" | "null") {
                Ok((Value::Other(word), end))
            } else {
                Err(ScanError::Syntax(pos))
            }
        }
    }
}

/// Skips a balanced object or array starting at `pos`; returns the index after it.
/// Brackets must match in kind; strings inside are skipped as strings.
fn skip_container(text: &str, pos: usize) -> Result<usize, ScanError> {
    let b = text.as_bytes();
    let mut stack = [0u8; MAX_DEPTH];
    let mut depth = 0usize;
    let mut i = pos;
    while i < b.len() {
        match b[i] {
            c @ (b'{' | b'[') => {
                if depth == MAX_DEPTH {
                    return Err(ScanError::TooDeep);
                }
                stack[depth] = if c == b'{' { b'}' } else { b']' };
                depth += 1;
                i += 1;
            }
            c @ (b'}' | b']') => {
                if depth == 0 || stack[depth - 1] != c {
                    return Err(ScanError::Syntax(i));
                }
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            b'"' => i = scan_string(text, i)?.1,
            _ => i += 1,
        }
    }
    Err(ScanError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(text: &str) -> Result<Vec<(String, String)>, ScanError> {
        let mut v = Vec::new();
        scan_object(text, |k, val| {
            let val = match val {
                Value::Str(s) => format!("s:{}", s.raw),
                Value::Other(o) => format!("o:{o}"),
            };
            v.push((k.raw.to_string(), val));
        })?;
        Ok(v)
    }

    #[test]
    fn finds_members_in_any_order_with_whitespace() {
        let got = members(
            " {\n \"delta\" : \"QUJD\",\t\"n\":-1.5e3, \"o\":{\"a\":[1,{\"b\":\"}\"}]},\"t\":true , \"type\":\"x\"}\r\n",
        )
        .expect("scan");
        assert_eq!(
            got,
            vec![
                ("delta".into(), "s:QUJD".into()),
                ("n".into(), "o:-1.5e3".into()),
                ("o".into(), "o:{\"a\":[1,{\"b\":\"}\"}]}".into()),
                ("t".into(), "o:true".into()),
                ("type".into(), "s:x".into()),
            ]
        );
    }

    #[test]
    fn strings_with_escapes_are_flagged_not_decoded() {
        let mut seen = None;
        scan_object(r#"{"k":"a\/b\"c\u00e9"}"#, |_, v| seen = Some(v)).expect("scan");
        assert_eq!(
            seen,
            Some(Value::Str(RawStr {
                raw: r#"a\/b\"c\u00e9"#,
                escaped: true
            }))
        );
    }

    #[test]
    fn malformed_objects_are_errors() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1}x",
            "{\"a\" 1}",
            "{\"a\":\"x}",
            "{\"a\":[1,2}",
            "{\"a\":{]}",
            "{\"a\":tru}",
            "{\"a\":\"\\q\"}",
            "{\"a\":\"\\u12\"}",
            "{a:1}",
        ] {
            assert!(scan_object(bad, |_, _| {}).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(scan_object(&deep, |_, _| {}), Err(ScanError::TooDeep));
        let ok = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(scan_object(&ok, |_, _| {}), Ok(()));
    }
}
