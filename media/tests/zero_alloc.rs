//! Zero heap allocations per frame in steady state, on every hot path, proven
//! with a counting global allocator.
//!
//! Each path is warmed up (200 frames, so buffers reach their working size), then
//! run for 1000 more frames while every allocation made by this thread is counted.
//! The count must be zero. (libopus allocates nothing after its state is created,
//! and its C allocations would not pass through Rust's allocator anyway.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::time::{Duration, Instant};

use tenex_media::SampleRate;
use tenex_media::g711::G711Law;
use tenex_media::jitter::{JitterBuffer, JitterConfig};
use tenex_media::opus::{MAX_PACKET, OpusEncoder, OpusSettings};
use tenex_media::pacer::ItemTag;
use tenex_media::pipeline::{Downlink, Uplink};
use tenex_media::realtime::AudioFormat;
use tenex_media::rtp::{PayloadType, RtpPacket, RtpSender, RtpTimestamp, SeqNo, Ssrc};
use tenex_media::sdp::Codec;
use tenex_media::vad::{EnergyVad, VadConfig};
use tenex_media::wav::{RecorderConfig, WavRecorder};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: thread-local storage may be gone while a thread exits.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: defers to the system allocator; only adds a thread-local counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARMUP: usize = 200;
const MEASURED: usize = 1000;

/// Runs `step(i)` for the warm-up frames, then counts allocations over the rest.
fn allocations_in_steady_state(mut step: impl FnMut(usize)) -> u64 {
    for i in 0..WARMUP {
        step(i);
    }
    COUNT.with(|c| c.set(0));
    COUNTING.with(|on| on.set(true));
    for i in WARMUP..WARMUP + MEASURED {
        step(i);
    }
    COUNTING.with(|on| on.set(false));
    COUNT.with(|c| c.get())
}

fn tone(rate: SampleRate, frames: usize) -> Vec<i16> {
    (0..rate.frame_samples() * frames)
        .map(|n| {
            ((n as f64 * 2.0 * std::f64::consts::PI * 440.0 / f64::from(rate.hz())).sin() * 8000.0)
                as i16
        })
        .collect()
}

/// RTP packets of 20 ms, one per frame, for the given codec.
fn rtp_stream(codec: Codec, frames: usize) -> Vec<Vec<u8>> {
    let mut tx = RtpSender::new(Ssrc(1), SeqNo(65000), RtpTimestamp(0));
    let mut wire = [0u8; 1500];
    match codec {
        Codec::Pcmu | Codec::Pcma => {
            let law = if codec == Codec::Pcmu {
                G711Law::Ulaw
            } else {
                G711Law::Alaw
            };
            let pcm = tone(SampleRate::Hz8000, frames);
            pcm.chunks_exact(160)
                .map(|c| {
                    let mut p = [0u8; 160];
                    law.encode(c, &mut p);
                    let n = tx
                        .write_media(PayloadType::PCMU, false, &p, 160, &mut wire)
                        .expect("rtp");
                    wire[..n].to_vec()
                })
                .collect()
        }
        Codec::Opus => {
            let mut enc =
                OpusEncoder::new(SampleRate::Hz48000, OpusSettings::default()).expect("enc");
            let pcm = tone(SampleRate::Hz48000, frames);
            pcm.chunks_exact(960)
                .map(|c| {
                    let mut p = [0u8; MAX_PACKET];
                    let len = enc.encode(c, &mut p).expect("encode");
                    let pt = PayloadType::new(111).expect("pt");
                    let n = tx
                        .write_media(pt, false, &p[..len], 960, &mut wire)
                        .expect("rtp");
                    wire[..n].to_vec()
                })
                .collect()
        }
    }
}

/// RTP receive → jitter buffer → uplink → append text, one frame per step.
fn uplink_allocations(codec: Codec, format: AudioFormat) -> u64 {
    let packets = rtp_stream(codec, WARMUP + MEASURED);
    let clock = if codec == Codec::Opus { 48_000 } else { 8_000 };
    let mut jb = JitterBuffer::new(JitterConfig {
        clock_rate: clock,
        ..JitterConfig::default()
    });
    let mut up = Uplink::new(codec, format).expect("uplink");
    let t0 = Instant::now();
    let mut sent = 0usize;
    let count = allocations_in_steady_state(|i| {
        let now = t0 + Duration::from_millis(20 * i as u64);
        let pkt = RtpPacket::parse(&packets[i]).expect("parse");
        jb.push(now, &pkt);
        let playout = jb.pop(now);
        if let Some(text) = up.process(playout).expect("uplink") {
            sent += text.len();
        }
    });
    assert!(sent > 0);
    count
}

