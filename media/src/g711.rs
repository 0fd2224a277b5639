//! G.711 μ-law and A-law (ITU-T G.711), as lookup tables built at compile time.
//!
//! Encoding follows the reference quantisers exactly: μ-law works on the top
//! 14 bits of the PCM16 sample and A-law on the top 13, so one table entry per
//! reduced input (16 KiB and 8 KiB) is bit-exact for all 65,536 inputs.

/// The μ-law code of silence.
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law code of silence.
pub const ALAW_SILENCE: u8 = 0xD5;

/// Which G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// μ-law (PCMU, RTP payload type 0).
    Ulaw,
    /// A-law (PCMA, RTP payload type 8).
    Alaw,
}

impl G711Law {
    /// The code that decodes to (near) zero.
    pub const fn silence(self) -> u8 {
        match self {
            G711Law::Ulaw => ULAW_SILENCE,
            G711Law::Alaw => ALAW_SILENCE,
        }
    }

    /// Encodes `pcm` into `out` (same length). Panics never; extra output is left untouched.
    #[inline]
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        match self {
            G711Law::Ulaw => ulaw_encode_slice(pcm, out),
            G711Law::Alaw => alaw_encode_slice(pcm, out),
        }
    }

    /// Decodes `codes` into `out` (same length). Extra output is left untouched.
    #[inline]
    pub fn decode(self, codes: &[u8], out: &mut [i16]) {
        match self {
            G711Law::Ulaw => ulaw_decode_slice(codes, out),
            G711Law::Alaw => alaw_decode_slice(codes, out),
        }
    }
}

const fn ulaw_decode_ref(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + 0x84;
    t <<= ((u & 0x70) >> 4) as i32;
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

const fn alaw_decode_ref(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

/// μ-law quantiser on a 14-bit sample (G.711 Table 2).
const fn ulaw_encode_ref14(sample14: i32) -> u8 {
    const CLIP: i32 = 8159;
    const SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    let (mut v, mask): (i32, i32) = if sample14 < 0 {
        (-sample14, 0x7F)
    } else {
        (sample14, 0xFF)
    };
    if v > CLIP {
        v = CLIP;
    }
    v += 0x84 >> 2;
    let mut seg = 0;
    while seg < 8 && v > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let code = ((seg as i32) << 4) | ((v >> (seg as i32 + 1)) & 0x0F);
    (code ^ mask) as u8
}

/// A-law quantiser on a 13-bit sample (G.711 Table 1).
const fn alaw_encode_ref13(sample13: i32) -> u8 {
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let (v, mask): (i32, i32) = if sample13 >= 0 {
        (sample13, 0xD5)
    } else {
        (-sample13 - 1, 0x55)
    };
    let mut seg = 0;
    while seg < 8 && v > SEG_END[seg] {
        seg += 1;
    }
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut code = (seg as i32) << 4;
    if seg < 2 {
        code |= (v >> 1) & 0x0F;
    } else {
        code |= (v >> seg as i32) & 0x0F;
    }
    (code ^ mask) as u8
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_ref(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_ref(i as u8);
        i += 1;
    }
    t
}

/// Indexed by the 14-bit two's-complement pattern `(pcm >> 2) & 0x3FFF`.
const fn build_ulaw_encode() -> [u8; 1 << 14] {
    let mut t = [0u8; 1 << 14];
    let mut i = 0;
    while i < (1 << 14) {
        // Sign-extend the 14-bit index back to the sample it stands for.
        let sample = ((i as i32) << 18) >> 18;
        t[i] = ulaw_encode_ref14(sample);
        i += 1;
    }
    t
}

/// Indexed by the 13-bit two's-complement pattern `(pcm >> 3) & 0x1FFF`.
const fn build_alaw_encode() -> [u8; 1 << 13] {
    let mut t = [0u8; 1 << 13];
    let mut i = 0;
    while i < (1 << 13) {
        let sample = ((i as i32) << 19) >> 19;
        t[i] = alaw_encode_ref13(sample);
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = build_ulaw_decode();
static ALAW_DECODE: [i16; 256] = build_alaw_decode();
static ULAW_ENCODE: [u8; 1 << 14] = build_ulaw_encode();
static ALAW_ENCODE: [u8; 1 << 13] = build_alaw_encode();

/// μ-law code → PCM16.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// A-law code → PCM16.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// PCM16 → μ-law code.
#[inline]
pub fn ulaw_encode(pcm: i16) -> u8 {
    ULAW_ENCODE[((pcm >> 2) as u16 & 0x3FFF) as usize]
}

/// PCM16 → A-law code.
#[inline]
pub fn alaw_encode(pcm: i16) -> u8 {
    ALAW_ENCODE[((pcm >> 3) as u16 & 0x1FFF) as usize]
}

/// Encodes `pcm` as μ-law into `out`, up to the shorter of the two.
#[inline]
pub fn ulaw_encode_slice(pcm: &[i16], out: &mut [u8]) {
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = ulaw_encode(s);
    }
}

/// Encodes `pcm` as A-law into `out`, up to the shorter of the two.
#[inline]
pub fn alaw_encode_slice(pcm: &[i16], out: &mut [u8]) {
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = alaw_encode(s);
    }
}

/// Decodes μ-law `codes` into `out`, up to the shorter of the two.
#[inline]
pub fn ulaw_decode_slice(codes: &[u8], out: &mut [i16]) {
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = ulaw_decode(c);
    }
}

/// Decodes A-law `codes` into `out`, up to the shorter of the two.
#[inline]
pub fn alaw_decode_slice(codes: &[u8], out: &mut [i16]) {
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = alaw_decode(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_codes_decode_to_near_zero() {
        assert_eq!(ulaw_decode(ULAW_SILENCE), 0);
        assert_eq!(alaw_decode(ALAW_SILENCE), 8);
        assert_eq!(ulaw_encode(0), ULAW_SILENCE);
        assert_eq!(alaw_encode(0), ALAW_SILENCE);
    }

    #[test]
    fn decode_encode_is_identity_on_codes() {
        for code in 0..=255u8 {
            // 0x7F and 0xFF both decode to 0 in μ-law; 0xFF is canonical.
            let expect_u = if code == 0x7F { 0xFF } else { code };
            assert_eq!(ulaw_encode(ulaw_decode(code)), expect_u, "ulaw {code:#x}");
            assert_eq!(alaw_encode(alaw_decode(code)), code, "alaw {code:#x}");
        }
    }

    #[test]
    fn extremes_saturate() {
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }
}
