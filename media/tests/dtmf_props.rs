//! RFC 4733 end to end: generator → RtpSender → RtpPacket::parse → detector,
//! plus properties over random input, and a per-packet allocation check.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::time::Duration;

use proptest::prelude::*;
use tenex_media::dtmf::{DtmfDetector, DtmfDigit, DtmfGenerator, DtmfOutcome, DtmfTone};
use tenex_media::rtp::{PayloadType, RtpPacket, RtpSender, RtpTimestamp, SeqNo, Ssrc};

/// Counts allocations made by the current thread (tests run on several threads).
struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only bumps a thread-local counter.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCS.with(Cell::get)
}

const PT_EVENT: u8 = 101;

/// Packets (wire bytes) of one tone sent through a real `RtpSender`.
fn send_tone(sender: &mut RtpSender, tone: &DtmfTone) -> Vec<Vec<u8>> {
    let pt = PayloadType::new(PT_EVENT).expect("pt");
    let mut g = DtmfGenerator::new(tone, sender.next_timestamp()).expect("tone");
    let interval = tone.clock_rate / 50;
    let mut payload = [0u8; 4];
    let mut wire = Vec::new();
    while let Some(p) = g.poll_packet(&mut payload) {
        let mut out = [0u8; 64];
        let n = sender
            .write_at(pt, p.marker, p.timestamp, &payload, &mut out)
            .expect("write");
        wire.push(out[..n].to_vec());
        sender.skip(interval);
    }
    wire
}

fn detect(det: &mut DtmfDetector, wire: &[Vec<u8>]) -> Vec<DtmfOutcome> {
    wire.iter()
        .map(|b| det.handle_rtp(&RtpPacket::parse(b).expect("parse")))
        .collect()
}

fn pressed(outs: &[DtmfOutcome]) -> Vec<DtmfDigit> {
    outs.iter()
        .filter_map(|o| match o {
            DtmfOutcome::Pressed(e) => Some(e.digit),
            _ => None,
        })
        .collect()
}

#[test]
fn every_digit_round_trips_at_8k_and_48k() {
    for rate in [8000u32, 48_000] {
        let mut sender = RtpSender::new(Ssrc(7), SeqNo(65530), RtpTimestamp(u32::MAX - 3000));
        let mut det = DtmfDetector::new();
        let mut got = Vec::new();
        let mut durations = Vec::new();
        for digit in DtmfDigit::ALL {
            let tone = DtmfTone {
                clock_rate: rate,
                ..DtmfTone::new(digit)
            };
            let outs = detect(&mut det, &send_tone(&mut sender, &tone));
            assert_eq!(outs.len(), 7);
            got.extend(pressed(&outs));
            for o in outs {
                if let DtmfOutcome::Ended(e) = o {
                    durations.push(e.duration);
                }
            }
            sender.skip(rate / 20); // 50 ms inter-digit gap
        }
        assert_eq!(got, DtmfDigit::ALL.to_vec(), "rate {rate}");
        assert_eq!(durations, vec![rate / 10; 16], "rate {rate}");
    }
}

#[test]
fn detector_and_generator_do_not_allocate_per_packet() {
    let mut det = DtmfDetector::new();
    let tone = DtmfTone {
        duration: Duration::from_secs(3),
        clock_rate: 48_000,
        ..DtmfTone::new(DtmfDigit::D7)
    };
    // The counter works: a heap allocation on this thread is seen.
    let probe = allocations();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(8)));
    assert_eq!(allocations() - probe, 1);

    let before = allocations();
    let mut g = DtmfGenerator::new(&tone, RtpTimestamp(1)).expect("tone");
    let mut payload = [0u8; 4];
    let mut seq = SeqNo(0);
    let mut presses = 0;
    while let Some(p) = g.poll_packet(&mut payload) {
        if let DtmfOutcome::Pressed(_) = det.handle_packet(seq, p.timestamp, p.marker, &payload) {
            presses += 1;
        }
        seq = seq.next();
    }
    assert_eq!(allocations() - before, 0);
    assert_eq!(presses, 1);
}

