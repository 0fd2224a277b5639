//! Jitter buffer scenarios on a simulated clock: a sender emits one packet every
//! 20 ms, a seeded network delays, drops, duplicates and reorders them, and the
//! receiver pops once per 20 ms tick. Every assertion is on exact counts.

use std::time::{Duration, Instant};

use tenex_media::jitter::{JitterBuffer, JitterConfig, Playout, PushOutcome};
use tenex_media::rtp::{PayloadType, RtpPacket, RtpSender, RtpTimestamp, SeqNo, Ssrc};

/// xorshift64*: a tiny deterministic generator so scenarios replay exactly.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone)]
struct Arrival {
    at_us: u64,
    bytes: Vec<u8>,
    index: u32,
}

/// Network behaviour for one scenario.
struct Net {
    base_delay_ms: u64,
    jitter_ms: u64,
    loss: f64,
    duplicate_every: Option<u32>,
    seed: u64,
    first_seq: u16,
    first_ts: u32,
}

impl Default for Net {
    fn default() -> Net {
        Net {
            base_delay_ms: 30,
            jitter_ms: 0,
            loss: 0.0,
            duplicate_every: None,
            seed: 42,
            first_seq: 1000,
            first_ts: 5000,
        }
    }
}

/// Packet `i`'s payload starts with `i` (u16 LE) so playout order is visible.
fn transmit(net: &Net, packets: u32) -> (Vec<Arrival>, Vec<u32>) {
    let mut rng = Rng(net.seed);
    let mut tx = RtpSender::new(Ssrc(9), SeqNo(net.first_seq), RtpTimestamp(net.first_ts));
    let mut arrivals = Vec::new();
    let mut dropped = Vec::new();
    for i in 0..packets {
        let mut wire = [0u8; 200];
        let mut payload = [0u8; 160];
        payload[..2].copy_from_slice(&(i as u16).to_le_bytes());
        let n = tx
            .write_media(PayloadType::PCMU, i == 0, &payload, 160, &mut wire)
            .expect("write");
        let jitter_us = (rng.unit() * net.jitter_ms as f64 * 1000.0) as u64;
        let lose = rng.unit() < net.loss;
        if lose {
            dropped.push(i);
            continue;
        }
        let at_us = u64::from(i) * 20_000 + net.base_delay_ms * 1000 + jitter_us;
        arrivals.push(Arrival {
            at_us,
            bytes: wire[..n].to_vec(),
            index: i,
        });
        if net.duplicate_every.is_some_and(|k| i % k == k - 1) {
            arrivals.push(Arrival {
                at_us: at_us + 3_000,
                bytes: wire[..n].to_vec(),
                index: i,
            });
        }
    }
    arrivals.sort_by_key(|a| a.at_us);
    (arrivals, dropped)
}

#[derive(Debug, Default, PartialEq)]
struct Heard {
    /// Packet indexes played, in order.
    played: Vec<u32>,
    /// Ticks concealed as a loss at a known sequence number (and whether FEC was offered).
    lost: Vec<(u16, bool)>,
    underruns: u32,
    waiting: u32,
}

/// Runs the receiver: pushes every arrival at its time, pops every 20 ms from
/// `start_ms` for `ticks` ticks.
fn receive(
    jb: &mut JitterBuffer,
    arrivals: &[Arrival],
    start_ms: u64,
    ticks: u32,
) -> (Heard, Vec<PushOutcome>) {
    let t0 = Instant::now();
    let mut heard = Heard::default();
    let mut outcomes = Vec::new();
    let mut next = 0;
    for tick in 0..ticks {
        let now_us = start_ms * 1000 + u64::from(tick) * 20_000;
        while next < arrivals.len() && arrivals[next].at_us <= now_us {
            let a = &arrivals[next];
            let pkt = RtpPacket::parse(&a.bytes).expect("parse");
            outcomes.push(jb.push(t0 + Duration::from_micros(a.at_us), &pkt));
            next += 1;
        }
        match jb.pop(t0 + Duration::from_micros(now_us)) {
            Playout::Frame { payload, .. } => heard
                .played
                .push(u32::from(u16::from_le_bytes([payload[0], payload[1]]))),
            Playout::Lost {
                seq: Some(seq),
                fec_source,
            } => heard.lost.push((seq.0, fec_source.is_some())),
            Playout::Lost { seq: None, .. } => heard.underruns += 1,
            Playout::Waiting => heard.waiting += 1,
        }
    }
    (heard, outcomes)
}

