//! Opus round trip, packet loss concealment and in-band FEC recovery.

use tenex_media::SampleRate;
use tenex_media::opus::{MAX_PACKET, OpusDecoder, OpusEncoder, OpusSettings};

const RATE: SampleRate = SampleRate::Hz48000;
const FRAME: usize = 960;

/// A voiced, speech-like signal: a 140 Hz fundamental with decaying harmonics and a
/// slow amplitude envelope, so the encoder uses its speech (SILK) layer.
fn voiced(frames: usize) -> Vec<i16> {
    (0..frames * FRAME)
        .map(|n| {
            let t = n as f64 / 48_000.0;
            let env = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            let mut s = 0.0;
            for h in 1..=12 {
                let f = 140.0 * h as f64;
                s += (2.0 * std::f64::consts::PI * f * t).sin() / h as f64;
            }
            (6000.0 * env * s).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

fn encode_all(pcm: &[i16], settings: OpusSettings) -> Vec<Vec<u8>> {
    let mut enc = OpusEncoder::new(RATE, settings).expect("encoder");
    let mut buf = [0u8; MAX_PACKET];
    pcm.chunks_exact(FRAME)
        .map(|f| {
            let n = enc.encode(f, &mut buf).expect("encode");
            buf[..n].to_vec()
        })
        .collect()
}

fn energy(x: &[i16]) -> f64 {
    x.iter().map(|&s| f64::from(s).powi(2)).sum()
}

/// SNR of `got` against `want` in dB.
fn snr(want: &[i16], got: &[i16]) -> f64 {
    let noise: f64 = want
        .iter()
        .zip(got)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    10.0 * (energy(want) / noise.max(1.0)).log10()
}

/// Decodes every packet; returns the output stream.
fn decode_stream(packets: &[Vec<u8>], lost: Option<usize>, fec: bool) -> Vec<i16> {
    let mut dec = OpusDecoder::new(RATE).expect("decoder");
    let mut out = vec![0i16; packets.len() * FRAME];
    for (i, p) in packets.iter().enumerate() {
        let frame = &mut out[i * FRAME..(i + 1) * FRAME];
        let n = if Some(i) == lost {
            if fec {
                dec.decode_fec(&packets[i + 1], frame).expect("fec")
            } else {
                dec.conceal(frame).expect("plc")
            }
        } else {
            dec.decode(p, frame).expect("decode")
        };
        assert_eq!(n, FRAME);
    }
    out
}

#[test]
fn round_trip_preserves_the_signal() {
    let pcm = voiced(50);
    let packets = encode_all(&pcm, OpusSettings::default());
    assert!(packets.iter().all(|p| !p.is_empty() && p.len() < 400));
    let clean = decode_stream(&packets, None, false);
    // The decoded stream carries real signal (energy within 3 dB of the input)...
    let ratio = 10.0 * (energy(&clean[FRAME * 5..]) / energy(&pcm[FRAME * 5..])).log10();
    assert!(ratio.abs() < 3.0, "energy ratio {ratio:.1} dB");
    // ...and at 24 kHz output the decoder gives 480 samples per 20 ms.
    let mut dec24 = OpusDecoder::new(SampleRate::Hz24000).expect("decoder");
    let mut out = [0i16; 480];
    assert_eq!(dec24.decode(&packets[0], &mut out).expect("decode"), 480);
}

#[test]
fn concealment_fills_a_lost_packet_with_continuing_signal() {
    let pcm = voiced(50);
    let packets = encode_all(&pcm, OpusSettings::default());
    let clean = decode_stream(&packets, None, false);
    let lost = 30;
    let plc = decode_stream(&packets, Some(lost), false);
    let frame = |x: &[i16]| x[lost * FRAME..(lost + 1) * FRAME].to_vec();
    // Concealment is not silence: its energy is within 6 dB of the real frame.
    let e = 10.0 * (energy(&frame(&plc)) / energy(&frame(&clean))).log10();
    assert!(e.abs() < 6.0, "PLC frame energy {e:.1} dB off");
    // Frames before the loss are untouched.
    assert_eq!(&plc[..lost * FRAME], &clean[..lost * FRAME]);
}

#[test]
fn inband_fec_recovers_a_lost_packet_better_than_concealment() {
    // The product's default settings: 32 kbit/s, FEC on, 10% expected loss. libopus
    // decides per frame whether to spend bits on FEC, so judge over every position.
    let pcm = voiced(60);
    let packets = encode_all(&pcm, OpusSettings::default());
    let clean = decode_stream(&packets, None, false);
    let (mut better, mut gain_sum) = (0, 0.0);
    let positions = 5..58usize;
    for lost in positions.clone() {
        let fec = decode_stream(&packets, Some(lost), true);
        let plc = decode_stream(&packets, Some(lost), false);
        let span = lost * FRAME..(lost + 1) * FRAME;
        let s_fec = snr(&clean[span.clone()], &fec[span.clone()]);
        let s_plc = snr(&clean[span.clone()], &plc[span]);
        assert!(
            s_fec >= s_plc - 1.0,
            "FEC worse than PLC at {lost}: {s_fec:.1} vs {s_plc:.1} dB"
        );
        if s_fec > s_plc + 1.0 {
            better += 1;
        }
        gain_sum += s_fec - s_plc;
    }
    let n = positions.len();
    assert!(
        better * 2 >= n,
        "FEC beat PLC at only {better} of {n} positions"
    );
    let mean_gain = gain_sum / n as f64;
    assert!(mean_gain >= 3.0, "mean FEC gain {mean_gain:.1} dB");
}

#[test]
fn fec_without_fec_data_falls_back_to_concealment() {
    let settings = OpusSettings {
        inband_fec: false,
        expected_loss_percent: 0,
        ..OpusSettings::default()
    };
    let pcm = voiced(40);
    let packets = encode_all(&pcm, settings);
    let lost = 25;
    let fec = decode_stream(&packets, Some(lost), true);
    let plc = decode_stream(&packets, Some(lost), false);
    assert_eq!(fec[..(lost + 1) * FRAME], plc[..(lost + 1) * FRAME]);
}
