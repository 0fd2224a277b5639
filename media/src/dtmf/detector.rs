//! Receive side: turns telephone-event packets into one key press per event.

use crate::rtp::{RtpPacket, RtpTimestamp, SeqNo};

use super::{DtmfDigit, DtmfError, EventPayload};

/// Largest value of the 16-bit duration field; a longer event is split into
/// segments (RFC 4733 §2.5.1.3).
const MAX_SEGMENT: i64 = 0xFFFF;
/// A continuation segment may start this many ticks before `MAX_SEGMENT`
/// (senders that cut a segment at a packet boundary) …
const SEGMENT_EARLY_SLACK: i64 = 2048;
/// … or one tick after it (senders that use 0x10000).
const SEGMENT_LATE_SLACK: i64 = 1;
/// Largest gap between the end of the previous segment as seen and the start of
/// the next one that still counts as "no gap" (covers a few lost updates).
const SEGMENT_MAX_GAP: i64 = 4096;

/// A new key press, reported once, at the first packet of its event that arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// The key.
    pub digit: DtmfDigit,
    /// RTP timestamp of the event (onset, or of the first segment seen).
    pub timestamp: RtpTimestamp,
    /// Duration carried by that packet, in clock ticks (grows until the end).
    pub duration: u32,
    /// Volume, −dBm0 (0–63).
    pub volume: u8,
    /// The packet already had the E bit (start and updates lost): no
    /// [`DtmfOutcome::Ended`] will follow for this event.
    pub ended: bool,
}

/// The end of an event that was already reported as [`DtmfOutcome::Pressed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEnd {
    /// The key.
    pub digit: DtmfDigit,
    /// RTP timestamp of the event, as in its [`DtmfEvent`].
    pub timestamp: RtpTimestamp,
    /// Total duration in clock ticks, across all segments of a long event.
    pub duration: u32,
}

/// What one telephone-event packet meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DtmfOutcome {
    /// A new key press: deliver it to the call layer. Once per event.
    Pressed(DtmfEvent),
    /// The first end (E bit) packet of the current event. At most once per event.
    Ended(DtmfEnd),
    /// An update, a retransmitted end packet or a new segment of the current event.
    Continued,
    /// A duplicate, a late packet, a packet of an older event, or a packet that
    /// contradicts the current event (same timestamp, other digit). No effect.
    Stale,
    /// Event code above 15 (flash, tones …): not DTMF, ignored. No effect.
    NotDtmf(u8),
    /// The payload is not a telephone-event block. No effect.
    Malformed(DtmfError),
}

/// The event being tracked: the newest one seen.
#[derive(Debug, Clone, Copy)]
struct Current {
    digit: DtmfDigit,
    /// Timestamp of the event as reported (its first segment seen).
    event_ts: RtpTimestamp,
    /// Timestamp of the segment being received (equals `event_ts` unless the
    /// event is longer than 0xFFFF ticks).
    seg_ts: RtpTimestamp,
    /// Highest duration seen in the current segment.
    seg_duration: u16,
    ended: bool,
    /// Highest sequence number accepted for this event.
    highest_seq: SeqNo,
}

impl Current {
    fn total_duration(&self) -> u32 {
        self.seg_ts
            .0
            .wrapping_sub(self.event_ts.0)
            .saturating_add(u32::from(self.seg_duration))
    }

    /// RFC 4733 §2.5.1.3: a long event continues with a new timestamp and no gap.
    fn continues_into(&self, digit: DtmfDigit, marker: bool, delta: i64) -> bool {
        let seen_end = i64::from(self.seg_duration);
        digit == self.digit
            && !self.ended
            && !marker
            && (MAX_SEGMENT - SEGMENT_EARLY_SLACK..=MAX_SEGMENT + SEGMENT_LATE_SLACK)
                .contains(&delta)
            && delta >= seen_end
            && delta - seen_end <= SEGMENT_MAX_GAP
    }
}

