//! The uplink and downlink pipelines end to end.

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tenex_media::SampleRate;
use tenex_media::g711;
use tenex_media::jitter::Playout;
use tenex_media::opus::{MAX_PACKET, OpusDecoder, OpusEncoder, OpusSettings};
use tenex_media::pacer::{ItemProgress, ItemTag};
use tenex_media::pipeline::{Downlink, Uplink, UplinkError};
use tenex_media::realtime::AudioFormat;
use tenex_media::rtp::{RtpTimestamp, SeqNo};
use tenex_media::sdp::Codec;

const PREFIX: &str = r#"{"type":"input_audio_buffer.append","audio":""#;

fn tone(rate: u32, freq: f64, amp: f64, n: usize, offset: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (amp * (2.0 * PI * freq * (i + offset) as f64 / f64::from(rate)).sin()).round() as i16
        })
        .collect()
}

fn frame(payload: &[u8]) -> Playout<'_> {
    Playout::Frame {
        payload,
        payload_type: tenex_media::rtp::PayloadType::PCMU,
        seq: SeqNo(1),
        timestamp: RtpTimestamp(0),
        marker: false,
    }
}

/// The audio bytes inside an append event.
fn append_audio(text: &str) -> Vec<u8> {
    let b64 = text
        .strip_prefix(PREFIX)
        .and_then(|t| t.strip_suffix("\"}"))
        .expect("append shape");
    STANDARD.decode(b64).expect("base64")
}

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

fn zero_crossings(x: &[i16]) -> usize {
    x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
}

fn delta_event(bytes: &[u8]) -> String {
    format!(
        r#"{{"type":"response.output_audio.delta","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        STANDARD.encode(bytes)
    )
}

fn le_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[test]
fn uplink_pcmu_to_pcm16_keeps_level_and_pitch() {
    let mut up = Uplink::new(Codec::Pcmu, AudioFormat::Pcm16).expect("uplink");
    assert!(!up.is_passthrough());
    let src = tone(8000, 1000.0, 10000.0, 160 * 50, 0);
    let mut out = Vec::new();
    for chunk in src.chunks_exact(160) {
        let mut payload = [0u8; 160];
        g711::G711Law::Ulaw.encode(chunk, &mut payload);
        let text = up.process(frame(&payload)).expect("process").expect("text");
        let pcm = samples(&append_audio(text));
        assert_eq!(pcm.len(), 480, "one 20 ms frame at 24 kHz per packet");
        out.extend(pcm);
    }
    let steady = &out[480 * 5..];
    let level = 20.0 * (rms(steady) / rms(&src)).log10();
    assert!(level.abs() < 0.5, "level change {level:.2} dB");
    // 1 kHz: two zero crossings per ms, 45 frames of 20 ms.
    let zc = zero_crossings(steady);
    assert!((1795..=1805).contains(&zc), "{zc} zero crossings");
}

#[test]
fn uplink_passthrough_sends_the_payload_bytes_untouched() {
    let mut up = Uplink::new(Codec::Pcma, AudioFormat::Pcma).expect("uplink");
    assert!(up.is_passthrough());
    let payload: Vec<u8> = (0..160).map(|i| (i * 7) as u8).collect();
    let text = up
        .process(frame(&payload))
        .expect("process")
        .expect("text")
        .to_owned();
    assert_eq!(append_audio(&text), payload);
}

#[test]
fn uplink_conceals_g711_loss_and_sends_nothing_while_waiting() {
    let mut up = Uplink::new(Codec::Pcmu, AudioFormat::Pcmu).expect("uplink");
    assert_eq!(up.process(Playout::Waiting).expect("process"), None);
    let mut payload = [0u8; 160];
    g711::G711Law::Ulaw.encode(&[8000; 160], &mut payload);
    up.process(frame(&payload)).expect("good frame");
    let lost = Playout::Lost {
        seq: Some(SeqNo(2)),
        fec_source: None,
    };
    let first = append_audio(up.process(lost).expect("process").expect("text"));
    let first_pcm: Vec<i16> = first.iter().map(|&c| g711::ulaw_decode(c)).collect();
    assert!(first_pcm[0] > 7000, "starts from the last good frame");
    assert!(first_pcm[159] < first_pcm[0], "and fades");
    for _ in 0..3 {
        up.process(lost).expect("process");
    }
    let later = append_audio(up.process(lost).expect("process").expect("text"));
    assert!(
        later.iter().all(|&c| g711::ulaw_decode(c) == 0),
        "silence after the fade"
    );
}

