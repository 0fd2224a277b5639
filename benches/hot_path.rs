//! Per-frame cost of the audio hot path. Every bench moves one 20 ms frame through
//! a whole step, with codec, resampler, jitter and pacer state carried across
//! iterations. Run: `cargo bench --bench hot_path`. Figures are in the README.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tenex_media::SampleRate;
use tenex_media::g711::G711Law;
use tenex_media::jitter::{JitterBuffer, JitterConfig, Playout};
use tenex_media::opus::{MAX_PACKET, OpusEncoder, OpusSettings};
use tenex_media::pacer::ItemTag;
use tenex_media::pipeline::{Downlink, Uplink};
use tenex_media::realtime::{AudioFormat, base64};
use tenex_media::resample::Resampler;
use tenex_media::rtp::{PayloadType, RtpPacket, RtpSender, RtpTimestamp, SeqNo, Ssrc};
use tenex_media::sdp::Codec;

/// A speech-band test signal: 440 Hz + 1.3 kHz, not a constant.
fn signal(rate: SampleRate, frames: usize) -> Vec<i16> {
    let hz = f64::from(rate.hz());
    (0..rate.frame_samples() * frames)
        .map(|n| {
            let t = n as f64 / hz;
            (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 3000.0 * (2.0 * std::f64::consts::PI * 1300.0 * t).sin()) as i16
        })
        .collect()
}

/// `frames` Opus packets of the test signal (48 kHz, 20 ms, default settings).
fn opus_packets(frames: usize) -> Vec<Vec<u8>> {
    let mut enc = OpusEncoder::new(SampleRate::Hz48000, OpusSettings::default()).expect("enc");
    signal(SampleRate::Hz48000, frames)
        .chunks_exact(960)
        .map(|c| {
            let mut p = [0u8; MAX_PACKET];
            let n = enc.encode(c, &mut p).expect("encode");
            p[..n].to_vec()
        })
        .collect()
}

fn frame_at(payload: &[u8]) -> Playout<'_> {
    Playout::Frame {
        payload,
        payload_type: tenex_media::rtp::PayloadType::PCMU,
        seq: SeqNo(0),
        timestamp: RtpTimestamp(0),
        marker: false,
    }
}

fn pcmu_payloads(frames: usize) -> Vec<[u8; 160]> {
    signal(SampleRate::Hz8000, frames)
        .chunks_exact(160)
        .map(|c| {
            let mut p = [0u8; 160];
            G711Law::Ulaw.encode(c, &mut p);
            p
        })
        .collect()
}

fn uplink(c: &mut Criterion) {
    let mut g = c.benchmark_group("uplink");
    let payloads = pcmu_payloads(50);

    let mut up = Uplink::new(Codec::Pcmu, AudioFormat::Pcm16).expect("uplink");
    let mut i = 0;
    g.bench_function("pcmu_to_append_pcm16", |b| {
        b.iter(|| {
            i = (i + 1) % payloads.len();
            black_box(
                up.process(frame_at(&payloads[i]))
                    .expect("uplink")
                    .map(str::len),
            )
        })
    });

    let mut up = Uplink::new(Codec::Pcmu, AudioFormat::Pcmu).expect("uplink");
    g.bench_function("pcmu_to_append_passthrough", |b| {
        b.iter(|| {
            i = (i + 1) % payloads.len();
            black_box(
                up.process(frame_at(&payloads[i]))
                    .expect("uplink")
                    .map(str::len),
            )
        })
    });

    let packets = opus_packets(50);
    let mut up = Uplink::new(Codec::Opus, AudioFormat::Pcm16).expect("uplink");
    g.bench_function("opus_to_append_pcm16", |b| {
        b.iter(|| {
            i = (i + 1) % packets.len();
            black_box(
                up.process(frame_at(&packets[i]))
                    .expect("uplink")
                    .map(str::len),
            )
        })
    });
    g.finish();
}

fn delta_event(bytes: &[u8]) -> String {
    let mut b64 = Vec::new();
    base64::encode_into(bytes, &mut b64);
    format!(
        r#"{{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        String::from_utf8(b64).expect("ascii")
    )
}

