//! Incoming RTCP compounds → a small typed summary. Never panics.
//!
//! Why the walk is ours: `rtcp::packet::unmarshal` fails the whole compound on
//! any packet it dislikes, and it panics on some feedback packets (a FIR with a
//! consistent length, found by our property test). Its parsers for types we do
//! not use (SDES, feedback, XR) never see peer bytes. The SR, RR and BYE parsers of the
//! `rtcp` 0.17 crate bounds-check every read against the slice they are given
//! (audited; also exercised by `tests/rtcp_props.rs`), so each receives exactly
//! one packet that we have already length-checked.

use rtcp::goodbye::Goodbye;
use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;
use webrtc_util::marshal::Unmarshal;

use super::{ReportBlock, RtcpError, SenderInfo};
use crate::rtp::{RtpTimestamp, Ssrc};

/// Largest datagram accepted; RTCP compounds are MTU-sized in practice.
pub const MAX_RTCP_LEN: usize = 64 * 1024;
/// Sender reports kept per compound (normally one); the rest are counted in
/// [`RtcpSummary::dropped`].
pub const MAX_SENDER_REPORTS: usize = 8;
/// Report blocks kept per compound, over all SR and RR packets.
pub const MAX_REPORT_BLOCKS: usize = 64;
/// BYE SSRCs kept per compound.
pub const MAX_BYE_SSRCS: usize = 32;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_BYE: u8 = 203;
const HEADER_LEN: usize = 4;

/// An SR's sender: who, and its sender information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReportSummary {
    /// SSRC of the sender.
    pub ssrc: Ssrc,
    /// Its NTP/RTP timestamps and counts.
    pub info: SenderInfo,
}

/// A report block together with the SSRC that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedBlock {
    /// SSRC of the SR/RR packet that carried the block.
    pub reporter: Ssrc,
    /// The block (its `ssrc` is the source reported on).
    pub block: ReportBlock,
}

/// What a compound said, in arrival order within each list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtcpSummary {
    /// Sender reports (at most [`MAX_SENDER_REPORTS`]).
    pub sender_reports: Vec<SenderReportSummary>,
    /// SSRCs of receiver-report senders (at most [`MAX_SENDER_REPORTS`]).
    pub receiver_reports: Vec<Ssrc>,
    /// Report blocks of all SR and RR packets (at most [`MAX_REPORT_BLOCKS`]).
    pub report_blocks: Vec<ReceivedBlock>,
    /// Sources that said goodbye (at most [`MAX_BYE_SSRCS`]).
    pub byes: Vec<Ssrc>,
    /// Packets of other types (SDES, APP, feedback, XR, unknown), skipped.
    pub skipped: u32,
    /// Items beyond the bounds above, dropped.
    pub dropped: u32,
}

/// Sign-extends the 24-bit cumulative-lost field.
fn lost_from_wire(raw: u32) -> i32 {
    ((raw << 8) as i32) >> 8
}

fn block_from_crate(r: &ReceptionReport) -> ReportBlock {
    ReportBlock {
        ssrc: Ssrc(r.ssrc),
        fraction_lost: r.fraction_lost,
        cumulative_lost: lost_from_wire(r.total_lost),
        extended_highest_seq: r.last_sequence_number,
        jitter: r.jitter,
        lsr: r.last_sender_report,
        dlsr: r.delay,
    }
}

fn push_bounded<T>(v: &mut Vec<T>, item: T, max: usize, dropped: &mut u32) {
    if v.len() < max {
        v.push(item);
    } else {
        *dropped = dropped.saturating_add(1);
    }
}

impl RtcpSummary {
    fn add_blocks(&mut self, reporter: Ssrc, reports: &[ReceptionReport]) {
        for r in reports {
            let b = ReceivedBlock {
                reporter,
                block: block_from_crate(r),
            };
            push_bounded(
                &mut self.report_blocks,
                b,
                MAX_REPORT_BLOCKS,
                &mut self.dropped,
            );
        }
    }
}