fn strictly_increasing(v: &[u32]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn clean_network_plays_every_frame_in_order() {
    let net = Net::default();
    let (arrivals, _) = transmit(&net, 200);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let (heard, outcomes) = receive(&mut jb, &arrivals, 0, 240);
    assert!(outcomes.iter().all(|o| *o == PushOutcome::Accepted));
    // With zero jitter the target settles at the 20 ms minimum: the 40 ms start depth
    // is trimmed once, discarding exactly one early frame.
    let s = jb.stats();
    assert_eq!(s.discarded, 1);
    assert_eq!(heard.played.len(), 199);
    assert!(strictly_increasing(&heard.played));
    // The only underruns are the three ticks after the stream ends (up to the 60 ms
    // maximum depth), after which the buffer waits.
    assert_eq!(
        (s.lost, s.late, s.duplicates, s.reordered, s.underruns),
        (0, 0, 0, 0, 3)
    );
    assert_eq!(s.received, 200);
    assert_eq!(jb.target_depth_ms(), 20);
    assert_eq!(s.expected(), 200);
}

#[test]
fn seeded_loss_is_counted_exactly_and_concealed_in_place() {
    let net = Net {
        loss: 0.05,
        seed: 7,
        ..Net::default()
    };
    let (arrivals, dropped) = transmit(&net, 500);
    assert!(
        dropped.len() > 10,
        "scenario drops {} packets",
        dropped.len()
    );
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let (heard, _) = receive(&mut jb, &arrivals, 0, 560);
    let s = jb.stats();
    // Every dropped packet that was not the very last became exactly one loss.
    let interior: Vec<u32> = dropped.iter().copied().filter(|&i| i < 499).collect();
    assert_eq!(s.lost as usize, interior.len());
    let lost_seqs: Vec<u16> = heard.lost.iter().map(|(seq, _)| *seq).collect();
    let want: Vec<u16> = interior
        .iter()
        .map(|&i| net.first_seq.wrapping_add(i as u16))
        .collect();
    assert_eq!(lost_seqs, want);
    // The packet after a single loss is already buffered: FEC is offered.
    for ((seq, fec), idx) in heard.lost.iter().zip(&interior) {
        let next_dropped = dropped.contains(&(idx + 1));
        assert_eq!(*fec, !next_dropped, "seq {seq}");
    }
    assert_eq!(s.expected() - s.received, s.cumulative_lost() as u64);
    assert!(strictly_increasing(&heard.played));
    // Every packet is accounted for exactly once: played, concealed as lost, or
    // discarded (a dropped final packet is never known to have existed).
    let known = if dropped.contains(&499) { 499 } else { 500 };
    assert_eq!(
        heard.played.len() + interior.len() + s.discarded as usize,
        known
    );
}

#[test]
fn reordering_within_the_window_is_repaired() {
    // Swap every 10th packet with its successor by delaying it 25 ms.
    let net = Net::default();
    let (mut arrivals, _) = transmit(&net, 100);
    for a in arrivals.iter_mut() {
        if a.index % 10 == 3 {
            a.at_us += 25_000;
        }
    }
    arrivals.sort_by_key(|a| a.at_us);
    let mut jb = JitterBuffer::new(JitterConfig {
        start_depth_ms: 60,
        ..JitterConfig::default()
    });
    let (heard, _) = receive(&mut jb, &arrivals, 0, 140);
    let s = jb.stats();
    assert_eq!(s.reordered, 10);
    assert_eq!((s.lost, s.late), (0, 0));
    assert!(strictly_increasing(&heard.played));
    assert_eq!(heard.played.len() as u64 + s.discarded, 100);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let net = Net {
        duplicate_every: Some(10),
        ..Net::default()
    };
    let (arrivals, _) = transmit(&net, 100);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let (heard, outcomes) = receive(&mut jb, &arrivals, 0, 130);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == PushOutcome::Duplicate)
            .count(),
        10
    );
    assert_eq!(jb.stats().duplicates, 10);
    assert_eq!(jb.stats().received, 100);
    assert!(strictly_increasing(&heard.played));
}

#[test]
fn a_packet_past_its_playout_time_is_late_not_played() {
    let net = Net::default();
    let (mut arrivals, _) = transmit(&net, 100);
    let victim = arrivals
        .iter_mut()
        .find(|a| a.index == 50)
        .expect("packet 50");
    victim.at_us += 300_000;
    arrivals.sort_by_key(|a| a.at_us);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let (heard, outcomes) = receive(&mut jb, &arrivals, 0, 130);
    assert_eq!(
        outcomes.iter().filter(|o| **o == PushOutcome::Late).count(),
        1
    );
    let s = jb.stats();
    assert_eq!((s.late, s.lost), (1, 1));
    assert_eq!(heard.lost, vec![(net.first_seq + 50, true)]);
    assert!(!heard.played.contains(&50));
}

