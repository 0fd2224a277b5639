//! Standard base64 (RFC 4648 §4, with padding), specialised for the hot path.
//!
//! Encoding uses a table of character pairs for each 12-bit group (8 KiB), so
//! three input bytes become four output characters with two lookups. PCM16 is
//! encoded straight from samples (three samples = six bytes = eight characters),
//! without first copying them into a byte buffer. Decoding validates every
//! character and the padding, and is streaming: a [`Decoder`] takes the text
//! in pieces and hands out whole bytes.

use thiserror::Error;

#[cfg(target_arch = "x86_64")]
mod avx2;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Invalid base64 input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Base64Error {
    /// A byte outside the alphabet at this offset.
    #[error("invalid base64 character at offset {0}")]
    InvalidByte(usize),
    /// Padding somewhere other than the end of the text.
    #[error("misplaced base64 padding at offset {0}")]
    BadPadding(usize),
    /// The text length is not a multiple of four.
    #[error("base64 text length {0} is not a multiple of 4")]
    BadLength(usize),
    /// The character before the padding at this offset carries non-zero bits past the
    /// last byte (a non-canonical encoding, RFC 4648 §3.5).
    #[error("non-zero trailing bits in base64 character at offset {0}")]
    TrailingBits(usize),
}

const fn build_pairs() -> [[u8; 2]; 4096] {
    let mut t = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = [ALPHABET[i >> 6], ALPHABET[i & 63]];
        i += 1;
    }
    t
}

const INVALID: u8 = 0xFF;
const PAD: u8 = 0xFE;

const fn build_decode() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t[b'=' as usize] = PAD;
    t
}

static PAIRS: [[u8; 2]; 4096] = build_pairs();
static DECODE: [u8; 256] = build_decode();

/// Length of the encoding of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

#[inline(always)]
fn put_group(word: u32, out: &mut [u8; 4]) {
    let hi = PAIRS[(word >> 12) as usize & 0xFFF];
    let lo = PAIRS[word as usize & 0xFFF];
    *out = [hi[0], hi[1], lo[0], lo[1]];
}

/// Appends the encoding of `input` to `out`.
pub fn encode_into(input: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + encoded_len(input.len()), 0);
    encode_to_slice(input, &mut out[start..]);
}

/// Encodes a prefix of `input` with the vector kernel, when there is one; returns
/// (bytes consumed, characters written). Always whole 3-byte groups.
#[cfg(target_arch = "x86_64")]
fn vector_encode(input: &[u8], dst: &mut [u8]) -> (usize, usize) {
    let steps = avx2::encode(input, dst);
    (steps * avx2::ENCODE_IN, steps * 32)
}

#[cfg(not(target_arch = "x86_64"))]
fn vector_encode(_input: &[u8], _dst: &mut [u8]) -> (usize, usize) {
    (0, 0)
}

/// Decodes a prefix of `text` with the vector kernel, when there is one; returns
/// (characters consumed, bytes written). Stops before padding or a bad byte.
#[cfg(target_arch = "x86_64")]
fn vector_decode(text: &[u8], out: &mut [u8]) -> (usize, usize) {
    let chunks = avx2::decode(text, out);
    (chunks * avx2::DECODE_IN, chunks * avx2::DECODE_OUT)
}

#[cfg(not(target_arch = "x86_64"))]
fn vector_decode(_text: &[u8], _out: &mut [u8]) -> (usize, usize) {
    (0, 0)
}

/// Writes the encoding of `input` into the first `encoded_len(input.len())` bytes of `dst`.
fn encode_to_slice(input: &[u8], dst: &mut [u8]) {
    let (done_in, done_out) = vector_encode(input, dst);
    encode_scalar(&input[done_in..], &mut dst[done_out..]);
}

/// The portable encoder (also the tail after the vector steps).
fn encode_scalar(input: &[u8], dst: &mut [u8]) {
    let (groups, tail) = input.as_chunks::<3>();
    let (dst_groups, _) = dst.as_chunks_mut::<4>();
    for (g, d) in groups.iter().zip(dst_groups.iter_mut()) {
        put_group(u32::from_be_bytes([0, g[0], g[1], g[2]]), d);
    }
    if tail.is_empty() {
        return;
    }
    let mut word = [0u8; 4];
    word[1..1 + tail.len()].copy_from_slice(tail);
    let mut chars = [0u8; 4];
    put_group(u32::from_be_bytes(word), &mut chars);
    if tail.len() == 1 {
        chars[2] = b'=';
    }
    chars[3] = b'=';
    let at = groups.len() * 4;
    dst[at..at + 4].copy_from_slice(&chars);
}

