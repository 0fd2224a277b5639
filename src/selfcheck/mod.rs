//! `tenex-voice selfcheck`: a simulated call through the real hot path.
//!
//! Caller audio arrives as PCMU RTP over a seeded network with loss and jitter,
//! goes through the jitter buffer and the uplink, and must come out as one
//! `input_audio_buffer.append` per 20 ms. An agent reply arrives as Realtime
//! deltas in bursts and must go out as exactly one PCMU payload per tick; a
//! barge-in must stop it at once and report what the caller heard. Timings are
//! measured on this machine and printed; they inform, the functional checks decide.

mod net;
mod timing;

use std::fmt;
use std::time::{Duration, Instant};

use tenex_media::jitter::{JitterBuffer, JitterConfig};
use tenex_media::pacer::{ItemProgress, ItemTag};
use tenex_media::pipeline::{Downlink, Uplink};
use tenex_media::realtime::AudioFormat;
use tenex_media::resample::Resampler;
use tenex_media::sdp::Codec;
use tenex_media::{SampleRate, Simd};

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// Everything the self-check found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Functional checks.
    pub checks: Vec<Check>,
    /// Per-frame costs measured here.
    pub timings: Vec<timing::Timing>,
    /// The vector kernels in use.
    pub simd: Simd,
}

impl Report {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tenex-voice hot-path self-check (kernels: {:?})",
            self.simd
        )?;
        writeln!(f)?;
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            writeln!(f, "  [{mark}] {:<46} {}", c.name, c.detail)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  per 20 ms frame, this machine     mean       p99    target"
        )?;
        for t in &self.timings {
            writeln!(f, "  {t}")?;
        }
        writeln!(f)?;
        let verdict = if self.passed() {
            "all checks passed"
        } else {
            "SOME CHECKS FAILED"
        };
        writeln!(f, "{verdict}")
    }
}

fn check(name: &'static str, ok: bool, detail: String) -> Check {
    Check { name, ok, detail }
}

/// Runs the self-check over `seconds` of simulated call audio.
pub fn run(seconds: u32) -> Report {
    let frames = (seconds.max(2) * 50) as usize;
    let mut checks = vec![uplink_check(frames)];
    checks.extend(downlink_checks());
    checks.push(resampler_check());
    Report {
        checks,
        timings: timing::measure(2000),
        simd: tenex_media::simd(),
    }
}

/// Caller → agent: lossy, jittery PCMU through the jitter buffer and the uplink.
fn uplink_check(frames: usize) -> Check {
    let network = net::Network {
        loss: 0.03,
        jitter_ms: 25,
        delay_ms: 40,
        seed: 2026,
    };
    let (arrivals, dropped) = network.carry(&net::pcmu_stream(frames));
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut up = match Uplink::new(Codec::Pcmu, AudioFormat::Pcm16) {
        Ok(u) => u,
        Err(e) => return check("uplink: lossy PCMU -> append events", false, e.to_string()),
    };
    let t0 = Instant::now();
    let (mut next, mut events, mut wrong_size, mut errors) = (0, 0usize, 0usize, 0usize);
    let mut played = 0usize;
    let ticks = frames + 20;
    for tick in 0..ticks {
        let now = t0 + Duration::from_millis(20 * tick as u64);
        while next < arrivals.len() && arrivals[next].at <= now.duration_since(t0) {
            if let Ok(pkt) = tenex_media::rtp::RtpPacket::parse(&arrivals[next].bytes) {
                jb.push(t0 + arrivals[next].at, &pkt);
            }
            next += 1;
        }
        let playout = jb.pop(now);
        if matches!(playout, tenex_media::jitter::Playout::Frame { .. }) {
            played += 1;
        }
        match up.process(playout) {
            Ok(Some(text)) => {
                events += 1;
                // 480 samples of PCM16 = 960 bytes = 1280 base64 characters.
                const PREFIX: &str = r#"{"type":"input_audio_buffer.append","audio":""#;
                if text.len() != PREFIX.len() + 1280 + 2 || !text.starts_with(PREFIX) {
                    wrong_size += 1;
                }
            }
            Ok(None) => {}
            Err(_) => errors += 1,
        }
    }
    let s = jb.stats();
    // Exact accounting: every packet sent was played, lost, late or discarded, and
    // every append event is a played or a concealed frame.
    let accounted = played + (s.lost + s.late + s.discarded) as usize == frames;
    let ok = wrong_size == 0
        && errors == 0
        && s.lost as usize == dropped
        && accounted
        && events == played + s.concealed as usize;
    check(
        "uplink: lossy PCMU -> append events",
        ok,
        format!(
            "{events} events: {played} played, {} concealed ({dropped} lost in transit), depth {} ms",
            s.concealed,
            jb.target_depth_ms()
        ),
    )
}

