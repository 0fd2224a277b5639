//! Send side: the RFC 4733 packet train of one key press.

use std::time::Duration;

use crate::rtp::RtpTimestamp;

use super::{DTMF_PAYLOAD_LEN, DtmfDigit, DtmfError, EventPayload, MAX_VOLUME};

/// How many times the final (E bit) packet is sent (RFC 4733 §2.5.1.4).
pub const END_PACKET_COPIES: u8 = 3;

/// Largest duration of one segment (16-bit field).
const MAX_SEGMENT: u32 = 0xFFFF;

/// One key press to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfTone {
    /// The key.
    pub digit: DtmfDigit,
    /// How long the tone lasts.
    pub duration: Duration,
    /// Power level in −dBm0, 0–63.
    pub volume: u8,
    /// The telephone-event clock rate negotiated in SDP (8000 or 48000).
    pub clock_rate: u32,
    /// Packet interval (one packet per media tick).
    pub interval: Duration,
}

impl DtmfTone {
    /// 100 ms at −10 dBm0, 8000 Hz, one packet per 20 ms.
    pub fn new(digit: DtmfDigit) -> DtmfTone {
        DtmfTone {
            digit,
            duration: Duration::from_millis(100),
            volume: 10,
            clock_rate: 8000,
            interval: Duration::from_millis(20),
        }
    }
}

/// Metadata of one generated packet; its payload was written to the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfTxPacket {
    /// Timestamp to pass to [`crate::rtp::RtpSender::write_at`]: the event start,
    /// or the start of the current segment for events longer than 0xFFFF ticks.
    pub timestamp: RtpTimestamp,
    /// Marker bit: set on the first packet of the event only.
    pub marker: bool,
    /// E bit: this is (a copy of) the final packet.
    pub end: bool,
}

/// Produces the packets of one event, one per [`DtmfGenerator::poll_packet`]
/// call (call it on every packet-interval tick). No allocation.
///
/// Packet *k* (1-based) carries duration `min(k × interval, total)`; the packet
/// that reaches the total has the E bit and is sent [`END_PACKET_COPIES`] times
/// (new sequence numbers, same timestamp and payload). A 100 ms tone at 8 kHz
/// gives durations 160, 320, 480, 640, 800E, 800E, 800E. When the duration
/// would exceed 0xFFFF ticks, a new segment starts at `timestamp + 0xFFFF`
/// (without marker) and its duration counts from there (RFC 4733 §2.5.1.3).
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    event: u8,
    volume: u8,
    start: RtpTimestamp,
    interval: u32,
    total: u32,
    elapsed: u32,
    seg_start: u32,
    end_copies_sent: u8,
}

fn ticks(d: Duration, clock_rate: u32) -> u128 {
    d.as_nanos() * u128::from(clock_rate) / 1_000_000_000
}

impl DtmfGenerator {
    /// A generator for `tone` whose event starts at `start` (normally
    /// [`crate::rtp::RtpSender::next_timestamp`]).
    pub fn new(tone: &DtmfTone, start: RtpTimestamp) -> Result<DtmfGenerator, DtmfError> {
        if tone.volume > MAX_VOLUME {
            return Err(DtmfError::BadVolume(tone.volume));
        }
        if tone.clock_rate == 0 {
            return Err(DtmfError::BadTone("clock rate is zero"));
        }
        let interval = ticks(tone.interval, tone.clock_rate);
        if interval == 0 || interval > u128::from(MAX_SEGMENT) {
            return Err(DtmfError::BadTone("interval must be 1..=65535 ticks"));
        }
        let total = ticks(tone.duration, tone.clock_rate);
        let total = u32::try_from(total)
            .ok()
            .filter(|&t| t > 0 && t < u32::MAX / 2)
            .ok_or(DtmfError::BadTone("duration must be 1..2^31 ticks"))?;
        Ok(DtmfGenerator {
            event: tone.digit.event_code(),
            volume: tone.volume,
            start,
            interval: interval as u32,
            total,
            elapsed: 0,
            seg_start: 0,
            end_copies_sent: 0,
        })
    }

    /// Total tone duration in clock ticks.
    pub fn duration_ticks(&self) -> u32 {
        self.total
    }

    /// Whether every packet, including the end copies, has been produced.
    pub fn is_done(&self) -> bool {
        self.end_copies_sent >= END_PACKET_COPIES
    }

