//! Simulated media for the self-check: a PCMU caller, a lossy network, and an
//! agent reply in Realtime deltas.

use std::time::Duration;

use tenex_media::g711::G711Law;
use tenex_media::realtime::base64;
use tenex_media::rtp::{PayloadType, RtpSender, RtpTimestamp, SeqNo, Ssrc};

/// A packet and when it arrives.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub(crate) at: Duration,
    pub(crate) bytes: Vec<u8>,
}

/// A seeded network path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Network {
    pub(crate) loss: f64,
    pub(crate) jitter_ms: u64,
    pub(crate) delay_ms: u64,
    pub(crate) seed: u64,
}

fn xorshift(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

impl Network {
    /// Sends packet `i` at `20 i` ms; returns what arrives, in arrival order, and how
    /// many packets were lost on the way.
    pub(crate) fn carry(&self, packets: &[Vec<u8>]) -> (Vec<Arrival>, usize) {
        let mut state = self.seed.max(1);
        let mut out: Vec<Arrival> = packets
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let jitter = xorshift(&mut state) * self.jitter_ms as f64;
                let lost = xorshift(&mut state) < self.loss;
                let at = Duration::from_millis(20 * i as u64 + self.delay_ms)
                    + Duration::from_secs_f64(jitter / 1000.0);
                (!lost).then(|| Arrival {
                    at,
                    bytes: p.clone(),
                })
            })
            .collect();
        out.sort_by_key(|a| a.at);
        let lost = packets.len() - out.len();
        (out, lost)
    }
}

/// `frames` RTP packets of a caller saying "aaa": a 180 Hz voiced tone in PCMU.
pub(crate) fn pcmu_stream(frames: usize) -> Vec<Vec<u8>> {
    let mut tx = RtpSender::new(Ssrc(0x7e57), SeqNo(65_400), RtpTimestamp(0xFFFF_0000));
    let mut wire = [0u8; 200];
    (0..frames)
        .map(|i| {
            let mut pcm = [0i16; 160];
            for (n, s) in pcm.iter_mut().enumerate() {
                let t = (i * 160 + n) as f64 / 8000.0;
                *s = (7000.0 * (2.0 * std::f64::consts::PI * 180.0 * t).sin()) as i16;
            }
            let mut payload = [0u8; 160];
            G711Law::Ulaw.encode(&pcm, &mut payload);
            let n = tx
                .write_media(PayloadType::PCMU, i == 0, &payload, 160, &mut wire)
                .unwrap_or(0);
            wire[..n].to_vec()
        })
        .collect()
}

/// An agent reply of `ms` milliseconds of 24 kHz PCM16, as `parts` delta events.
pub(crate) fn agent_reply_deltas(ms: usize, parts: usize) -> Vec<String> {
    let samples = ms * 24;
    let pcm: Vec<u8> = (0..samples)
        .flat_map(|n| {
            let t = n as f64 / 24_000.0;
            ((5000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()) as i16).to_le_bytes()
        })
        .collect();
    // Deltas of uneven size, as the service sends them.
    let step = pcm.len() / parts + 7;
    pcm.chunks(step)
        .map(|chunk| {
            let mut b64 = Vec::new();
            base64::encode_into(chunk, &mut b64);
            format!(
                r#"{{"type":"response.output_audio.delta","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{}"}}"#,
                String::from_utf8_lossy(&b64)
            )
        })
        .collect()
}
