//! Exact-outcome scenarios for the detector (and the generator feeding it).

use std::time::Duration;

use super::*;
use crate::rtp::{RtpTimestamp, SeqNo};

type Pkt = (u16, u32, bool, [u8; 4]);

fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
    let mut b = [0; 4];
    EventPayload {
        event,
        end,
        volume: 10,
        duration,
    }
    .encode(&mut b);
    b
}

/// The 7 packets of a 100 ms press at 8 kHz: 4 updates, 3 end copies.
fn press(event: u8, seq0: u16, ts: u32, marker: bool) -> Vec<Pkt> {
    let mut v = Vec::new();
    for k in 1..=7u16 {
        let end = k >= 5;
        let dur = 160 * k.min(5);
        v.push((
            seq0.wrapping_add(k - 1),
            ts,
            marker && k == 1,
            ev(event, end, dur),
        ));
    }
    v
}

fn run(det: &mut DtmfDetector, pkts: &[Pkt]) -> Vec<DtmfOutcome> {
    pkts.iter()
        .map(|&(seq, ts, m, p)| det.handle_packet(SeqNo(seq), RtpTimestamp(ts), m, &p))
        .collect()
}

fn presses(outs: &[DtmfOutcome]) -> Vec<(char, u32)> {
    outs.iter()
        .filter_map(|o| match o {
            DtmfOutcome::Pressed(e) => Some((e.digit.to_char(), e.timestamp.0)),
            _ => None,
        })
        .collect()
}

fn ends(outs: &[DtmfOutcome]) -> Vec<(char, u32, u32)> {
    outs.iter()
        .filter_map(|o| match o {
            DtmfOutcome::Ended(e) => Some((e.digit.to_char(), e.timestamp.0, e.duration)),
            _ => None,
        })
        .collect()
}

use DtmfOutcome::{Continued, Stale};

#[test]
fn normal_event_with_three_end_packets() {
    let outs = run(&mut DtmfDetector::new(), &press(1, 100, 5000, true));
    let pressed = DtmfOutcome::Pressed(DtmfEvent {
        digit: DtmfDigit::D1,
        timestamp: RtpTimestamp(5000),
        duration: 160,
        volume: 10,
        ended: false,
    });
    let ended = DtmfOutcome::Ended(DtmfEnd {
        digit: DtmfDigit::D1,
        timestamp: RtpTimestamp(5000),
        duration: 800,
    });
    let expect = [
        pressed, Continued, Continued, Continued, ended, Continued, Continued,
    ];
    assert_eq!(outs, expect);
}

#[test]
fn marker_omitted_gives_the_same_single_press() {
    let with = run(&mut DtmfDetector::new(), &press(11, 7, 42, true));
    let without = run(&mut DtmfDetector::new(), &press(11, 7, 42, false));
    assert_eq!(with, without);
    assert_eq!(presses(&without), vec![('#', 42)]);
}

#[test]
fn start_lost_reports_at_first_update() {
    let pkts = press(3, 10, 900, true);
    let outs = run(&mut DtmfDetector::new(), &pkts[2..]);
    assert!(matches!(outs[0], DtmfOutcome::Pressed(e) if e.duration == 480 && !e.ended));
    assert_eq!(presses(&outs), vec![('3', 900)]);
    assert_eq!(ends(&outs), vec![('3', 900, 800)]);
}

#[test]
fn only_end_packets_arrive() {
    let pkts = press(12, 10, 900, true);
    let outs = run(&mut DtmfDetector::new(), &pkts[4..]);
    let first = DtmfEvent {
        digit: DtmfDigit::A,
        timestamp: RtpTimestamp(900),
        duration: 800,
        volume: 10,
        ended: true,
    };
    assert_eq!(
        outs,
        vec![DtmfOutcome::Pressed(first), Continued, Continued]
    );
}

#[test]
fn same_digit_twice_back_to_back_is_two_presses() {
    let mut pkts = press(5, 0, 1000, true);
    pkts.extend(press(5, 7, 1000 + 800 + 400, false));
    let outs = run(&mut DtmfDetector::new(), &pkts);
    assert_eq!(presses(&outs), vec![('5', 1000), ('5', 2200)]);
    assert_eq!(ends(&outs).len(), 2);

    // Even when every end packet of the first press is lost.
    let mut lossy = press(5, 0, 1000, true)[..4].to_vec();
    lossy.extend(press(5, 7, 2200, true));
    assert_eq!(
        presses(&run(&mut DtmfDetector::new(), &lossy)),
        vec![('5', 1000), ('5', 2200)]
    );
}

#[test]
fn reordered_packets_within_and_across_events() {
    let a = press(7, 100, 8000, true);
    let b = press(8, 107, 9600, true);
    // Within A: 1,0,3,2,5,4,6. Across: B's first packet overtakes A's last copy.
    let order = [1, 0, 3, 2, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13];
    let all: Vec<Pkt> = a.iter().chain(b.iter()).copied().collect();
    let pkts: Vec<Pkt> = order.iter().map(|&i| all[i]).collect();
    let outs = run(&mut DtmfDetector::new(), &pkts);
    assert_eq!(presses(&outs), vec![('7', 8000), ('8', 9600)]);
    assert_eq!(ends(&outs), vec![('7', 8000, 800), ('8', 9600, 800)]);
    assert_eq!(outs[1], Stale); // seq 100 after 101
    assert_eq!(outs[7], Stale); // A's end copy after B started
}

