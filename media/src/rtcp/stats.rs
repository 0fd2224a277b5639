//! Reception statistics behind a report block: loss (RFC 3550 A.3), jitter
//! (A.8), LSR/DLSR and round-trip time (§6.4.1). Fixed-size, no allocation.

use std::time::{Duration, Instant};

use super::{ReportBlock, clamp_cumulative_lost};
use crate::rtp::{RtpTimestamp, Ssrc};

/// The middle 32 bits of a 64-bit NTP timestamp (16.16 fixed-point seconds),
/// the form used by LSR and round-trip computations.
pub const fn ntp_middle32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in the 1/65536 s units of DLSR, saturating at `u32::MAX`.
pub fn dlsr_units(d: Duration) -> u32 {
    let units = d.as_nanos() * 65_536 / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// Round-trip time from a report block about our stream (RFC 3550 §6.4.1):
/// `A − LSR − DLSR`, where `A` is the NTP time at which the block arrived.
/// `None` if the block has no LSR (no SR of ours reached the peer yet) or the
/// result is negative (clock step, or a bogus block).
pub fn round_trip_time(arrival_ntp: u64, block: &ReportBlock) -> Option<Duration> {
    if block.lsr == 0 {
        return None;
    }
    let rtt = ntp_middle32(arrival_ntp)
        .wrapping_sub(block.lsr)
        .wrapping_sub(block.dlsr) as i32;
    if rtt < 0 {
        return None;
    }
    Some(Duration::from_nanos(rtt as u64 * 1_000_000_000 / 65_536))
}

/// Per-remote-source report state: loss intervals (A.3) and the last SR
/// heard from that source (for LSR/DLSR).
#[derive(Debug, Clone, Default)]
pub struct ReceptionStats {
    expected_prior: i64,
    received_prior: i64,
    last_sr: Option<(u32, Instant)>,
}

/// The loss fields of a report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossReport {
    /// Fraction lost since the previous report, in 1/256 (0 if none or negative).
    pub fraction_lost: u8,
    /// Cumulative loss, clamped to 24-bit signed; negative with duplicates.
    pub cumulative_lost: i32,
    /// Extended highest sequence number with cycles counted from the base.
    pub extended_highest_seq: u32,
}

impl ReceptionStats {
    /// No report sent yet, no SR heard.
    pub fn new() -> ReceptionStats {
        ReceptionStats::default()
    }

    /// RFC 3550 A.3 at report time. `base_ext_seq` (first packet) and
    /// `highest_ext_seq` are extended sequence numbers from the same
    /// [`crate::rtp::SeqUnwrapper`] (any bias that is a multiple of 2^16);
    /// `received` counts every packet received, duplicates and late ones
    /// included. Closes the interval: the next call reports on what follows.
    pub fn loss_report(
        &mut self,
        base_ext_seq: u64,
        highest_ext_seq: u64,
        received: u64,
    ) -> LossReport {
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let expected = (to_i64(highest_ext_seq) - to_i64(base_ext_seq))
            .saturating_add(1)
            .max(0);
        let received = to_i64(received);
        let expected_interval = expected - self.expected_prior;
        let received_interval = received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = if expected_interval <= 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval).min(255) as u8
        };
        // Cycles counted from the base's cycle, as RFC 3550 A.1 initialises them.
        let cycle_base = base_ext_seq & !0xFFFF;
        LossReport {
            fraction_lost,
            cumulative_lost: clamp_cumulative_lost(expected.saturating_sub(received)),
            extended_highest_seq: highest_ext_seq.wrapping_sub(cycle_base) as u32,
        }
    }

    /// Notes an SR from this source: its NTP time and when it arrived.
    pub fn on_sender_report(&mut self, ntp_time: u64, arrival: Instant) {
        self.last_sr = Some((ntp_middle32(ntp_time), arrival));
    }

    /// `(LSR, DLSR)` for a report sent at `now`; `(0, 0)` before any SR.
    pub fn lsr_dlsr(&self, now: Instant) -> (u32, u32) {
        match self.last_sr {
            Some((lsr, at)) => (lsr, dlsr_units(now.saturating_duration_since(at))),
            None => (0, 0),
        }
    }

    /// A complete report block for `ssrc` at `now` (closes the loss interval).
    pub fn report_block(
        &mut self,
        ssrc: Ssrc,
        base_ext_seq: u64,
        highest_ext_seq: u64,
        received: u64,
        jitter: u32,
        now: Instant,
    ) -> ReportBlock {
        let loss = self.loss_report(base_ext_seq, highest_ext_seq, received);
        let (lsr, dlsr) = self.lsr_dlsr(now);
        ReportBlock {
            ssrc,
            fraction_lost: loss.fraction_lost,
            cumulative_lost: loss.cumulative_lost,
            extended_highest_seq: loss.extended_highest_seq,
            jitter,
            lsr,
            dlsr,
        }
    }
}