    /// Writes the next payload into `out` and describes the packet; `None` once
    /// the train is complete.
    pub fn poll_packet(&mut self, out: &mut [u8; DTMF_PAYLOAD_LEN]) -> Option<DtmfTxPacket> {
        if self.is_done() {
            return None;
        }
        let marker = self.elapsed == 0;
        if self.elapsed < self.total {
            self.elapsed = self.elapsed.saturating_add(self.interval).min(self.total);
            // Before the step the segment held ≤ 0xFFFF ticks and the step is
            // ≤ 0xFFFF, so one new segment always suffices.
            if self.elapsed - self.seg_start > MAX_SEGMENT {
                self.seg_start += MAX_SEGMENT;
            }
        }
        let end = self.elapsed == self.total;
        if end {
            self.end_copies_sent += 1;
        }
        EventPayload {
            event: self.event,
            end,
            volume: self.volume,
            // ≤ 0xFFFF by the segment rule above.
            duration: (self.elapsed - self.seg_start).min(MAX_SEGMENT) as u16,
        }
        .encode(out);
        Some(DtmfTxPacket {
            timestamp: self.start.add(self.seg_start),
            marker,
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(tone: &DtmfTone, start: u32) -> Vec<(u32, bool, bool, u16)> {
        let mut g = DtmfGenerator::new(tone, RtpTimestamp(start)).expect("tone");
        let mut out = [0u8; 4];
        let mut v = Vec::new();
        while let Some(p) = g.poll_packet(&mut out) {
            let e = EventPayload::decode(&out).expect("decode");
            assert_eq!(e.end, p.end);
            assert_eq!(e.event, tone.digit.event_code());
            v.push((p.timestamp.0, p.marker, p.end, e.duration));
        }
        assert!(g.is_done());
        assert_eq!(g.poll_packet(&mut out), None);
        v
    }

    #[test]
    fn hundred_ms_at_8k_is_exact() {
        let v = train(&DtmfTone::new(DtmfDigit::D1), 1000);
        let expect: Vec<(u32, bool, bool, u16)> = vec![
            (1000, true, false, 160),
            (1000, false, false, 320),
            (1000, false, false, 480),
            (1000, false, false, 640),
            (1000, false, true, 800),
            (1000, false, true, 800),
            (1000, false, true, 800),
        ];
        assert_eq!(v, expect);
    }

    #[test]
    fn at_48k_and_non_multiple_duration() {
        let tone = DtmfTone {
            clock_rate: 48_000,
            duration: Duration::from_millis(50),
            ..DtmfTone::new(DtmfDigit::Star)
        };
        let durs: Vec<(bool, u16)> = train(&tone, 7).iter().map(|p| (p.2, p.3)).collect();
        assert_eq!(
            durs,
            vec![
                (false, 960),
                (false, 1920),
                (true, 2400),
                (true, 2400),
                (true, 2400)
            ]
        );
    }

    #[test]
    fn shorter_than_one_interval_is_three_end_packets() {
        let tone = DtmfTone {
            duration: Duration::from_millis(10),
            ..DtmfTone::new(DtmfDigit::D)
        };
        let v = train(&tone, 0);
        assert_eq!(
            v,
            vec![
                (0, true, true, 80),
                (0, false, true, 80),
                (0, false, true, 80)
            ]
        );
    }

    #[test]
    fn long_event_is_split_into_segments_across_timestamp_wrap() {
        let tone = DtmfTone {
            duration: Duration::from_secs(20), // 160000 ticks
            ..DtmfTone::new(DtmfDigit::D9)
        };
        let start = u32::MAX - 100;
        let v = train(&tone, start);
        assert_eq!(v.len(), 1000 + 2);
        let seg_ts: Vec<u32> = {
            let mut s: Vec<u32> = v.iter().map(|p| p.0).collect();
            s.dedup();
            s
        };
        assert_eq!(
            seg_ts,
            vec![
                start,
                start.wrapping_add(0xFFFF),
                start.wrapping_add(2 * 0xFFFF)
            ]
        );
        // Boundary: 409 × 160 = 65440 in segment 0, then 65600 − 65535 = 65.
        assert_eq!(v[408], (start, false, false, 65440));
        assert_eq!(v[409], (start.wrapping_add(0xFFFF), false, false, 65));
        let last = v[v.len() - 1];
        assert_eq!(last, (start.wrapping_add(2 * 0xFFFF), false, true, 28_930));
        assert_eq!(v.iter().filter(|p| p.1).count(), 1);
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        let t = DtmfTone::new(DtmfDigit::D0);
        let ts = RtpTimestamp(0);
        let bad_vol = DtmfTone { volume: 64, ..t };
        assert_eq!(
            DtmfGenerator::new(&bad_vol, ts).err(),
            Some(DtmfError::BadVolume(64))
        );
        for bad in [
            DtmfTone { clock_rate: 0, ..t },
            DtmfTone {
                interval: Duration::ZERO,
                ..t
            },
            DtmfTone {
                duration: Duration::ZERO,
                ..t
            },
            DtmfTone {
                interval: Duration::from_secs(10),
                ..t
            },
            DtmfTone {
                duration: Duration::from_secs(1 << 20),
                ..t
            },
        ] {
            assert!(matches!(
                DtmfGenerator::new(&bad, ts),
                Err(DtmfError::BadTone(_))
            ));
        }
    }
}