/// Appends the base64 encoding of `samples` as PCM16 little-endian bytes to `out`.
pub fn encode_pcm16_into(samples: &[i16], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + encoded_len(samples.len() * 2), 0);
    let dst = &mut out[start..];
    let (done_in, done_out) = vector_encode(le_bytes(samples), dst);
    // The vector steps take 24 bytes at a time: whole triples of samples.
    let (samples, dst) = (&samples[done_in / 2..], &mut dst[done_out..]);
    let (triples, rest) = samples.as_chunks::<3>();
    let (dst8, _) = dst.as_chunks_mut::<8>();
    for (s, d) in triples.iter().zip(dst8.iter_mut()) {
        // The six little-endian bytes, as a big-endian 48-bit number in the top of `be`.
        let be = (u64::from(s[0].swap_bytes() as u16) << 48)
            | (u64::from(s[1].swap_bytes() as u16) << 32)
            | (u64::from(s[2].swap_bytes() as u16) << 16);
        let a = PAIRS[(be >> 52) as usize & 0xFFF];
        let b = PAIRS[(be >> 40) as usize & 0xFFF];
        let c = PAIRS[(be >> 28) as usize & 0xFFF];
        let e = PAIRS[(be >> 16) as usize & 0xFFF];
        *d = [a[0], a[1], b[0], b[1], c[0], c[1], e[0], e[1]];
    }
    // One or two samples left over start on a group boundary (six bytes per triple).
    let mut bytes = [0u8; 4];
    for (i, s) in rest.iter().enumerate() {
        bytes[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
    }
    encode_scalar(&bytes[..rest.len() * 2], &mut dst[triples.len() * 8..]);
}

/// The samples' bytes in little-endian order, where that is how they are stored.
#[cfg(target_endian = "little")]
fn le_bytes(samples: &[i16]) -> &[u8] {
    // SAFETY: i16 has no padding and u8 has alignment 1; on a little-endian target the
    // bytes are exactly the samples' little-endian encoding.
    unsafe {
        std::slice::from_raw_parts(
            samples.as_ptr().cast::<u8>(),
            std::mem::size_of_val(samples),
        )
    }
}

/// On big-endian targets the portable per-sample encoder does all the work.
#[cfg(not(target_endian = "little"))]
fn le_bytes(_samples: &[i16]) -> &[u8] {
    &[]
}

/// Streaming decoder state: up to three characters carried between pieces.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    carry: [u8; 4],
    carried: usize,
    /// Characters consumed so far (for error offsets).
    offset: usize,
    finished: bool,
}

impl Decoder {
    /// A decoder at the start of a text.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Decodes `text`, calling `sink` with runs of decoded bytes. Characters that do
    /// not complete a group are carried to the next call.
    pub fn push(&mut self, text: &[u8], sink: &mut impl FnMut(&[u8])) -> Result<(), Base64Error> {
        let mut text = text;
        // Complete a carried partial group first.
        if self.carried > 0 {
            let take = (4 - self.carried).min(text.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&text[..take]);
            self.carried += take;
            text = &text[take..];
            if self.carried < 4 {
                return Ok(());
            }
            let group = self.carry;
            self.carried = 0;
            self.decode_groups(&group, sink)?;
        }
        let whole = text.len() / 4 * 4;
        self.decode_groups(&text[..whole], sink)?;
        let rest = &text[whole..];
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carried = rest.len();
        Ok(())
    }

    /// Ends the text: an incomplete group left over is an error.
    pub fn finish(&mut self) -> Result<(), Base64Error> {
        if self.carried != 0 {
            return Err(Base64Error::BadLength(self.offset + self.carried));
        }
        Ok(())
    }

