//! RFC 4733 telephone-event (DTMF): payload codec, receive-side detector and
//! send-side generator. Sans-IO and allocation-free per packet.
//!
//! # Receiving
//!
//! Feed every RTP packet whose payload type is the negotiated
//! `telephone-event` type to [`DtmfDetector::handle_packet`] (or
//! [`DtmfDetector::handle_rtp`]). It returns a [`DtmfOutcome`]; exactly one
//! [`DtmfOutcome::Pressed`] is produced per key press, **at the first packet of
//! the event that arrives** (lowest latency, no timer needed). The final
//! duration follows as one [`DtmfOutcome::Ended`] when the first end packet
//! arrives (unless the first packet seen was already an end packet; then
//! [`DtmfEvent::ended`] is set and no `Ended` follows). The rules are written on
//! [`DtmfDetector`].
//!
//! ```
//! use tenex_media::dtmf::{DtmfDetector, DtmfDigit, DtmfOutcome};
//! use tenex_media::rtp::{RtpTimestamp, SeqNo};
//!
//! let mut det = DtmfDetector::new();
//! // '5', first packet without marker (some carriers omit it), then 3 end packets.
//! let packets: [(u16, [u8; 4]); 4] = [
//!     (10, [5, 0x0A, 0x00, 0xA0]),
//!     (11, [5, 0x8A, 0x01, 0x40]),
//!     (12, [5, 0x8A, 0x01, 0x40]),
//!     (13, [5, 0x8A, 0x01, 0x40]),
//! ];
//! let mut pressed = Vec::new();
//! for (seq, payload) in packets {
//!     if let DtmfOutcome::Pressed(ev) =
//!         det.handle_packet(SeqNo(seq), RtpTimestamp(8000), false, &payload)
//!     {
//!         pressed.push(ev.digit);
//!     }
//! }
//! assert_eq!(pressed, [DtmfDigit::D5]);
//! ```
//!
//! # Sending
//!
//! [`DtmfGenerator`] yields one payload per packet interval (call
//! [`DtmfGenerator::poll_packet`] on each 20 ms tick); the media leg writes it
//! with [`crate::rtp::RtpSender::write_at`] using the timestamp it returns.

mod detector;
mod generator;
#[cfg(test)]
mod scenarios;

pub use detector::{DtmfDetector, DtmfEnd, DtmfEvent, DtmfOutcome};
pub use generator::{DtmfGenerator, DtmfTone, DtmfTxPacket, END_PACKET_COPIES};

use thiserror::Error;

/// Length of one RFC 4733 event block.
pub const DTMF_PAYLOAD_LEN: usize = 4;

/// Highest volume value (−63 dBm0); the field is 6 bits.
pub const MAX_VOLUME: u8 = 63;

/// One of the 16 DTMF events (RFC 4733 §3.2, event codes 0–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DtmfDigit {
    /// `0`
    D0 = 0,
    /// `1`
    D1 = 1,
    /// `2`
    D2 = 2,
    /// `3`
    D3 = 3,
    /// `4`
    D4 = 4,
    /// `5`
    D5 = 5,
    /// `6`
    D6 = 6,
    /// `7`
    D7 = 7,
    /// `8`
    D8 = 8,
    /// `9`
    D9 = 9,
    /// `*`
    Star = 10,
    /// `#`
    Pound = 11,
    /// `A`
    A = 12,
    /// `B`
    B = 13,
    /// `C`
    C = 14,
    /// `D`
    D = 15,
}

impl DtmfDigit {
    /// All 16 digits in event-code order.
    pub const ALL: [DtmfDigit; 16] = [
        DtmfDigit::D0,
        DtmfDigit::D1,
        DtmfDigit::D2,
        DtmfDigit::D3,
        DtmfDigit::D4,
        DtmfDigit::D5,
        DtmfDigit::D6,
        DtmfDigit::D7,
        DtmfDigit::D8,
        DtmfDigit::D9,
        DtmfDigit::Star,
        DtmfDigit::Pound,
        DtmfDigit::A,
        DtmfDigit::B,
        DtmfDigit::C,
        DtmfDigit::D,
    ];

    /// The digit for an event code; `None` above 15 (not DTMF).
    pub const fn from_event(code: u8) -> Option<DtmfDigit> {
        if code < 16 {
            Some(Self::ALL[code as usize])
        } else {
            None
        }
    }

    /// The RFC 4733 event code.
    pub const fn event_code(self) -> u8 {
        self as u8
    }

    /// The key label: `0`–`9`, `*`, `#`, `A`–`D`.
    pub const fn to_char(self) -> char {
        match self {
            DtmfDigit::Star => '*',
            DtmfDigit::Pound => '#',
            d if (d as u8) < 10 => (b'0' + d as u8) as char,
            d => (b'A' + (d as u8 - 12)) as char,
        }
    }

