//! RTP (RFC 3550): protocol newtypes, a zero-copy packet view for the receive
//! path and a packetizer for the send path.
//!
//! Receiving parses into [`RtpPacket`], a borrowed view: no allocation, and an
//! [`RtpError`] for anything malformed (the `rtp` crate's own parser can panic
//! on a truncated header-extension element, so it is only used to build
//! outgoing headers and as a cross-check in tests). Sending goes through
//! [`RtpSender`], which owns SSRC, sequence number and timestamp and writes the
//! header with `rtp::header::Header::marshal_to` into a caller-owned buffer.

use std::cmp::Ordering;

use thiserror::Error;

/// Synchronisation source identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ssrc(pub u32);

/// RTP sequence number (16 bits, wraps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqNo(pub u16);

impl SeqNo {
    /// The next sequence number, wrapping at 2^16.
    #[inline]
    pub const fn next(self) -> SeqNo {
        SeqNo(self.0.wrapping_add(1))
    }

    /// Signed distance `other - self` in the shorter direction around the ring.
    #[inline]
    pub const fn delta_to(self, other: SeqNo) -> i16 {
        other.0.wrapping_sub(self.0) as i16
    }

    /// Whether `self` comes after `other` (RFC 1982 serial-number order).
    #[inline]
    pub const fn is_after(self, other: SeqNo) -> bool {
        other.delta_to(self) > 0
    }
}

impl PartialOrd for SeqNo {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match other.delta_to(*self) {
            0 => Some(Ordering::Equal),
            d if d > 0 => Some(Ordering::Greater),
            // Exactly half the ring apart is ambiguous in serial-number arithmetic.
            i16::MIN => None,
            _ => Some(Ordering::Less),
        }
    }
}

/// RTP media timestamp (32 bits, wraps), in the payload's clock rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpTimestamp(pub u32);

impl RtpTimestamp {
    /// `self + ticks`, wrapping.
    #[inline]
    pub const fn add(self, ticks: u32) -> RtpTimestamp {
        RtpTimestamp(self.0.wrapping_add(ticks))
    }

    /// Signed distance `other - self`, in ticks.
    #[inline]
    pub const fn delta_to(self, other: RtpTimestamp) -> i32 {
        other.0.wrapping_sub(self.0) as i32
    }
}

/// RTP payload type (7 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    /// PCMU, static payload type 0.
    pub const PCMU: PayloadType = PayloadType(0);
    /// PCMA, static payload type 8.
    pub const PCMA: PayloadType = PayloadType(8);

    /// A payload type; `None` above 127.
    pub const fn new(pt: u8) -> Option<PayloadType> {
        if pt <= 127 {
            Some(PayloadType(pt))
        } else {
            None
        }
    }

    /// The 7-bit value.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Payload types 72..=76 collide with RTCP packet types when multiplexed (RFC 5761).
    pub const fn is_rtcp_conflicting(self) -> bool {
        self.0 >= 72 && self.0 <= 76
    }
}

/// Extends 16-bit sequence numbers into a monotonic 64-bit index (RFC 3550 A.1).
#[derive(Debug, Clone, Default)]
pub struct SeqUnwrapper {
    last: Option<u64>,
}

impl SeqUnwrapper {
    /// Extends `seq` relative to the last value seen; the first value maps to `2^16 + seq`
    /// so that packets reordered before it stay representable.
    pub fn unwrap(&mut self, seq: SeqNo) -> u64 {
        let ext = match self.last {
            None => (1u64 << 16) + seq.0 as u64,
            Some(last) => {
                let delta = SeqNo(last as u16).delta_to(seq) as i64;
                (last as i64 + delta).max(0) as u64
            }
        };
        if self.last.is_none_or(|l| ext > l) {
            self.last = Some(ext);
        }
        ext
    }

    /// The highest extended sequence number seen.
    pub fn highest(&self) -> Option<u64> {
        self.last
    }
}

/// Why an RTP packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Fewer than 12 bytes, or shorter than its CSRC list / extension claims.
    #[error("RTP packet truncated: {0} bytes")]
    Truncated(usize),
    /// Version field is not 2.
    #[error("RTP version {0} is not 2")]
    BadVersion(u8),
    /// Padding count is zero or larger than the payload.
    #[error("RTP padding length is invalid")]
    BadPadding,
    /// Payload type collides with RTCP (72..=76), so this is RTCP, not RTP.
    #[error("payload type {0} is an RTCP packet type")]
    RtcpPayloadType(u8),
    /// The output buffer cannot hold the packet.
    #[error("buffer too small: need {need} bytes")]
    BufferTooSmall {
        /// Bytes required.
        need: usize,
    },
}

/// Fixed RTP header length.
pub const RTP_HEADER_LEN: usize = 12;