    fn decode_groups(
        &mut self,
        text: &[u8],
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<(), Base64Error> {
        // Up to 64 groups at a time into a stack buffer, then hand them out. Spare
        // room at the end lets every group be stored as a whole word (and the vector
        // decoder store 32 bytes for 24).
        let mut out = [0u8; 200];
        for block in text.chunks(256) {
            if self.finished && !block.is_empty() {
                return Err(Base64Error::BadPadding(self.offset));
            }
            let (done, mut w) = vector_decode(block, &mut out);
            let (groups, _) = block[done..].as_chunks::<4>();
            for (gi, g) in groups.iter().enumerate() {
                let (a, b, c, d) = (
                    DECODE[g[0] as usize],
                    DECODE[g[1] as usize],
                    DECODE[g[2] as usize],
                    DECODE[g[3] as usize],
                );
                let word = (u32::from(a) << 26)
                    | (u32::from(b) << 20)
                    | (u32::from(c) << 14)
                    | (u32::from(d) << 8);
                if (a | b | c | d) & 0xC0 == 0 {
                    if let Some(slot) = out.get_mut(w..w + 4) {
                        slot.copy_from_slice(&word.to_be_bytes());
                    }
                    w += 3;
                    continue;
                }
                let at = self.offset + done + gi * 4;
                if gi + 1 != groups.len() {
                    // Padding or garbage before the last group of the block.
                    decode_last_group([a, b, c, d], at)?;
                    return Err(Base64Error::BadPadding(at + 4));
                }
                let n = decode_last_group([a, b, c, d], at)?;
                let word = (u32::from(a) << 26)
                    | (u32::from(b) << 20)
                    | (u32::from(c & 0x3F) << 14)
                    | (u32::from(d & 0x3F) << 8);
                if let Some(slot) = out.get_mut(w..w + 4) {
                    slot.copy_from_slice(&word.to_be_bytes());
                }
                w += n;
                self.finished = true;
            }
            self.offset += block.len();
            if w > 0 {
                sink(&out[..w]);
            }
        }
        Ok(())
    }
}

/// A group containing padding or an invalid byte: how many bytes it carries.
fn decode_last_group(v: [u8; 4], at: usize) -> Result<usize, Base64Error> {
    for (i, &x) in v.iter().enumerate() {
        if x == INVALID {
            return Err(Base64Error::InvalidByte(at + i));
        }
    }
    match v {
        [a, b, PAD, PAD] if a < 64 && b < 64 => match b & 0x0F {
            0 => Ok(1),
            _ => Err(Base64Error::TrailingBits(at + 1)),
        },
        [a, b, c, PAD] if a < 64 && b < 64 && c < 64 => match c & 0x03 {
            0 => Ok(2),
            _ => Err(Base64Error::TrailingBits(at + 2)),
        },
        _ => {
            let first_pad = v.iter().position(|&x| x == PAD).unwrap_or(0);
            Err(Base64Error::BadPadding(at + first_pad))
        }
    }
}

/// Decodes a complete base64 text, calling `sink` with runs of bytes.
pub fn decode(text: &[u8], sink: &mut impl FnMut(&[u8])) -> Result<(), Base64Error> {
    if !text.len().is_multiple_of(4) {
        return Err(Base64Error::BadLength(text.len()));
    }
    let mut d = Decoder::new();
    d.push(text, sink)?;
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(b: &[u8]) -> String {
        let mut v = Vec::new();
        encode_into(b, &mut v);
        String::from_utf8(v).expect("ascii")
    }

    fn dec(t: &str) -> Result<Vec<u8>, Base64Error> {
        let mut v = Vec::new();
        decode(t.as_bytes(), &mut |b| v.extend_from_slice(b))?;
        Ok(v)
    }

    #[test]
    fn vector_and_scalar_encoders_agree_at_every_length() {
        let input: Vec<u8> = (0..400u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for n in 0..input.len() {
            let mut fast = vec![0u8; encoded_len(n)];
            let mut slow = vec![0u8; encoded_len(n)];
            encode_to_slice(&input[..n], &mut fast);
            encode_scalar(&input[..n], &mut slow);
            assert_eq!(fast, slow, "n={n}");
        }
    }

    #[test]
    fn vector_decoder_matches_and_hands_padding_and_garbage_to_the_scalar_path() {
        let input: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(40503) >> 3) as u8)
            .collect();
        for n in [0, 1, 2, 23, 24, 25, 47, 48, 191, 192, 193, 599] {
            let text = enc(&input[..n]);
            assert_eq!(dec(&text).expect("decode"), &input[..n], "n={n}");
            // A bad byte deep inside a chunk the vector path would take.
            if text.len() > 100 {
                let mut bad = text.clone().into_bytes();
                bad[70] = b'*';
                let bad = String::from_utf8(bad).expect("ascii");
                assert_eq!(dec(&bad), Err(Base64Error::InvalidByte(70)), "n={n}");
            }
        }
    }

    #[test]
    fn rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in cases {
            assert_eq!(enc(plain.as_bytes()), coded);
            assert_eq!(dec(coded).expect("decode"), plain.as_bytes());
        }
    }

    #[test]
    fn pcm16_encoding_equals_byte_encoding_of_le_bytes() {
        for n in 0..20 {
            let samples: Vec<i16> = (0..n).map(|i| (i as i16).wrapping_mul(-4099)).collect();
            let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            let mut a = Vec::new();
            encode_pcm16_into(&samples, &mut a);
            assert_eq!(String::from_utf8(a).expect("ascii"), enc(&bytes), "n={n}");
        }
    }

    #[test]
    fn rejects_bad_input_with_offsets() {
        assert_eq!(dec("Zm9"), Err(Base64Error::BadLength(3)));
        assert_eq!(dec("Zm9v!A=="), Err(Base64Error::InvalidByte(4)));
        assert_eq!(dec("Zg==Zm9v"), Err(Base64Error::BadPadding(4)));
        assert_eq!(dec("Z==="), Err(Base64Error::BadPadding(1)));
        assert_eq!(dec("=Zm9"), Err(Base64Error::BadPadding(0)));
        assert_eq!(dec("Zm=v"), Err(Base64Error::BadPadding(2)));
        assert_eq!(dec("Zh=="), Err(Base64Error::TrailingBits(1)));
        assert_eq!(dec("Zm9vZm9="), Err(Base64Error::TrailingBits(6)));
    }

    #[test]
    fn streaming_pieces_give_the_same_bytes() {
        let plain: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = enc(&plain);
        for piece in [1, 2, 3, 5, 7, 64, 333] {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for chunk in text.as_bytes().chunks(piece) {
                d.push(chunk, &mut |b| got.extend_from_slice(b))
                    .expect("push");
            }
            d.finish().expect("finish");
            assert_eq!(got, plain, "piece {piece}");
        }
    }
}
