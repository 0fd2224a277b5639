//! Per-frame cost of the hot path, measured on this machine in batches of ten
//! frames (so the clock reads stay out of the figures).

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use tenex_media::jitter::{JitterBuffer, JitterConfig, Playout};
use tenex_media::pacer::ItemTag;
use tenex_media::pipeline::{Downlink, Uplink};
use tenex_media::realtime::{AudioFormat, base64};
use tenex_media::rtp::{PayloadType, RtpPacket, RtpSender, RtpTimestamp, SeqNo, Ssrc};
use tenex_media::sdp::Codec;

const BATCH: usize = 10;

/// One step's measured cost.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Which step.
    pub name: &'static str,
    /// Mean per frame.
    pub mean: Duration,
    /// 99th percentile per frame (of batch means).
    pub p99: Duration,
    /// The project's target for it, if it has one.
    pub target: Option<Duration>,
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let target = self
            .target
            .map_or("-".to_string(), |t| format!("<= {:.1} us", us(t)));
        write!(
            f,
            "{:<34} {:>6.2} us {:>6.2} us   {target}",
            self.name,
            us(self.mean),
            us(self.p99)
        )
    }
}

fn time(
    name: &'static str,
    frames: usize,
    target_ns: Option<u64>,
    mut step: impl FnMut(usize),
) -> Timing {
    for i in 0..200 {
        step(i);
    }
    let mut batches: Vec<Duration> = (0..frames / BATCH)
        .map(|b| {
            let start = Instant::now();
            for i in 0..BATCH {
                step(200 + b * BATCH + i);
            }
            start.elapsed() / BATCH as u32
        })
        .collect();
    batches.sort();
    let mean = batches.iter().sum::<Duration>() / batches.len().max(1) as u32;
    let p99 = batches[(batches.len() * 99 / 100).min(batches.len().saturating_sub(1))];
    Timing {
        name,
        mean,
        p99,
        target: target_ns.map(Duration::from_nanos),
    }
}

fn frame(payload: &[u8]) -> Playout<'_> {
    Playout::Frame {
        payload,
        payload_type: tenex_media::rtp::PayloadType::PCMU,
        seq: SeqNo(0),
        timestamp: RtpTimestamp(0),
        marker: false,
    }
}

fn delta(bytes: &[u8]) -> String {
    let mut b64 = Vec::new();
    base64::encode_into(bytes, &mut b64);
    format!(
        r#"{{"type":"response.output_audio.delta","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        String::from_utf8_lossy(&b64)
    )
}

/// Measures the hot-path steps over `frames` frames each.
pub(crate) fn measure(frames: usize) -> Vec<Timing> {
    let mut out = Vec::new();
    let payload: Vec<u8> = (0..160).map(|i| (i * 37 % 256) as u8).collect();
    if let Ok(mut up) = Uplink::new(Codec::Pcmu, AudioFormat::Pcm16) {
        out.push(time(
            "uplink pcmu -> append pcm16",
            frames,
            Some(2500),
            |_| {
                black_box(up.process(frame(&payload)).ok().flatten().map(str::len));
            },
        ));
    }
    if let Ok(mut up) = Uplink::new(Codec::Pcmu, AudioFormat::Pcmu) {
        out.push(time(
            "uplink pcmu -> append passthrough",
            frames,
            Some(400),
            |_| {
                black_box(up.process(frame(&payload)).ok().flatten().map(str::len));
            },
        ));
    }
    let t0 = Instant::now();
    let pcm: Vec<u8> = (0..480)
        .flat_map(|n| (((n as f64 * 0.115).sin() * 6000.0) as i16).to_le_bytes())
        .collect();
    let text = delta(&pcm);
    if let Ok(mut down) = Downlink::new(Codec::Pcmu, AudioFormat::Pcm16) {
        out.push(time(
            "downlink delta pcm16 -> pcmu",
            frames,
            Some(2500),
            |i| {
                let _ = down.push_delta(ItemTag(1), &text);
                let now = t0 + Duration::from_millis(20 * i as u64);
                black_box(down.poll(now).ok().flatten().map(|t| t.payload.len()));
            },
        ));
    }
    let text = delta(&payload);
    if let Ok(mut down) = Downlink::new(Codec::Pcmu, AudioFormat::Pcmu) {
        out.push(time(
            "downlink delta passthrough -> pcmu",
            frames,
            Some(400),
            |i| {
                let _ = down.push_delta(ItemTag(1), &text);
                let now = t0 + Duration::from_millis(20 * i as u64);
                black_box(down.poll(now).ok().flatten().map(|t| t.payload.len()));
            },
        ));
    }
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut tx = RtpSender::new(Ssrc(1), SeqNo(0), RtpTimestamp(0));
    let mut wire = [0u8; 200];
    out.push(time("jitter buffer push + pop", frames, None, |i| {
        let n = tx
            .write_media(PayloadType::PCMU, false, &payload, 160, &mut wire)
            .unwrap_or(0);
        let now = t0 + Duration::from_millis(20 * i as u64);
        if let Ok(pkt) = RtpPacket::parse(&wire[..n]) {
            jb.push(now, &pkt);
        }
        black_box(matches!(jb.pop(now), Playout::Frame { .. }));
    }));
    out
}