/// Agent → caller: bursty deltas paced out, then a barge-in.
fn downlink_checks() -> Vec<Check> {
    let mut down = match Downlink::new(Codec::Pcmu, AudioFormat::Pcm16) {
        Ok(d) => d,
        Err(e) => {
            return vec![check(
                "downlink: bursty deltas -> paced PCMU",
                false,
                e.to_string(),
            )];
        }
    };
    let reply = net::agent_reply_deltas(3_000, 10);
    let item = ItemTag(1);
    for delta in &reply {
        if down.push_delta(item, delta).is_err() {
            return vec![check(
                "downlink: bursty deltas -> paced PCMU",
                false,
                "delta rejected".into(),
            )];
        }
    }
    down.end_item(item);
    let queued = down.queued_frames();
    let t0 = Instant::now();
    let (mut audio, mut first_marker, mut bad) = (0usize, false, 0usize);
    for tick in 0..50u64 {
        let mut per_tick = 0;
        while let Ok(Some(t)) = down.poll(t0 + Duration::from_millis(20 * tick)) {
            per_tick += 1;
            if t.payload.len() != 160 {
                bad += 1;
            }
            if t.item.is_some() {
                if audio == 0 {
                    first_marker = t.marker;
                }
                audio += 1;
            }
        }
        if per_tick != 1 {
            bad += 1;
        }
    }
    let flushed = down.barge_in();
    let paced = check(
        "downlink: bursty deltas -> one PCMU per tick",
        bad == 0 && audio == 50 && queued == 150 && first_marker,
        format!(
            "{queued} frames queued from {} deltas, {audio} played in 50 ticks",
            reply.len()
        ),
    );
    let heard = Some(ItemProgress {
        item,
        played_ms: 1000,
    });
    let after = down
        .poll(t0 + Duration::from_millis(1000))
        .ok()
        .flatten()
        .map(|t| t.item);
    let barge = check(
        "barge-in: flush -> truncate at ms heard",
        flushed.item == heard && flushed.dropped_frames == 100 && after == Some(None),
        format!(
            "dropped {} frames, heard {} ms, next tick silent: {}",
            flushed.dropped_frames,
            flushed.item.map_or(0, |i| i.played_ms),
            after == Some(None)
        ),
    );
    vec![paced, barge]
}

/// The resampler's promise: one frame out per frame in, from the first, within 5 ms.
fn resampler_check() -> Check {
    let mut worst = Duration::ZERO;
    let mut ok = true;
    for from in SampleRate::ALL {
        for to in SampleRate::ALL {
            let mut r = Resampler::new(from, to);
            let input = vec![0i16; from.frame_samples()];
            let mut out = vec![0i16; to.frame_samples()];
            ok &= r.process(&input, &mut out) == Ok(to.frame_samples());
            worst = worst.max(r.delay());
        }
    }
    ok &= worst <= Duration::from_millis(5);
    check(
        "resampler: 1 frame in -> 1 frame out, <= 5 ms",
        ok,
        format!(
            "16 rate pairs, worst delay {:.2} ms",
            worst.as_secs_f64() * 1000.0
        ),
    )
}