#[test]
fn uplink_opus_decodes_straight_to_24_khz_and_uses_fec() {
    let mut enc = OpusEncoder::new(SampleRate::Hz48000, OpusSettings::default()).expect("enc");
    let src = tone(48000, 440.0, 8000.0, 960 * 10, 0);
    let packets: Vec<Vec<u8>> = src
        .chunks_exact(960)
        .map(|c| {
            let mut p = [0u8; MAX_PACKET];
            let n = enc.encode(c, &mut p).expect("encode");
            p[..n].to_vec()
        })
        .collect();
    let mut up = Uplink::new(Codec::Opus, AudioFormat::Pcm16).expect("uplink");
    for p in &packets[..5] {
        let pcm = samples(&append_audio(
            up.process(frame(p)).expect("process").expect("text"),
        ));
        assert_eq!(pcm.len(), 480);
    }
    let lost = Playout::Lost {
        seq: Some(SeqNo(6)),
        fec_source: Some(&packets[6]),
    };
    let pcm = samples(&append_audio(up.process(lost).expect("fec").expect("text")));
    assert_eq!(pcm.len(), 480);
    assert!(rms(&pcm) > 1000.0, "recovered audio, not silence");
}

#[test]
fn uplink_rejects_bad_payloads_with_typed_errors() {
    let mut up = Uplink::new(Codec::Pcmu, AudioFormat::Pcm16).expect("uplink");
    assert!(matches!(
        up.process(frame(&[0; 100])),
        Err(UplinkError::FrameSize(100))
    ));
    let mut pass = Uplink::new(Codec::Pcmu, AudioFormat::Pcmu).expect("uplink");
    assert!(matches!(
        pass.process(frame(&[0; 240])),
        Err(UplinkError::FrameSize(240))
    ));
    let mut opus = Uplink::new(Codec::Opus, AudioFormat::Pcm16).expect("uplink");
    assert!(matches!(
        opus.process(frame(&[0xFF, 0xFF])),
        Err(UplinkError::Opus(_))
    ));
    // Still works afterwards.
    assert!(up.process(frame(&[0xFF; 160])).expect("ok").is_some());
}

#[test]
fn downlink_pcm16_to_pcmu_paces_one_payload_per_tick() {
    let mut down = Downlink::new(Codec::Pcmu, AudioFormat::Pcm16).expect("downlink");
    let pcm = tone(24000, 1000.0, 10000.0, 4800, 0); // 200 ms
    let item = ItemTag(7);
    // Deltas of odd sizes, faster than real time.
    let bytes = le_bytes(&pcm);
    for chunk in bytes.chunks(1234) {
        down.push_delta(item, &delta_event(chunk)).expect("delta");
    }
    assert_eq!(down.queued_frames(), 10);
    let t0 = Instant::now();
    let mut heard = Vec::new();
    let mut markers = Vec::new();
    for k in 0..12u64 {
        let now = t0 + Duration::from_millis(20 * k);
        let tick = down.poll(now).expect("poll").expect("due");
        assert_eq!(tick.payload.len(), 160);
        markers.push(tick.marker);
        heard.extend(tick.payload.iter().map(|&c| g711::ulaw_decode(c)));
        assert!(down.poll(now).expect("poll").is_none());
    }
    assert_eq!(&markers[..3], &[true, false, false]);
    let steady = &heard[160 * 2..160 * 10];
    let level = 20.0 * (rms(steady) / rms(&pcm)).log10();
    assert!(level.abs() < 0.5, "level change {level:.2} dB");
    assert!(
        heard[160 * 10..].iter().all(|&s| s == 0),
        "silence once drained"
    );
}

#[test]
fn downlink_passthrough_keeps_bytes_and_pads_the_last_frame() {
    let mut down = Downlink::new(Codec::Pcmu, AudioFormat::Pcmu).expect("downlink");
    let bytes: Vec<u8> = (0..400).map(|i| (i % 200) as u8).collect();
    down.push_delta(ItemTag(1), &delta_event(&bytes))
        .expect("delta");
    assert_eq!(down.queued_frames(), 2);
    down.end_item(ItemTag(1));
    assert_eq!(down.queued_frames(), 3);
    let t0 = Instant::now();
    let mut got = Vec::new();
    for k in 0..3u64 {
        got.extend_from_slice(
            down.poll(t0 + Duration::from_millis(20 * k))
                .expect("poll")
                .expect("due")
                .payload,
        );
    }
    assert_eq!(&got[..400], &bytes[..]);
    assert!(got[400..].iter().all(|&b| b == g711::ULAW_SILENCE));
    // The padded frame counts only its 10 ms of real audio: 20 + 20 + 10.
    assert_eq!(
        down.barge_in().item,
        Some(ItemProgress {
            item: ItemTag(1),
            played_ms: 50
        })
    );
}