#[test]
fn rfc3550_jitter_estimate_matches_an_independent_computation() {
    let net = Net {
        jitter_ms: 30,
        seed: 11,
        ..Net::default()
    };
    let (arrivals, _) = transmit(&net, 300);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let t0 = Instant::now();
    let mut j = 0.0f64;
    let mut last_transit: Option<f64> = None;
    let first_at = arrivals[0].at_us as f64;
    for a in &arrivals {
        let pkt = RtpPacket::parse(&a.bytes).expect("parse");
        jb.push(t0 + Duration::from_micros(a.at_us), &pkt);
        let arrival_units = (a.at_us as f64 - first_at) * 8000.0 / 1e6;
        let transit = arrival_units - f64::from(pkt.timestamp.0);
        if let Some(l) = last_transit {
            j += ((transit - l).abs() - j) / 16.0;
        }
        last_transit = Some(transit);
    }
    let ours = f64::from(jb.jitter_ts());
    assert!((ours - j).abs() <= 2.0, "ours {ours} vs reference {j:.1}");
    assert!(j > 40.0, "the scenario has real jitter ({j:.1} ts units)");
}

#[test]
fn depth_adapts_up_to_the_maximum_under_heavy_jitter_and_no_further() {
    let net = Net {
        jitter_ms: 70,
        seed: 3,
        ..Net::default()
    };
    let (arrivals, _) = transmit(&net, 600);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let t0 = Instant::now();
    let mut next = 0;
    let mut max_depth = 0;
    for tick in 0..700u64 {
        let now_us = tick * 20_000;
        while next < arrivals.len() && arrivals[next].at_us <= now_us {
            let pkt = RtpPacket::parse(&arrivals[next].bytes).expect("parse");
            jb.push(t0 + Duration::from_micros(arrivals[next].at_us), &pkt);
            next += 1;
        }
        let _ = jb.pop(t0 + Duration::from_micros(now_us));
        if tick > 50 {
            assert!((20..=60).contains(&jb.target_depth_ms()));
            max_depth = max_depth.max(jb.target_depth_ms());
        }
    }
    assert_eq!(
        max_depth, 60,
        "heavy jitter drives the target to the maximum"
    );
    assert!(jb.stats().underruns > 0 || jb.stats().late > 0);
}