#[test]
fn timestamp_and_sequence_wrap() {
    let ts1 = u32::MAX - 100;
    let mut pkts = press(0, 65533, ts1, true);
    pkts.extend(press(9, 4, ts1.wrapping_add(1200), true));
    pkts.push(pkts[3]); // late update of the first press
    let outs = run(&mut DtmfDetector::new(), &pkts);
    assert_eq!(presses(&outs), vec![('0', ts1), ('9', 1099)]);
    assert_eq!(outs.last(), Some(&Stale));
}

#[test]
fn sequence_going_backwards_is_ignored() {
    let mut det = DtmfDetector::new();
    let pkts = press(2, 500, 100, true);
    run(&mut det, &pkts[..4]);
    // Duplicate of the last packet, then an older update.
    assert_eq!(run(&mut det, &[pkts[3], pkts[1]]), vec![Stale, Stale]);
    // A packet of an older, never-seen event.
    assert_eq!(
        run(&mut det, &[(490, 50, true, ev(4, false, 160))]),
        vec![Stale]
    );
    let rest = run(&mut det, &pkts[4..]);
    assert_eq!(ends(&rest), vec![('2', 100, 800)]);
}

#[test]
fn key_pressed_after_many_audio_packets_is_detected() {
    let mut pkts = press(1, 0, 0, true);
    // 40 000 audio packets later: the sequence number looks "older" in serial order.
    pkts.extend(press(1, 40_000, 40_000 * 160, true));
    let outs = run(&mut DtmfDetector::new(), &pkts);
    assert_eq!(presses(&outs), vec![('1', 0), ('1', 6_400_000)]);
}

#[test]
fn other_digit_on_the_same_timestamp_is_stale() {
    let mut det = DtmfDetector::new();
    run(&mut det, &press(1, 0, 10, true)[..2]);
    assert_eq!(
        run(&mut det, &[(2, 10, false, ev(2, false, 480))]),
        vec![Stale]
    );
}

#[test]
fn non_dtmf_and_malformed_change_nothing() {
    let mut det = DtmfDetector::new();
    assert_eq!(
        det.handle_packet(SeqNo(1), RtpTimestamp(100), true, &ev(16, false, 160)),
        DtmfOutcome::NotDtmf(16)
    );
    assert_eq!(
        det.handle_packet(SeqNo(2), RtpTimestamp(200), true, &[1, 2]),
        DtmfOutcome::Malformed(DtmfError::Truncated(2))
    );
    let outs = run(&mut det, &press(6, 3, 50, true));
    assert_eq!(presses(&outs), vec![('6', 50)]);
}

#[test]
fn reset_forgets_the_stream() {
    let mut det = DtmfDetector::new();
    run(&mut det, &press(1, 0, 100_000, true));
    // New SSRC with a lower timestamp: stale until reset.
    assert_eq!(presses(&run(&mut det, &press(2, 9, 10, true))), vec![]);
    det.reset();
    assert_eq!(
        presses(&run(&mut det, &press(2, 9, 10, true))),
        vec![('2', 10)]
    );
}

fn generated(tone: &DtmfTone, ts: u32, seq0: u16) -> Vec<Pkt> {
    let mut g = DtmfGenerator::new(tone, RtpTimestamp(ts)).expect("tone");
    let mut out = [0u8; 4];
    let mut v = Vec::new();
    let mut seq = seq0;
    while let Some(p) = g.poll_packet(&mut out) {
        v.push((seq, p.timestamp.0, p.marker, out));
        seq = seq.wrapping_add(1);
    }
    v
}

#[test]
fn long_event_segments_are_one_press() {
    for rate in [8000, 48_000] {
        let tone = DtmfTone {
            clock_rate: rate,
            duration: Duration::from_secs(20),
            ..DtmfTone::new(DtmfDigit::B)
        };
        let ts = u32::MAX - 5000;
        let pkts = generated(&tone, ts, 65000);
        let outs = run(&mut DtmfDetector::new(), &pkts);
        assert_eq!(presses(&outs), vec![('B', ts)], "rate {rate}");
        assert_eq!(ends(&outs), vec![('B', ts, 20 * rate)], "rate {rate}");
        assert!(!outs.contains(&Stale));

        // The packet just before each segment boundary lost: still one press.
        let seg_starts: Vec<usize> = (1..pkts.len())
            .filter(|&i| pkts[i].1 != pkts[i - 1].1)
            .collect();
        assert!(!seg_starts.is_empty());
        let lossy: Vec<Pkt> = (0..pkts.len())
            .filter(|i| !seg_starts.contains(&(i + 1)))
            .map(|i| pkts[i])
            .collect();
        assert_eq!(
            presses(&run(&mut DtmfDetector::new(), &lossy)).len(),
            1,
            "rate {rate}"
        );
    }
}

#[test]
fn segment_rule_does_not_swallow_a_new_press() {
    // A short press whose end packets were lost, then the same key 0xFFFF ticks later.
    let mut pkts = press(4, 0, 0, true)[..3].to_vec();
    pkts.extend(press(4, 500, 0xFFFF, true));
    assert_eq!(presses(&run(&mut DtmfDetector::new(), &pkts)).len(), 2);
    // A saturated segment followed by a marked packet: the marker means a new event.
    let mut det = DtmfDetector::new();
    run(&mut det, &[(1, 0, true, ev(4, false, 0xFF00))]);
    let outs = run(&mut det, &[(2, 0xFFFF, true, ev(4, false, 160))]);
    assert_eq!(presses(&outs), vec![('4', 0xFFFF)]);
}