fn any_outcome_packet() -> impl Strategy<Value = (u16, u32, bool, Vec<u8>)> {
    (
        any::<u16>(),
        // Timestamps within a 2^20 window straddling the 32-bit wrap.
        (0u32..1 << 20).prop_map(|t| t.wrapping_sub(1 << 19)),
        any::<bool>(),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..8),
            // Mostly-valid DTMF blocks from a few digits and small durations.
            (0u8..18, any::<bool>(), 0u16..2000).prop_map(|(e, end, d)| vec![
                e,
                u8::from(end) << 7,
                (d >> 8) as u8,
                d as u8
            ]),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_packets_never_panic_nor_over_report(
        pkts in proptest::collection::vec(any_outcome_packet(), 0..200)
    ) {
        let mut det = DtmfDetector::new();
        let mut reported = Vec::new();
        for (seq, ts, marker, payload) in &pkts {
            if let DtmfOutcome::Pressed(e) =
                det.handle_packet(SeqNo(*seq), RtpTimestamp(*ts), *marker, payload)
            {
                reported.push(e.timestamp.0);
            }
        }
        let distinct: HashSet<u32> = pkts.iter().map(|p| p.1).collect();
        prop_assert!(reported.len() <= distinct.len());
        let unique: HashSet<u32> = reported.iter().copied().collect();
        prop_assert_eq!(unique.len(), reported.len(), "a timestamp was reported twice");
    }

    #[test]
    fn fully_random_input_never_panics(
        pkts in proptest::collection::vec(
            (any::<u16>(), any::<u32>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..12)),
            0..100,
        )
    ) {
        let mut det = DtmfDetector::new();
        let mut n = 0;
        for (seq, ts, marker, payload) in &pkts {
            if let DtmfOutcome::Pressed(_) =
                det.handle_packet(SeqNo(*seq), RtpTimestamp(*ts), *marker, payload)
            {
                n += 1;
            }
        }
        prop_assert!(n <= pkts.len());
    }

    /// Any digit string survives loss (≥ 1 packet kept per press) and reordering
    /// inside a press: exactly the typed digits come out, in order.
    #[test]
    fn digit_strings_survive_loss_and_reorder(
        digits in proptest::collection::vec(0usize..16, 1..12),
        rate in prop_oneof![Just(8000u32), Just(48_000)],
        ms in proptest::collection::vec(40u64..500, 12),
        gaps in proptest::collection::vec(40u32..300, 12),
        keep in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 64), 12),
        swaps in proptest::collection::vec(any::<u8>(), 12),
        first_ts in any::<u32>(),
        first_seq in any::<u16>(),
    ) {
        let mut sender = RtpSender::new(Ssrc(1), SeqNo(first_seq), RtpTimestamp(first_ts));
        let mut det = DtmfDetector::new();
        let mut got = Vec::new();
        for (i, &d) in digits.iter().enumerate() {
            let tone = DtmfTone {
                clock_rate: rate,
                duration: Duration::from_millis(ms[i]),
                ..DtmfTone::new(DtmfDigit::ALL[d])
            };
            let wire = send_tone(&mut sender, &tone);
            let mut kept: Vec<&Vec<u8>> =
                wire.iter().enumerate().filter(|(j, _)| keep[i][*j % 64]).map(|(_, w)| w).collect();
            if kept.is_empty() {
                kept.push(&wire[wire.len() - 1]);
            }
            if kept.len() > 1 {
                let s = swaps[i] as usize % (kept.len() - 1);
                kept.swap(s, s + 1);
            }
            for w in kept {
                got.extend(pressed(&[det.handle_rtp(&RtpPacket::parse(w).expect("parse"))]));
            }
            sender.skip(gaps[i] * rate / 1000);
        }
        let want: Vec<DtmfDigit> = digits.iter().map(|&d| DtmfDigit::ALL[d]).collect();
        prop_assert_eq!(got, want);
    }
}