#[test]
fn low_jitter_keeps_the_target_at_the_minimum() {
    let net = Net {
        jitter_ms: 3,
        seed: 5,
        ..Net::default()
    };
    let (arrivals, _) = transmit(&net, 300);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let (heard, _) = receive(&mut jb, &arrivals, 5, 320);
    assert_eq!(jb.target_depth_ms(), 20);
    assert!(strictly_increasing(&heard.played));
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn sequence_and_timestamp_wrap_are_seamless() {
    let net = Net {
        first_seq: 65_500,
        first_ts: u32::MAX - 3_000,
        ..Net::default()
    };
    let (arrivals, _) = transmit(&net, 200);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let (heard, outcomes) = receive(&mut jb, &arrivals, 0, 240);
    assert!(outcomes.iter().all(|o| *o == PushOutcome::Accepted));
    assert_eq!(heard.played.len() as u64 + jb.stats().discarded, 200);
    assert!(strictly_increasing(&heard.played));
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn a_long_gap_returns_to_waiting_and_resumes() {
    // 100 packets, a 2 s pause (hold), then 100 more with continuing sequence numbers.
    let net = Net::default();
    let (mut arrivals, _) = transmit(&net, 200);
    for a in arrivals.iter_mut() {
        if a.index >= 100 {
            a.at_us += 2_000_000;
        }
    }
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let (heard, _) = receive(&mut jb, &arrivals, 0, 360);
    let s = jb.stats();
    // Three ticks of concealment (up to the max depth) at the pause and again at the
    // end of the stream; waiting in between.
    assert_eq!(s.underruns, 6);
    assert_eq!(
        jb.target_depth_ms(),
        20,
        "a pause does not deepen the buffer"
    );
    assert!(heard.waiting > 90);
    assert_eq!(s.lost, 0);
    assert_eq!(heard.played.len() as u64 + s.discarded, 200);
    assert!(strictly_increasing(&heard.played));
}

#[test]
fn a_new_ssrc_restarts_the_stream() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut wire = [0u8; 200];
    let mut a = RtpSender::new(Ssrc(1), SeqNo(10), RtpTimestamp(0));
    let mut b = RtpSender::new(Ssrc(2), SeqNo(40_000), RtpTimestamp(77));
    for i in 0..5u64 {
        let n = a
            .write_media(PayloadType::PCMU, false, &[1; 160], 160, &mut wire)
            .expect("w");
        jb.push(
            t0 + Duration::from_millis(20 * i),
            &RtpPacket::parse(&wire[..n]).expect("p"),
        );
    }
    let n = b
        .write_media(PayloadType::PCMU, true, &[2; 160], 160, &mut wire)
        .expect("w");
    let out = jb.push(
        t0 + Duration::from_millis(100),
        &RtpPacket::parse(&wire[..n]).expect("p"),
    );
    assert_eq!(out, PushOutcome::Restarted);
    assert_eq!(jb.ssrc(), Some(Ssrc(2)));
    assert_eq!(jb.stats().resets, 1);
    assert_eq!(jb.stats().received, 1);
}

#[test]
fn oversized_payloads_are_rejected() {
    let mut jb = JitterBuffer::new(JitterConfig {
        max_payload: 100,
        ..JitterConfig::default()
    });
    let mut wire = [0u8; 400];
    let mut tx = RtpSender::new(Ssrc(1), SeqNo(1), RtpTimestamp(0));
    let n = tx
        .write_media(PayloadType::PCMU, false, &[0; 160], 160, &mut wire)
        .expect("w");
    assert_eq!(
        jb.push(Instant::now(), &RtpPacket::parse(&wire[..n]).expect("p")),
        PushOutcome::TooLarge
    );
    assert_eq!(jb.stats().rejected, 1);
    assert_eq!(jb.stats().received, 0);
}

#[test]
fn a_packet_late_by_less_than_the_max_depth_is_played_and_deepens_the_buffer() {
    // Packets arrive 10 ms before their tick. Packet 120 (after warm-up, depth at
    // the 20 ms minimum) is held up 25 ms: its tick finds the buffer empty.
    let net = Net::default();
    let (mut arrivals, _) = transmit(&net, 200);
    let victim = arrivals
        .iter_mut()
        .find(|a| a.index == 120)
        .expect("packet 120");
    victim.at_us += 25_000;
    arrivals.sort_by_key(|a| a.at_us);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let t0 = Instant::now();
    let mut next = 0;
    let mut played = Vec::new();
    let mut underrun_at = None;
    let mut target_before = 0;
    for tick in 0..240u32 {
        let now_us = u64::from(tick) * 20_000;
        while next < arrivals.len() && arrivals[next].at_us <= now_us {
            let pkt = RtpPacket::parse(&arrivals[next].bytes).expect("parse");
            assert_ne!(
                jb.push(t0 + Duration::from_micros(arrivals[next].at_us), &pkt),
                PushOutcome::Late
            );
            next += 1;
        }
        if tick == 120 {
            target_before = jb.target_depth_ms();
        }
        match jb.pop(t0 + Duration::from_micros(now_us)) {
            Playout::Frame { payload, .. } => {
                played.push(u16::from_le_bytes([payload[0], payload[1]]))
            }
            Playout::Lost { seq: None, .. } if underrun_at.is_none() => underrun_at = Some(tick),
            _ => {}
        }
    }
    assert_eq!(target_before, 20);
    assert!(
        underrun_at.is_some_and(|t| t < 200),
        "one underrun mid-stream"
    );
    assert!(
        played.contains(&120),
        "the late packet was played, not dropped"
    );
    assert!(played.windows(2).all(|w| w[0] < w[1]));
    let s = jb.stats();
    assert_eq!((s.late, s.lost), (0, 0));
    assert!(jb.target_depth_ms() >= 40, "lateness deepened the buffer");
}

#[test]
fn telephone_events_are_buffered_in_sequence_but_kept_out_of_the_jitter_estimate() {
    // 100 packets at 20 ms; packets 40..50 are one RFC 4733 event: same sequence
    // space, one fixed timestamp (the event start).
    let event_pt = PayloadType::new(101).expect("pt");
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig {
        event_payload_type: Some(event_pt),
        ..JitterConfig::default()
    });
    let mut tx = RtpSender::new(Ssrc(5), SeqNo(100), RtpTimestamp(0));
    let mut wire = [0u8; 200];
    let mut played = Vec::new();
    for i in 0..110u64 {
        let now = t0 + Duration::from_millis(20 * i + 5);
        if i < 100 {
            let n = if (40..50).contains(&i) {
                tx.write_at(
                    event_pt,
                    i == 40,
                    RtpTimestamp(40 * 160),
                    &[1, 0x0A, 0, 160],
                    &mut wire,
                )
                .expect("w")
            } else {
                tx.write_media(PayloadType::PCMU, false, &[0xFF; 160], 160, &mut wire)
                    .expect("w")
            };
            if (40..50).contains(&i) {
                tx.skip(160); // the audio clock keeps moving across the event
            }
            assert_eq!(
                jb.push(now, &RtpPacket::parse(&wire[..n]).expect("parse")),
                PushOutcome::Accepted
            );
        }
        if let Playout::Frame { payload_type, .. } = jb.pop(now) {
            played.push(payload_type.get());
        }
    }
    let s = jb.stats();
    assert_eq!((s.lost, s.late), (0, 0), "a key press is not a loss");
    assert_eq!(jb.jitter_ts(), 0, "event timestamps do not count as jitter");
    assert_eq!(played.iter().filter(|&&pt| pt == 101).count(), 10);
    assert!(played.len() as u64 + s.discarded == 100);
}