/// RFC 4733 receiver: one [`DtmfOutcome::Pressed`] per event, fixed-size state,
/// no allocation, no clock.
///
/// Rules (the marker bit is not needed — carriers omit it):
/// - An event is identified by its RTP timestamp. Packets carrying the timestamp
///   of the current event update it: updates and retransmitted end packets are
///   [`DtmfOutcome::Continued`]; the first end packet is [`DtmfOutcome::Ended`].
///   Within the event, a sequence number not after the highest accepted one is
///   a duplicate or late packet and is [`DtmfOutcome::Stale`].
/// - A timestamp *newer* than the current one starts a new event, reported at
///   once as [`DtmfOutcome::Pressed`], whatever the packet is (start, update or
///   end: a lost start packet costs nothing). The same digit with a new
///   timestamp is a new press.
/// - Exception, long events: the same digit, the current event not ended, a
///   timestamp 0xFFFF (−2048 … +1) ticks after the current segment's, that
///   starts no more than 4096 ticks after the duration seen so far in that
///   segment, and no marker bit: a continuation segment, not a new press.
///   [`DtmfEnd::duration`] then covers all segments.
/// - A timestamp *older* than the current one (serial-number order, so the
///   32-bit wrap is handled) belongs to an earlier event or segment: stale. New
///   events must therefore have increasing timestamps, which RFC 3550 guarantees
///   within one SSRC; call [`DtmfDetector::reset`] when the remote SSRC changes.
///   Consequently a timestamp is reported at most once, as long as the stream's
///   timestamps span less than 2^31 ticks (12 h at 48 kHz).
/// - Sequence numbers only order packets within one event, so a key pressed
///   after more than 32767 audio packets is still detected.
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    current: Option<Current>,
}

impl DtmfDetector {
    /// A detector with no event in progress.
    pub fn new() -> DtmfDetector {
        DtmfDetector::default()
    }

    /// Forgets the current event (remote SSRC changed, stream restarted).
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// Handles a parsed RTP packet of the telephone-event payload type.
    pub fn handle_rtp(&mut self, packet: &RtpPacket<'_>) -> DtmfOutcome {
        self.handle_packet(packet.seq, packet.timestamp, packet.marker, packet.payload)
    }

    /// Handles one telephone-event packet given its RTP fields.
    pub fn handle_packet(
        &mut self,
        seq: SeqNo,
        timestamp: RtpTimestamp,
        marker: bool,
        payload: &[u8],
    ) -> DtmfOutcome {
        let p = match EventPayload::decode(payload) {
            Ok(p) => p,
            Err(e) => return DtmfOutcome::Malformed(e),
        };
        let Some(digit) = p.digit() else {
            return DtmfOutcome::NotDtmf(p.event);
        };
        let Some(cur) = self.current.as_mut() else {
            return self.start(seq, timestamp, digit, &p);
        };
        let delta = i64::from(cur.seg_ts.delta_to(timestamp));
        if delta == 0 {
            if digit != cur.digit || !seq.is_after(cur.highest_seq) {
                return DtmfOutcome::Stale;
            }
            cur.highest_seq = seq;
            cur.seg_duration = cur.seg_duration.max(p.duration);
            return Self::update_end(cur, p.end);
        }
        if delta < 0 {
            return DtmfOutcome::Stale;
        }
        if cur.continues_into(digit, marker, delta) {
            cur.seg_ts = timestamp;
            cur.seg_duration = p.duration;
            cur.highest_seq = seq;
            return Self::update_end(cur, p.end);
        }
        self.start(seq, timestamp, digit, &p)
    }

    fn update_end(cur: &mut Current, end: bool) -> DtmfOutcome {
        if end && !cur.ended {
            cur.ended = true;
            DtmfOutcome::Ended(DtmfEnd {
                digit: cur.digit,
                timestamp: cur.event_ts,
                duration: cur.total_duration(),
            })
        } else {
            DtmfOutcome::Continued
        }
    }

    fn start(
        &mut self,
        seq: SeqNo,
        timestamp: RtpTimestamp,
        digit: DtmfDigit,
        p: &EventPayload,
    ) -> DtmfOutcome {
        self.current = Some(Current {
            digit,
            event_ts: timestamp,
            seg_ts: timestamp,
            seg_duration: p.duration,
            ended: p.end,
            highest_seq: seq,
        });
        DtmfOutcome::Pressed(DtmfEvent {
            digit,
            timestamp,
            duration: u32::from(p.duration),
            volume: p.volume,
            ended: p.end,
        })
    }
}