/// Interarrival jitter estimator (RFC 3550 A.8), fed per received packet.
#[derive(Debug, Clone)]
pub struct JitterEstimator {
    clock_rate: u32,
    epoch: Option<Instant>,
    last_transit: Option<u32>,
    /// Jitter × 16, as in A.8, for integer precision (u64: |D| can reach 2^31).
    jitter_q4: u64,
}

impl JitterEstimator {
    /// An estimator for a stream with this RTP clock rate (Hz).
    pub fn new(clock_rate: u32) -> JitterEstimator {
        JitterEstimator {
            clock_rate,
            epoch: None,
            last_transit: None,
            jitter_q4: 0,
        }
    }

    /// Feeds one packet's RTP timestamp and arrival time. Call for packets in
    /// arrival order, not for retransmitted DTMF end packets (same timestamp).
    pub fn on_packet(&mut self, ts: RtpTimestamp, arrival: Instant) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let elapsed = arrival.saturating_duration_since(epoch);
        // Arrival in RTP units, wrapping like the timestamps do.
        let arrival_units =
            (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        let transit = arrival_units.wrapping_sub(ts.0);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            // J += (|D| − J) / 16, in ×16 fixed point (A.8); bounded by 2^35.
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Current jitter estimate in timestamp units, for the report block.
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 1 << 16; // SeqUnwrapper's first extended value for seq 0

    #[test]
    fn fraction_lost_cases() {
        let mut s = ReceptionStats::new();
        // 100 expected, 100 received: no loss.
        let r = s.loss_report(BASE, BASE + 99, 100);
        assert_eq!(
            (r.fraction_lost, r.cumulative_lost, r.extended_highest_seq),
            (0, 0, 99)
        );
        // Next 100 expected, 75 received: 25% = 64/256.
        let r = s.loss_report(BASE, BASE + 199, 175);
        assert_eq!((r.fraction_lost, r.cumulative_lost), (64, 25));
        // Next 10 expected, 20 received (duplicates): fraction 0, cumulative drops.
        let r = s.loss_report(BASE, BASE + 209, 195);
        assert_eq!((r.fraction_lost, r.cumulative_lost), (0, 15));
        // Nothing new: no interval, fraction 0.
        let r = s.loss_report(BASE, BASE + 209, 195);
        assert_eq!(r.fraction_lost, 0);
        // All of the next 4 lost: 255 is the ceiling (256/256 does not fit).
        let r = s.loss_report(BASE, BASE + 213, 195);
        assert_eq!(r.fraction_lost, 255);
    }

    #[test]
    fn duplicates_make_cumulative_negative_and_wrap_counts_cycles() {
        let mut s = ReceptionStats::new();
        let r = s.loss_report(BASE + 65_000, BASE + 65_009, 12);
        assert_eq!((r.fraction_lost, r.cumulative_lost), (0, -2));
        // Across the 16-bit wrap: one cycle, low bits 4.
        let r = s.loss_report(BASE + 65_000, BASE + 65_536 + 4, 541);
        assert_eq!(r.extended_highest_seq, 0x0001_0004);
        assert_eq!(r.cumulative_lost, 0);
    }

    #[test]
    fn cumulative_lost_clamps() {
        let mut s = ReceptionStats::new();
        let r = s.loss_report(BASE, BASE + 20_000_000, 0);
        assert_eq!(r.cumulative_lost, 0x7F_FFFF);
        let r = ReceptionStats::new().loss_report(BASE, BASE, 20_000_000);
        assert_eq!(r.cumulative_lost, -0x80_0000);
        // Highest below base (caller bug): no panic, nothing expected.
        let r = ReceptionStats::new().loss_report(BASE + 10, BASE, 0);
        assert_eq!((r.fraction_lost, r.cumulative_lost), (0, 0));
    }

    #[test]
    fn lsr_and_dlsr_units() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new();
        assert_eq!(s.lsr_dlsr(t0), (0, 0));
        s.on_sender_report(0xB705_2000_1234_5678, t0);
        assert_eq!(
            s.lsr_dlsr(t0 + Duration::from_millis(5250)),
            (0x2000_1234, 0x0005_4000)
        );
        assert_eq!(s.lsr_dlsr(t0 + Duration::from_micros(500_000)).1, 32_768);
        // `now` before arrival: 0, not a panic.
        assert_eq!(s.lsr_dlsr(t0).1, 0);
        assert_eq!(dlsr_units(Duration::from_secs(1)), 65_536);
        assert_eq!(dlsr_units(Duration::from_secs(1 << 20)), u32::MAX);
        let b = s.report_block(Ssrc(3), BASE, BASE + 9, 10, 7, t0 + Duration::from_secs(2));
        assert_eq!(
            (b.ssrc, b.lsr, b.dlsr, b.jitter),
            (Ssrc(3), 0x2000_1234, 2 * 65_536, 7)
        );
    }