/// A parsed RTP packet borrowing the datagram it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit (start of a talk spurt for audio).
    pub marker: bool,
    /// Payload type.
    pub payload_type: PayloadType,
    /// Sequence number.
    pub seq: SeqNo,
    /// Media timestamp.
    pub timestamp: RtpTimestamp,
    /// Sender's SSRC.
    pub ssrc: Ssrc,
    /// Payload, without header, CSRCs, extension and padding.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses one RTP datagram. Never panics; never allocates.
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::Truncated(buf.len()));
        }
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = (b0 & 0x0F) as usize;
        let b1 = buf[1];
        let pt = b1 & 0x7F;
        if (72..=76).contains(&pt) {
            return Err(RtpError::RtcpPayloadType(pt));
        }
        let mut offset = RTP_HEADER_LEN + 4 * csrc_count;
        if has_extension {
            let ext_header = buf
                .get(offset..offset + 4)
                .ok_or(RtpError::Truncated(buf.len()))?;
            let words = u16::from_be_bytes([ext_header[2], ext_header[3]]) as usize;
            offset += 4 + 4 * words;
        }
        if buf.len() < offset {
            return Err(RtpError::Truncated(buf.len()));
        }
        let mut end = buf.len();
        if has_padding {
            let pad = buf[end - 1] as usize;
            if pad == 0 || pad > end - offset {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker: b1 & 0x80 != 0,
            payload_type: PayloadType(pt),
            seq: SeqNo(u16::from_be_bytes([buf[2], buf[3]])),
            timestamp: RtpTimestamp(u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]])),
            ssrc: Ssrc(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]])),
            payload: &buf[offset..end],
        })
    }
}

/// Whether a datagram on a muxed port is RTCP rather than RTP (RFC 5761 §4).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// The send side of one RTP stream: owns SSRC, sequence and timestamp.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: Ssrc,
    next_seq: SeqNo,
    next_ts: RtpTimestamp,
    packets: u64,
    octets: u64,
    last_ts: RtpTimestamp,
}

