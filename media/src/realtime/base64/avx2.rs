//! AVX2 base64 (the Muła–Lemire method): 24 bytes ↔ 32 characters per step.
//!
//! Encoding reshuffles each 3-byte group into a 32-bit lane, pulls the four 6-bit
//! fields out with two multiplies, and maps them to ASCII with one table lookup
//! of per-range offsets. Decoding validates 32 characters with two nibble tables
//! (any byte outside the alphabet, padding included, fails the chunk, and the
//! caller falls back to the scalar decoder to report it), maps them to 6-bit
//! values with an offset table, and packs them with `maddubs`/`madd`.
//! Results are identical to the scalar code; the property tests compare both
//! against the `base64` crate.

use std::arch::x86_64::*;

/// The same 16-byte table in both 128-bit lanes (`pshufb` looks up within a lane).
#[inline]
#[target_feature(enable = "avx2")]
fn both_lanes(table: [i8; 16]) -> __m256i {
    // SAFETY: reads exactly the 16 bytes of `table`.
    let lane = unsafe { _mm_loadu_si128(table.as_ptr() as *const __m128i) };
    _mm256_broadcastsi128_si256(lane)
}

/// Bytes consumed from the input per encode step (the loads read 28).
pub(super) const ENCODE_IN: usize = 24;
/// Input bytes that must be readable for one encode step.
pub(super) const ENCODE_READ: usize = 28;
/// Characters consumed per decode step.
pub(super) const DECODE_IN: usize = 32;
/// Bytes produced per decode step (the store writes 32).
pub(super) const DECODE_OUT: usize = 24;

/// Whether this CPU can run these kernels.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Encodes `steps` groups of 24 bytes from `input` into `out` (32 characters each).
/// Returns the number of steps done (stops early if the buffers are short).
pub(super) fn encode(input: &[u8], out: &mut [u8]) -> usize {
    let steps = if input.len() >= ENCODE_READ {
        ((input.len() - ENCODE_READ) / ENCODE_IN + 1).min(out.len() / 32)
    } else {
        0
    };
    if steps == 0 || !available() {
        return 0;
    }
    // SAFETY: AVX2 detected; step k reads input[24k..24k+28] and writes out[32k..32k+32],
    // both in bounds by the computation of `steps`.
    unsafe { encode_avx2(input, out, steps) };
    steps
}

#[target_feature(enable = "avx2")]
unsafe fn encode_avx2(input: &[u8], out: &mut [u8], steps: usize) {
    let shuffle = both_lanes([1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10]);
    const DIGIT: i8 = b'0' as i8 - 52;
    let shift_lut = both_lanes([
        b'a' as i8 - 26,
        DIGIT,
        DIGIT,
        DIGIT,
        DIGIT,
        DIGIT,
        DIGIT,
        DIGIT,
        DIGIT,
        DIGIT,
        DIGIT,
        b'+' as i8 - 62,
        b'/' as i8 - 63,
        b'A' as i8,
        0,
        0,
    ]);
    for k in 0..steps {
        // SAFETY: in bounds per the caller (see `encode`).
        let (lo, hi) = unsafe {
            let p = input.as_ptr().add(k * ENCODE_IN);
            (
                _mm_loadu_si128(p as *const __m128i),
                _mm_loadu_si128(p.add(12) as *const __m128i),
            )
        };
        let v = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
        let v = _mm256_shuffle_epi8(v, shuffle);
        let t0 = _mm256_and_si256(v, _mm256_set1_epi32(0x0fc0_fc00));
        let t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x0400_0040));
        let t2 = _mm256_and_si256(v, _mm256_set1_epi32(0x003f_03f0));
        let t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x0100_0010));
        let indices = _mm256_or_si256(t1, t3);
        let mut reduced = _mm256_subs_epu8(indices, _mm256_set1_epi8(51));
        let less = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), indices);
        reduced = _mm256_or_si256(reduced, _mm256_and_si256(less, _mm256_set1_epi8(13)));
        let ascii = _mm256_add_epi8(_mm256_shuffle_epi8(shift_lut, reduced), indices);
        // SAFETY: in bounds per the caller.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(k * 32) as *mut __m256i, ascii) };
    }
}

/// Decodes whole 32-character chunks of `text` into `out` (24 bytes each; `out` must
/// have 8 bytes of room past the last chunk's 24). Stops at the first chunk holding
/// anything but alphabet characters (padding included). Returns chunks decoded.
pub(super) fn decode(text: &[u8], out: &mut [u8]) -> usize {
    let max = (text.len() / DECODE_IN).min(out.len().saturating_sub(8) / DECODE_OUT);
    if max == 0 || !available() {
        return 0;
    }
    // SAFETY: AVX2 detected; chunk k reads text[32k..32k+32] and writes out[24k..24k+32],
    // in bounds by the computation of `max`.
    unsafe { decode_avx2(text, out, max) }
}

#[target_feature(enable = "avx2")]
unsafe fn decode_avx2(text: &[u8], out: &mut [u8], max: usize) -> usize {
    let lut_lo = both_lanes([
        0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B,
        0x1A,
    ]);
    let lut_hi = both_lanes([
        0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
        0x10,
    ]);
    let lut_roll = both_lanes([0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mask_2f = _mm256_set1_epi8(0x2f);
    let pack = both_lanes([2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1]);
    let lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1);
    for k in 0..max {
        // SAFETY: in bounds per the caller (see `decode`).
        let v = unsafe { _mm256_loadu_si256(text.as_ptr().add(k * DECODE_IN) as *const __m256i) };
        let hi_nibbles = _mm256_and_si256(_mm256_srli_epi32::<4>(v), mask_2f);
        let lo_nibbles = _mm256_and_si256(v, mask_2f);
        let lo = _mm256_shuffle_epi8(lut_lo, lo_nibbles);
        let hi = _mm256_shuffle_epi8(lut_hi, hi_nibbles);
        if _mm256_testz_si256(lo, hi) == 0 {
            return k;
        }
        let eq_2f = _mm256_cmpeq_epi8(v, mask_2f);
        let roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nibbles));
        let sextets = _mm256_add_epi8(v, roll);
        let pairs = _mm256_maddubs_epi16(sextets, _mm256_set1_epi32(0x0140_0140));
        let words = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x0001_1000));
        let bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(words, pack), lanes);
        // SAFETY: writes out[24k..24k+32], in bounds per the caller.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(k * DECODE_OUT) as *mut __m256i, bytes) };
    }
    max
}