fn downlink(c: &mut Criterion) {
    let mut g = c.benchmark_group("downlink");
    let t0 = Instant::now();

    let pcm: Vec<u8> = signal(SampleRate::Hz24000, 1)
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let text = delta_event(&pcm);
    let mut down = Downlink::new(Codec::Pcmu, AudioFormat::Pcm16).expect("downlink");
    let mut tick = 0u64;
    g.bench_function("delta_pcm16_to_pcmu", |b| {
        b.iter(|| {
            down.push_delta(ItemTag(1), black_box(&text))
                .expect("delta");
            tick += 1;
            let now = t0 + Duration::from_millis(20 * tick);
            black_box(down.poll(now).expect("poll").map(|t| t.payload.len()))
        })
    });

    let text = delta_event(&pcmu_payloads(1)[0]);
    let mut down = Downlink::new(Codec::Pcmu, AudioFormat::Pcmu).expect("downlink");
    g.bench_function("delta_passthrough_to_pcmu", |b| {
        b.iter(|| {
            down.push_delta(ItemTag(1), black_box(&text))
                .expect("delta");
            tick += 1;
            let now = t0 + Duration::from_millis(20 * tick);
            black_box(down.poll(now).expect("poll").map(|t| t.payload.len()))
        })
    });
    g.finish();
}

fn jitter(c: &mut Criterion) {
    let mut g = c.benchmark_group("jitter");
    let payload = pcmu_payloads(1)[0];
    let mut tx = RtpSender::new(Ssrc(1), SeqNo(0), RtpTimestamp(0));
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut wire = [0u8; 200];
    let t0 = Instant::now();
    let mut tick = 0u64;
    g.bench_function("push_pop_20ms", |b| {
        b.iter(|| {
            let n = tx
                .write_media(PayloadType::PCMU, false, &payload, 160, &mut wire)
                .expect("rtp");
            tick += 1;
            let now = t0 + Duration::from_millis(20 * tick);
            let pkt = RtpPacket::parse(&wire[..n]).expect("parse");
            jb.push(now, &pkt);
            black_box(matches!(jb.pop(now), Playout::Frame { .. }))
        })
    });
    g.finish();
}

/// The building blocks, and rubato's FFT resampler for comparison.
fn parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("parts");
    for (from, to) in [
        (SampleRate::Hz8000, SampleRate::Hz24000),
        (SampleRate::Hz24000, SampleRate::Hz8000),
        (SampleRate::Hz48000, SampleRate::Hz24000),
    ] {
        let input = signal(from, 1);
        let mut out = vec![0i16; to.frame_samples()];
        let mut r = Resampler::new(from, to);
        g.bench_function(
            format!("resample_{}k_to_{}k", from.hz() / 1000, to.hz() / 1000),
            |b| b.iter(|| r.process(black_box(&input), &mut out).expect("resample")),
        );
    }
    {
        use rubato::audioadapter_buffers::direct::SequentialSlice;
        use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};
        // Two 10 ms FFT blocks per frame: the setting that keeps rubato within 5 ms delay.
        let mut fft = Fft::<f32>::new_custom(
            8000,
            24000,
            160,
            2,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Input,
        )
        .expect("rubato");
        let input: Vec<f32> = signal(SampleRate::Hz8000, 1)
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect();
        let mut out = vec![0f32; 480];
        g.bench_function("rubato_fft_8k_to_24k", |b| {
            b.iter(|| {
                let a = SequentialSlice::new(&input[..], 1, 160).expect("adapter");
                let mut o = SequentialSlice::new_mut(&mut out[..], 1, 480).expect("adapter");
                fft.process_into_buffer(black_box(&a), &mut o, None)
                    .expect("process")
            })
        });
    }
    let pcm = signal(SampleRate::Hz24000, 1);
    let mut buf = Vec::with_capacity(2048);
    g.bench_function("base64_pcm16_20ms", |b| {
        b.iter(|| {
            buf.clear();
            base64::encode_pcm16_into(black_box(&pcm), &mut buf);
            buf.len()
        })
    });
    let packets = opus_packets(50);
    let mut dec = tenex_media::opus::OpusDecoder::new(SampleRate::Hz24000).expect("dec");
    let mut pcm24 = [0i16; 480];
    let mut k = 0;
    // libopus's own cost inside uplink/opus_to_append_pcm16.
    g.bench_function("opus_decode_20ms_to_24k", |b| {
        b.iter(|| {
            k = (k + 1) % packets.len();
            dec.decode(black_box(&packets[k]), &mut pcm24)
                .expect("decode")
        })
    });
    let codes = pcmu_payloads(1)[0];
    let mut out = [0i16; 160];
    g.bench_function("ulaw_decode_20ms", |b| {
        b.iter(|| G711Law::Ulaw.decode(black_box(&codes), &mut out))
    });
    g.finish();
}

criterion_group!(benches, uplink, downlink, jitter, parts);
criterion_main!(benches);