/// One validated packet of the compound.
struct Packet<'a> {
    offset: usize,
    packet_type: u8,
    /// Whole packet, padding included.
    full: &'a [u8],
    /// Header and body, padding removed.
    unpadded: &'a [u8],
}

/// RFC 3550 A.2 header checks for the packet at `offset`.
fn next_packet(buf: &[u8], offset: usize) -> Result<Packet<'_>, RtcpError> {
    let rest = &buf[offset..];
    let [b0, packet_type, l0, l1, ..] = *rest else {
        return Err(RtcpError::Truncated { offset });
    };
    let version = b0 >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion { offset, version });
    }
    let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
    let full = rest.get(..len).ok_or(RtcpError::Truncated { offset })?;
    let mut end = len;
    if b0 & 0x20 != 0 {
        let pad = usize::from(full[len - 1]);
        if pad == 0 || pad > len - HEADER_LEN {
            return Err(RtcpError::BadPadding { offset });
        }
        end -= pad;
    }
    Ok(Packet {
        offset,
        packet_type,
        full,
        unpadded: &full[..end],
    })
}

/// Parses one RTCP datagram (a compound, or a single packet as in RFC 5506).
///
/// Structural errors (size, version, lengths, padding) reject the whole
/// datagram, as RFC 3550 A.2 asks. SR, RR and BYE are summarised; every other
/// packet type is skipped. An SR, RR or BYE whose body contradicts its header
/// is [`RtcpError::Malformed`]. Output is bounded by the `MAX_*` constants.
pub fn parse_compound(buf: &[u8]) -> Result<RtcpSummary, RtcpError> {
    if buf.len() > MAX_RTCP_LEN {
        return Err(RtcpError::TooLarge(buf.len()));
    }
    if buf.is_empty() {
        return Err(RtcpError::Empty);
    }
    // Validate the whole compound before interpreting any of it.
    let mut offset = 0;
    while offset < buf.len() {
        offset += next_packet(buf, offset)?.full.len();
    }
    let mut summary = RtcpSummary::default();
    let mut offset = 0;
    while offset < buf.len() {
        let p = next_packet(buf, offset)?;
        offset += p.full.len();
        summarise(&p, &mut summary)?;
    }
    Ok(summary)
}

