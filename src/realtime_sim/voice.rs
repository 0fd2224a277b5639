//! Deterministic speech-like audio for the simulated agent: one voiced burst per
//! word (a 3-harmonic tone with an attack/decay envelope), short gaps between
//! words. Loud enough for any VAD, spectrally narrow enough to survive G.711.

/// 24 kHz PCM16 for `text` (about 300 ms per word), with `seed` varying the pitch.
pub(super) fn speak(text: &str, seed: u64) -> Vec<i16> {
    const RATE: f32 = 24_000.0;
    let f0 = 120.0 + (seed % 60) as f32;
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let voiced = (0.16 + 0.03 * word.len().min(10) as f32) * RATE;
        let n = voiced as usize;
        for i in 0..n {
            let t = i as f32 / RATE;
            let env =
                (i as f32 / (0.02 * RATE)).min(1.0) * ((n - i) as f32 / (0.04 * RATE)).min(1.0);
            let phase = 2.0 * std::f32::consts::PI * f0 * t;
            let s = phase.sin() + 0.5 * (2.0 * phase).sin() + 0.25 * (3.0 * phase).sin();
            out.push((s * env * 7000.0) as i16);
        }
        out.extend(std::iter::repeat_n(0, (0.06 * RATE) as usize));
    }
    out
}