    /// Parses a key label; lower-case `a`–`d` are accepted.
    pub const fn from_char(c: char) -> Option<DtmfDigit> {
        match c {
            '0'..='9' => Self::from_event(c as u8 - b'0'),
            '*' => Some(DtmfDigit::Star),
            '#' => Some(DtmfDigit::Pound),
            'A'..='D' => Self::from_event(c as u8 - b'A' + 12),
            'a'..='d' => Self::from_event(c as u8 - b'a' + 12),
            _ => None,
        }
    }
}

impl std::fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_char())
    }
}

impl TryFrom<char> for DtmfDigit {
    type Error = DtmfError;

    fn try_from(c: char) -> Result<Self, Self::Error> {
        DtmfDigit::from_char(c).ok_or(DtmfError::UnknownDigit(c))
    }
}

/// What went wrong with a telephone-event payload or a generator setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is shorter than one 4-byte event block (peer sent garbage).
    #[error("telephone-event payload too short: {0} bytes")]
    Truncated(usize),
    /// The character is not a DTMF key label (our API misuse).
    #[error("{0:?} is not a DTMF digit")]
    UnknownDigit(char),
    /// Volume above 63 (our API misuse).
    #[error("volume {0} is above 63")]
    BadVolume(u8),
    /// Clock rate, interval or duration that cannot be packetised (our API misuse).
    #[error("invalid DTMF tone parameters: {0}")]
    BadTone(&'static str),
}

/// One decoded RFC 4733 event block (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (0–255; only 0–15 are DTMF).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in −dBm0, 0–63 (6 bits).
    pub volume: u8,
    /// Duration from the event's timestamp, in clock ticks.
    pub duration: u16,
}

impl EventPayload {
    /// Decodes the first event block. Trailing bytes (further blocks of RFC 4733
    /// §2.5.1.5 or redundancy) are ignored. The R bit is ignored.
    pub fn decode(payload: &[u8]) -> Result<EventPayload, DtmfError> {
        match *payload {
            [event, flags, d0, d1, ..] => Ok(EventPayload {
                event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([d0, d1]),
            }),
            _ => Err(DtmfError::Truncated(payload.len())),
        }
    }

    /// Encodes into 4 bytes (R bit zero, volume masked to 6 bits).
    pub fn encode(&self, out: &mut [u8; DTMF_PAYLOAD_LEN]) {
        let [d0, d1] = self.duration.to_be_bytes();
        *out = [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d0,
            d1,
        ];
    }

    /// The DTMF digit, or `None` for events above 15 (not DTMF).
    pub fn digit(&self) -> Option<DtmfDigit> {
        DtmfDigit::from_event(self.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_chars_round_trip() {
        let labels: String = DtmfDigit::ALL.iter().map(|d| d.to_char()).collect();
        assert_eq!(labels, "0123456789*#ABCD");
        for (code, d) in DtmfDigit::ALL.iter().enumerate() {
            assert_eq!(d.event_code() as usize, code);
            assert_eq!(DtmfDigit::from_char(d.to_char()), Some(*d));
        }
        assert_eq!(DtmfDigit::from_char('c'), Some(DtmfDigit::C));
        assert_eq!(DtmfDigit::try_from('x'), Err(DtmfError::UnknownDigit('x')));
        assert_eq!(DtmfDigit::from_event(16), None);
        assert_eq!(DtmfDigit::Pound.to_string(), "#");
    }

    #[test]
    fn payload_bytes_exact() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 0x0320,
        };
        let mut b = [0; 4];
        p.encode(&mut b);
        assert_eq!(b, [11, 0x8A, 0x03, 0x20]);
        assert_eq!(EventPayload::decode(&b), Ok(p));
        assert_eq!(p.digit(), Some(DtmfDigit::Pound));
    }

    #[test]
    fn payload_decode_ignores_r_bit_and_trailing_blocks() {
        let p = EventPayload::decode(&[3, 0x7F, 0, 160, 9, 9, 9, 9]).expect("decode");
        assert_eq!((p.event, p.end, p.volume, p.duration), (3, false, 63, 160));
    }

    #[test]
    fn payload_errors_are_typed() {
        assert_eq!(EventPayload::decode(&[]), Err(DtmfError::Truncated(0)));
        assert_eq!(
            EventPayload::decode(&[1, 2, 3]),
            Err(DtmfError::Truncated(3))
        );
        let flash = EventPayload::decode(&[16, 0, 0, 160]).expect("decode");
        assert_eq!(flash.digit(), None);
    }
}