fn summarise(p: &Packet<'_>, s: &mut RtcpSummary) -> Result<(), RtcpError> {
    let malformed = |_| RtcpError::Malformed {
        offset: p.offset,
        packet_type: p.packet_type,
    };
    match p.packet_type {
        PT_SR => {
            let sr = SenderReport::unmarshal(&mut { p.unpadded }).map_err(malformed)?;
            let summary = SenderReportSummary {
                ssrc: Ssrc(sr.ssrc),
                info: SenderInfo {
                    ntp_time: sr.ntp_time,
                    rtp_time: RtpTimestamp(sr.rtp_time),
                    packet_count: sr.packet_count,
                    octet_count: sr.octet_count,
                },
            };
            push_bounded(
                &mut s.sender_reports,
                summary,
                MAX_SENDER_REPORTS,
                &mut s.dropped,
            );
            s.add_blocks(Ssrc(sr.ssrc), &sr.reports);
        }
        PT_RR => {
            let rr = ReceiverReport::unmarshal(&mut { p.unpadded }).map_err(malformed)?;
            push_bounded(
                &mut s.receiver_reports,
                Ssrc(rr.ssrc),
                MAX_SENDER_REPORTS,
                &mut s.dropped,
            );
            s.add_blocks(Ssrc(rr.ssrc), &rr.reports);
        }
        PT_BYE => {
            // The crate's BYE parser wants the 32-bit aligned packet, padding included.
            let bye = Goodbye::unmarshal(&mut { p.full }).map_err(malformed)?;
            for src in bye.sources {
                push_bounded(&mut s.byes, Ssrc(src), MAX_BYE_SSRCS, &mut s.dropped);
            }
        }
        _ => s.skipped = s.skipped.saturating_add(1),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr_with_blocks(count: u8, blocks_present: usize) -> Vec<u8> {
        let words = 1 + 6 * blocks_present as u16;
        let mut b = vec![0x80 | count, PT_RR];
        b.extend_from_slice(&words.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 9]);
        for i in 0..blocks_present {
            b.extend_from_slice(&(i as u32 + 100).to_be_bytes());
            b.extend_from_slice(&[0; 20]);
        }
        b
    }

    #[test]
    fn bye_with_padding_and_reason_and_unknown_packets() {
        let mut b = vec![0x80, 204, 0, 2, 0, 0, 0, 1, b'n', b'a', b'm', b'e']; // APP
        b.extend_from_slice(&[0xA2, PT_BYE, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6]);
        b.extend_from_slice(&[3, b'b', b'y', b'e', 0, 0, 0, 4]); // reason, 4 bytes padding
        b.extend_from_slice(&[0x8F, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]); // PSFB (REMB fmt)
        let s = parse_compound(&b).expect("parse");
        assert_eq!(s.byes, vec![Ssrc(5), Ssrc(6)]);
        assert_eq!(s.skipped, 2);
    }

    #[test]
    fn structural_errors_are_typed() {
        assert_eq!(parse_compound(&[]), Err(RtcpError::Empty));
        assert_eq!(
            parse_compound(&[0x80, 201]),
            Err(RtcpError::Truncated { offset: 0 })
        );
        let rr = rr_with_blocks(0, 0);
        let mut two = rr.clone();
        two.extend_from_slice(&rr[..6]);
        assert_eq!(
            parse_compound(&two),
            Err(RtcpError::Truncated { offset: 8 })
        );
        let mut v1 = rr.clone();
        v1[0] = 0x40;
        assert_eq!(
            parse_compound(&v1),
            Err(RtcpError::BadVersion {
                offset: 0,
                version: 1
            })
        );
        let mut padded = rr.clone();
        padded[0] |= 0x20;
        padded[7] = 0; // pad count 0
        assert_eq!(
            parse_compound(&padded),
            Err(RtcpError::BadPadding { offset: 0 })
        );
        padded[7] = 5; // more than the 4-byte body
        assert_eq!(
            parse_compound(&padded),
            Err(RtcpError::BadPadding { offset: 0 })
        );
        // Two blocks announced, one present.
        assert_eq!(
            parse_compound(&rr_with_blocks(2, 1)),
            Err(RtcpError::Malformed {
                offset: 0,
                packet_type: PT_RR
            })
        );
        let big = vec![0u8; MAX_RTCP_LEN + 1];
        assert_eq!(
            parse_compound(&big),
            Err(RtcpError::TooLarge(MAX_RTCP_LEN + 1))
        );
    }

    #[test]
    fn an_error_later_in_the_compound_rejects_it_whole() {
        let mut b = rr_with_blocks(1, 1);
        b.extend_from_slice(&[0x00, 200, 0, 0]);
        assert_eq!(
            parse_compound(&b),
            Err(RtcpError::BadVersion {
                offset: 32,
                version: 0
            })
        );
    }

    #[test]
    fn blocks_are_bounded() {
        let mut b = Vec::new();
        for _ in 0..3 {
            b.extend(rr_with_blocks(31, 31));
        }
        let s = parse_compound(&b).expect("parse");
        assert_eq!(s.report_blocks.len(), MAX_REPORT_BLOCKS);
        assert_eq!(s.dropped, 93 - MAX_REPORT_BLOCKS as u32);
        assert_eq!(s.receiver_reports.len(), 3);
    }

    #[test]
    fn lost_sign_extension() {
        assert_eq!(lost_from_wire(0x7F_FFFF), 0x7F_FFFF);
        assert_eq!(lost_from_wire(0xFF_FFFF), -1);
        assert_eq!(lost_from_wire(0x80_0000), -0x80_0000);
    }
}
