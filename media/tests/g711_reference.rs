//! Bit-exactness of G.711 against reference vectors produced by an independent
//! implementation (CPython's `audioop`, see scripts/gen_g711_fixtures.py).

use tenex_media::g711;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/g711/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn pcm(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn ulaw_decode_all_256_codes() {
    let want = pcm(&fixture("ulaw_decode.bin"));
    assert_eq!(want.len(), 256);
    for code in 0..=255u8 {
        assert_eq!(
            g711::ulaw_decode(code),
            want[code as usize],
            "code {code:#04x}"
        );
    }
}

#[test]
fn alaw_decode_all_256_codes() {
    let want = pcm(&fixture("alaw_decode.bin"));
    assert_eq!(want.len(), 256);
    for code in 0..=255u8 {
        assert_eq!(
            g711::alaw_decode(code),
            want[code as usize],
            "code {code:#04x}"
        );
    }
}

#[test]
fn ulaw_encode_all_65536_inputs() {
    let want = fixture("ulaw_encode.bin");
    assert_eq!(want.len(), 65_536);
    for bits in 0..=u16::MAX {
        let s = bits as i16;
        assert_eq!(g711::ulaw_encode(s), want[bits as usize], "input {s}");
    }
}

#[test]
fn alaw_encode_all_65536_inputs() {
    let want = fixture("alaw_encode.bin");
    assert_eq!(want.len(), 65_536);
    for bits in 0..=u16::MAX {
        let s = bits as i16;
        assert_eq!(g711::alaw_encode(s), want[bits as usize], "input {s}");
    }
}

#[test]
fn slice_helpers_match_scalar() {
    let input: Vec<i16> = (0..=u16::MAX).step_by(7).map(|b| b as i16).collect();
    for law in [g711::G711Law::Ulaw, g711::G711Law::Alaw] {
        let mut codes = vec![0u8; input.len()];
        law.encode(&input, &mut codes);
        let mut back = vec![0i16; input.len()];
        law.decode(&codes, &mut back);
        for (i, &s) in input.iter().enumerate() {
            let (c, d) = match law {
                g711::G711Law::Ulaw => (g711::ulaw_encode(s), g711::ulaw_decode(codes[i])),
                g711::G711Law::Alaw => (g711::alaw_encode(s), g711::alaw_decode(codes[i])),
            };
            assert_eq!(codes[i], c);
            assert_eq!(back[i], d);
        }
    }
}