impl RtpSender {
    /// A stream starting at the given (normally random) sequence number and timestamp.
    pub fn new(ssrc: Ssrc, first_seq: SeqNo, first_ts: RtpTimestamp) -> RtpSender {
        RtpSender {
            ssrc,
            next_seq: first_seq,
            next_ts: first_ts,
            packets: 0,
            octets: 0,
            last_ts: first_ts,
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// Packets sent so far.
    pub fn packets_sent(&self) -> u64 {
        self.packets
    }

    /// Payload octets sent so far.
    pub fn octets_sent(&self) -> u64 {
        self.octets
    }

    /// Timestamp of the last packet written.
    pub fn last_timestamp(&self) -> RtpTimestamp {
        self.last_ts
    }

    /// Timestamp the next media frame will carry.
    pub fn next_timestamp(&self) -> RtpTimestamp {
        self.next_ts
    }

    /// Writes one media packet carrying `payload` that covers `duration_ticks` of media,
    /// and advances sequence and timestamp. Returns the packet length.
    pub fn write_media(
        &mut self,
        pt: PayloadType,
        marker: bool,
        payload: &[u8],
        duration_ticks: u32,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let ts = self.next_ts;
        let n = self.write_at(pt, marker, ts, payload, out)?;
        self.next_ts = ts.add(duration_ticks);
        Ok(n)
    }

    /// Writes a packet with an explicit timestamp (RFC 4733 events keep the timestamp of
    /// the event start); advances only the sequence number.
    pub fn write_at(
        &mut self,
        pt: PayloadType,
        marker: bool,
        ts: RtpTimestamp,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        use rtp::header::Header;
        use webrtc_util::marshal::Marshal;

        let need = RTP_HEADER_LEN + payload.len();
        if out.len() < need {
            return Err(RtpError::BufferTooSmall { need });
        }
        let header = Header {
            version: 2,
            marker,
            payload_type: pt.get(),
            sequence_number: self.next_seq.0,
            timestamp: ts.0,
            ssrc: self.ssrc.0,
            ..Header::default()
        };
        let written = header
            .marshal_to(&mut out[..RTP_HEADER_LEN])
            .map_err(|_| RtpError::BufferTooSmall { need })?;
        debug_assert_eq!(written, RTP_HEADER_LEN);
        out[RTP_HEADER_LEN..need].copy_from_slice(payload);
        self.next_seq = self.next_seq.next();
        self.packets += 1;
        self.octets += payload.len() as u64;
        self.last_ts = ts;
        Ok(need)
    }

    /// Advances the media clock without sending (e.g. silence suppressed while on hold).
    pub fn skip(&mut self, duration_ticks: u32) {
        self.next_ts = self.next_ts.add(duration_ticks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut s = RtpSender::new(Ssrc(ssrc), SeqNo(seq), RtpTimestamp(ts));
        let mut out = vec![0u8; 1500];
        let pt = PayloadType::new(pt).expect("pt");
        let n = s
            .write_media(pt, marker, payload, 160, &mut out)
            .expect("write");
        out.truncate(n);
        out
    }

    #[test]
    fn sender_output_parses_back() {
        let bytes = packet(true, 0, 65535, u32::MAX - 10, 0xDEADBEEF, &[1, 2, 3]);
        let p = RtpPacket::parse(&bytes).expect("parse");
        assert!(p.marker);
        assert_eq!(p.payload_type, PayloadType::PCMU);
        assert_eq!(p.seq, SeqNo(65535));
        assert_eq!(p.timestamp, RtpTimestamp(u32::MAX - 10));
        assert_eq!(p.ssrc, Ssrc(0xDEADBEEF));
        assert_eq!(p.payload, &[1, 2, 3]);
    }

    #[test]
    fn sender_wraps_sequence_and_timestamp() {
        let mut s = RtpSender::new(Ssrc(1), SeqNo(65534), RtpTimestamp(u32::MAX - 159));
        let mut out = [0u8; 200];
        let mut seen = Vec::new();
        for _ in 0..3 {
            let n = s
                .write_media(PayloadType::PCMU, false, &[0xFF; 160], 160, &mut out)
                .expect("write");
            let p = RtpPacket::parse(&out[..n]).expect("parse");
            seen.push((p.seq.0, p.timestamp.0));
        }
        assert_eq!(seen, vec![(65534, u32::MAX - 159), (65535, 0), (0, 160)]);
        assert_eq!(s.packets_sent(), 3);
        assert_eq!(s.octets_sent(), 480);
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        // V=2 P=1 X=1 CC=1, M=1 PT=8
        let mut b = vec![0xB1, 0x88, 0x00, 0x07, 0, 0, 0, 9, 0, 0, 0, 5];
        b.extend_from_slice(&[0, 0, 0, 42]); // CSRC
        b.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0, 0]); // 1-word ext
        b.extend_from_slice(&[7, 7, 7]); // payload
        b.extend_from_slice(&[0, 0, 3]); // padding of 3
        let p = RtpPacket::parse(&b).expect("parse");
        assert_eq!(p.payload_type, PayloadType::PCMA);
        assert_eq!(p.seq, SeqNo(7));
        assert_eq!(p.payload, &[7, 7, 7]);
    }

    #[test]
    fn rejects_garbage_with_typed_errors() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::Truncated(5)));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        let mut b = vec![0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 200];
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadPadding));
        b[0] = 0x90; // extension claimed but absent
        assert!(matches!(RtpPacket::parse(&b), Err(RtpError::Truncated(_))));
        let rtcp = [0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(is_rtcp(&rtcp));
        assert_eq!(RtpPacket::parse(&rtcp), Err(RtpError::RtcpPayloadType(72)));
    }

    #[test]
    fn an_extension_element_overrunning_its_block_is_harmless() {
        // One-byte-header extension of one word whose element claims 16 bytes: the
        // `rtp` crate's own parser panics on this; ours only needs the block length.
        let pkt = [
            0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0x00, 0x01, 0x1F, 0xAA, 0xBB, 0xCC,
        ];
        let p = RtpPacket::parse(&pkt).expect("parse");
        assert_eq!((p.seq, p.payload.len()), (SeqNo(1), 0));
    }

    #[test]
    fn seq_order_wraps() {
        assert!(SeqNo(0).is_after(SeqNo(65535)));
        assert!(!SeqNo(65535).is_after(SeqNo(0)));
        assert_eq!(SeqNo(65530).delta_to(SeqNo(4)), 10);
        assert_eq!(SeqNo(1).partial_cmp(&SeqNo(65000)), Some(Ordering::Greater));
        assert_eq!(SeqNo(0).partial_cmp(&SeqNo(32768)), None);
    }

    #[test]
    fn timestamp_delta_wraps() {
        assert_eq!(RtpTimestamp(u32::MAX - 79).delta_to(RtpTimestamp(80)), 160);
        assert_eq!(RtpTimestamp(80).delta_to(RtpTimestamp(u32::MAX - 79)), -160);
    }

    #[test]
    fn unwrapper_extends_across_wrap_and_reorder() {
        let mut u = SeqUnwrapper::default();
        let base = u.unwrap(SeqNo(65534));
        assert_eq!(u.unwrap(SeqNo(65535)), base + 1);
        assert_eq!(u.unwrap(SeqNo(1)), base + 3);
        assert_eq!(u.unwrap(SeqNo(0)), base + 2); // late, below highest
        assert_eq!(u.highest(), Some(base + 3));
    }

    #[test]
    fn payload_type_bounds() {
        assert_eq!(PayloadType::new(128), None);
        assert!(PayloadType::new(72).expect("pt").is_rtcp_conflicting());
        assert!(!PayloadType::new(101).expect("pt").is_rtcp_conflicting());
    }
}