#[test]
fn downlink_barge_in_stops_playout_at_once_and_reports_what_was_heard() {
    let mut down = Downlink::new(Codec::Pcma, AudioFormat::Pcm16).expect("downlink");
    let pcm = tone(24000, 300.0, 8000.0, 24000, 0); // 1 s
    let bytes = le_bytes(&pcm);
    down.push_delta(ItemTag(3), &delta_event(&bytes[..bytes.len() - 100]))
        .expect("delta");
    let t0 = Instant::now();
    for k in 0..5u64 {
        down.poll(t0 + Duration::from_millis(20 * k)).expect("poll");
    }
    let flushed = down.barge_in();
    assert_eq!(
        flushed.item,
        Some(ItemProgress {
            item: ItemTag(3),
            played_ms: 100
        })
    );
    assert_eq!(flushed.dropped_frames, 44);
    let next = down
        .poll(t0 + Duration::from_millis(100))
        .expect("poll")
        .expect("due");
    assert_eq!(next.item, None);
    assert!(next.payload.iter().all(|&b| b == g711::ALAW_SILENCE));
    // The partial frame in the assembler went too: a new item starts clean.
    down.push_delta(ItemTag(4), &delta_event(&bytes[..1920]))
        .expect("delta");
    assert_eq!(down.queued_frames(), 2);
}

#[test]
fn downlink_to_an_opus_leg_encodes_at_each_tick() {
    let mut down = Downlink::new(Codec::Opus, AudioFormat::Pcm16).expect("downlink");
    let pcm = tone(24000, 440.0, 8000.0, 4800, 0);
    down.push_delta(ItemTag(1), &delta_event(&le_bytes(&pcm)))
        .expect("delta");
    let mut dec = OpusDecoder::new(SampleRate::Hz24000).expect("dec");
    let t0 = Instant::now();
    let mut heard = Vec::new();
    for k in 0..10u64 {
        let tick = down
            .poll(t0 + Duration::from_millis(20 * k))
            .expect("poll")
            .expect("due");
        assert!(!tick.payload.is_empty() && tick.payload.len() < 400);
        let mut out = [0i16; 480];
        assert_eq!(dec.decode(tick.payload, &mut out).expect("decode"), 480);
        heard.extend_from_slice(&out);
    }
    let level = 20.0 * (rms(&heard[480 * 3..]) / rms(&pcm)).log10();
    assert!(level.abs() < 3.0, "level change {level:.2} dB");
}

#[test]
fn downlink_rejects_malformed_deltas_and_keeps_going() {
    let mut down = Downlink::new(Codec::Pcmu, AudioFormat::Pcm16).expect("downlink");
    assert!(
        down.push_delta(
            ItemTag(1),
            "{\"type\":\"response.output_audio.delta\",\"delta\":\"!!\"}"
        )
        .is_err()
    );
    assert!(down.push_delta(ItemTag(1), "not json").is_err());
    down.push_delta(ItemTag(1), &delta_event(&[0u8; 960]))
        .expect("valid delta");
    assert_eq!(down.queued_frames(), 1);
}

#[test]
fn telephone_event_frames_play_as_silence_not_errors() {
    let pt = tenex_media::rtp::PayloadType::new(101).expect("pt");
    let mut up = Uplink::new(Codec::Pcmu, AudioFormat::Pcm16)
        .expect("uplink")
        .with_event_payload_type(Some(pt));
    let event = Playout::Frame {
        payload: &[1, 0x0A, 0, 160],
        payload_type: pt,
        seq: SeqNo(1),
        timestamp: RtpTimestamp(0),
        marker: true,
    };
    let pcm = samples(&append_audio(
        up.process(event).expect("event").expect("text"),
    ));
    assert_eq!(pcm.len(), 480);
    assert!(pcm.iter().all(|&s| s == 0));
}