    #[test]
    fn rtt_rfc_3550_example() {
        // §6.4.1: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 → 6.125 s.
        let block = ReportBlock {
            ssrc: Ssrc(1),
            fraction_lost: 0,
            cumulative_lost: 0,
            extended_highest_seq: 0,
            jitter: 0,
            lsr: 0xB705_2000,
            dlsr: 0x0005_4000,
        };
        let a = 0xB710_8000_u64 << 16;
        assert_eq!(
            round_trip_time(a, &block),
            Some(Duration::from_millis(6125))
        );
        assert_eq!(round_trip_time(0xB705_0000_u64 << 16, &block), None);
        assert_eq!(round_trip_time(a, &ReportBlock { lsr: 0, ..block }), None);
    }

    #[test]
    fn jitter_survives_hostile_timestamps() {
        let t0 = Instant::now();
        let mut j = JitterEstimator::new(48_000);
        for k in 0..2000u32 {
            let ts = if k % 2 == 0 { 0 } else { 0x8000_0000 };
            j.on_packet(RtpTimestamp(ts), t0 + Duration::from_millis(u64::from(k)));
        }
        assert!(j.jitter() >= 0x7000_0000);
    }

    #[test]
    fn jitter_follows_a8() {
        let t0 = Instant::now();
        let mut j = JitterEstimator::new(8000);
        // Perfectly paced: 160 ticks every 20 ms → 0.
        for k in 0..50u32 {
            j.on_packet(
                RtpTimestamp(k * 160),
                t0 + Duration::from_millis(20 * u64::from(k)),
            );
        }
        assert_eq!(j.jitter(), 0);
        // Alternating ±5 ms (40 ticks) of arrival delay converges towards |D| = 40.
        let mut j = JitterEstimator::new(8000);
        for k in 0..400u32 {
            let late = if k % 2 == 1 { 5 } else { 0 };
            let at = t0 + Duration::from_millis(20 * u64::from(k) + late);
            j.on_packet(RtpTimestamp((u32::MAX - 1000).wrapping_add(k * 160)), at);
        }
        assert!((39..=40).contains(&j.jitter()), "jitter {}", j.jitter());
    }
}