/// Delta text → downlink → paced RTP payload → RTP packet, one frame per step.
fn downlink_allocations(codec: Codec, format: AudioFormat) -> u64 {
    let frame: Vec<u8> = match format {
        AudioFormat::Pcm16 => tone(SampleRate::Hz24000, 1)
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect(),
        _ => vec![0x55; 160],
    };
    let mut b64 = String::new();
    for chunk in frame.chunks(3) {
        // A tiny local base64 so the test does not lean on the code under test.
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let w = chunk
            .iter()
            .enumerate()
            .fold(0u32, |w, (k, &b)| w | u32::from(b) << (16 - 8 * k));
        for k in 0..4 {
            b64.push(if k <= chunk.len() {
                A[(w >> (18 - 6 * k) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    let text = format!(
        r#"{{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"{b64}"}}"#
    );
    let mut down = Downlink::new(codec, format).expect("downlink");
    let mut tx = RtpSender::new(Ssrc(2), SeqNo(1), RtpTimestamp(0));
    let mut wire = [0u8; 1500];
    let t0 = Instant::now();
    allocations_in_steady_state(|i| {
        down.push_delta(ItemTag(1), &text).expect("delta");
        let now = t0 + Duration::from_millis(20 * i as u64);
        while let Some(tick) = down.poll(now).expect("poll") {
            tx.write_media(PayloadType::PCMU, tick.marker, tick.payload, 160, &mut wire)
                .expect("rtp");
        }
    })
}

#[test]
fn uplink_pcmu_to_pcm16_allocates_nothing_per_frame() {
    assert_eq!(uplink_allocations(Codec::Pcmu, AudioFormat::Pcm16), 0);
}

#[test]
fn uplink_pcmu_passthrough_allocates_nothing_per_frame() {
    assert_eq!(uplink_allocations(Codec::Pcmu, AudioFormat::Pcmu), 0);
}

#[test]
fn uplink_opus_to_pcm16_allocates_nothing_per_frame() {
    assert_eq!(uplink_allocations(Codec::Opus, AudioFormat::Pcm16), 0);
}

#[test]
fn downlink_pcm16_to_pcmu_allocates_nothing_per_frame() {
    assert_eq!(downlink_allocations(Codec::Pcmu, AudioFormat::Pcm16), 0);
}

#[test]
fn downlink_passthrough_to_pcmu_allocates_nothing_per_frame() {
    assert_eq!(downlink_allocations(Codec::Pcmu, AudioFormat::Pcmu), 0);
}

#[test]
fn downlink_pcm16_to_opus_allocates_nothing_per_frame() {
    assert_eq!(downlink_allocations(Codec::Opus, AudioFormat::Pcm16), 0);
}

#[test]
fn vad_and_recorder_allocate_nothing_per_frame() {
    let pcm = tone(SampleRate::Hz8000, WARMUP + MEASURED);
    let mut vad = EnergyVad::new(SampleRate::Hz8000, VadConfig::default()).expect("vad");
    let mut file = vec![0u8; 8 << 20];
    let mut rec = WavRecorder::new(
        Cursor::new(&mut file[..]),
        SampleRate::Hz8000,
        RecorderConfig::default(),
    )
    .expect("recorder");
    let n = allocations_in_steady_state(|i| {
        let frame = &pcm[i * 160..(i + 1) * 160];
        vad.handle_frame(frame).expect("vad");
        while vad.poll_event().is_some() {}
        rec.push_caller(i as u64 * 160, frame).expect("caller");
        rec.push_agent(i as u64 * 160, frame).expect("agent");
    });
    assert_eq!(n, 0);
}

#[test]
fn the_counter_does_count() {
    // Guard against a vacuous pass: allocating inside the window is seen.
    let n = allocations_in_steady_state(|i| {
        if i >= WARMUP {
            std::hint::black_box(vec![0u8; 16]);
        }
    });
    assert_eq!(n, MEASURED as u64);
}
