//! Outgoing SR/RR + SDES compounds, marshalled by the `rtcp` crate.

use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;
use rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};
use webrtc_util::marshal::{Marshal, MarshalSize};

use super::{MAX_BLOCKS_PER_REPORT, Report, ReportBlock, RtcpError};

/// Largest cumulative-lost value on the wire (24-bit signed).
const LOST_MAX: i64 = 0x7F_FFFF;
/// Smallest cumulative-lost value on the wire (24-bit signed).
const LOST_MIN: i64 = -0x80_0000;

/// Clamps a cumulative loss to the 24-bit signed range of the report block
/// (RFC 3550 A.3: positive loss saturates at 0x7FFFFF, negative at −0x800000).
pub fn clamp_cumulative_lost(lost: i64) -> i32 {
    lost.clamp(LOST_MIN, LOST_MAX) as i32
}

fn to_crate(b: &ReportBlock) -> ReceptionReport {
    let lost = clamp_cumulative_lost(i64::from(b.cumulative_lost));
    ReceptionReport {
        ssrc: b.ssrc.0,
        fraction_lost: b.fraction_lost,
        // Two's complement in 24 bits; the crate writes the low 24 bits.
        total_lost: (lost as u32) & 0x00FF_FFFF,
        last_sequence_number: b.extended_highest_seq,
        jitter: b.jitter,
        last_sender_report: b.lsr,
        delay: b.dlsr,
    }
}

/// Writes an SR (or RR) followed by an SDES CNAME chunk into `out` and returns
/// the compound's length. Allocates a little (the `rtcp` crate's structs); this
/// runs once per report interval, not per frame.
pub fn write_report(report: &Report<'_>, out: &mut [u8]) -> Result<usize, RtcpError> {
    if report.blocks.len() > MAX_BLOCKS_PER_REPORT {
        return Err(RtcpError::TooManyBlocks(report.blocks.len()));
    }
    let cname = report.cname.as_bytes();
    if cname.is_empty() || cname.len() > 255 {
        return Err(RtcpError::BadCname(cname.len()));
    }
    let reports: Vec<ReceptionReport> = report.blocks.iter().map(to_crate).collect();
    let sdes = SourceDescription {
        chunks: vec![SourceDescriptionChunk {
            source: report.ssrc.0,
            items: vec![SourceDescriptionItem {
                sdes_type: SdesType::SdesCname,
                text: cname.to_vec().into(),
            }],
        }],
    };
    let first: Box<dyn Marshal> = match report.sender {
        Some(info) => Box::new(SenderReport {
            ssrc: report.ssrc.0,
            ntp_time: info.ntp_time,
            rtp_time: info.rtp_time.0,
            packet_count: info.packet_count,
            octet_count: info.octet_count,
            reports,
            ..Default::default()
        }),
        None => Box::new(ReceiverReport {
            ssrc: report.ssrc.0,
            reports,
            ..Default::default()
        }),
    };
    let first_len = first.marshal_size();
    let need = first_len + sdes.marshal_size();
    if out.len() < need {
        return Err(RtcpError::BufferTooSmall { need });
    }
    let n1 = first
        .marshal_to(&mut out[..first_len])
        .map_err(|_| RtcpError::Encode)?;
    let n2 = sdes
        .marshal_to(&mut out[n1..need])
        .map_err(|_| RtcpError::Encode)?;
    debug_assert_eq!(n1 + n2, need);
    // RFC 3550 §6.5: the item list ends with a null octet and is padded with
    // null octets. The crate writes its padding count into the last pad octet;
    // zero everything after the CNAME text (header 4, SSRC 4, type 1, length 1).
    out[n1 + 10 + cname.len()..need].fill(0);
    Ok(n1 + n2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::{SenderInfo, parse_compound};
    use crate::rtp::{RtpTimestamp, Ssrc};
    use rtcp::compound_packet::CompoundPacket;
    use webrtc_util::marshal::Unmarshal;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc(ssrc),
            fraction_lost: 64,
            cumulative_lost: lost,
            extended_highest_seq: 0x0001_0005,
            jitter: 37,
            lsr: 0xB705_2000,
            dlsr: 0x0005_4000,
        }
    }

    #[test]
    fn sender_report_bytes_are_exact_and_parse_back() {
        let info = SenderInfo {
            ntp_time: 0xE8A1_B2C3_8000_0000,
            rtp_time: RtpTimestamp(0x0102_0304),
            packet_count: 250,
            octet_count: 40_000,
        };
        let blocks = [block(0xCAFE_0001, -3)];
        let report = Report {
            ssrc: Ssrc(0x1122_3344),
            sender: Some(info),
            blocks: &blocks,
            cname: "ab",
        };
        let mut out = [0u8; 200];
        let n = write_report(&report, &mut out).expect("write");
        #[rustfmt::skip]
        let expect: [u8; 52 + 16] = [
            0x81, 200, 0, 12,             // V=2 RC=1 SR, 13 words
            0x11, 0x22, 0x33, 0x44,       // our SSRC
            0xE8, 0xA1, 0xB2, 0xC3, 0x80, 0, 0, 0, // NTP
            1, 2, 3, 4,                   // RTP ts
            0, 0, 0, 250,                 // packets
            0, 0, 0x9C, 0x40,             // octets
            0xCA, 0xFE, 0, 1,             // block SSRC
            64, 0xFF, 0xFF, 0xFD,         // fraction 1/4, cumulative -3
            0, 1, 0, 5,                   // ext highest seq
            0, 0, 0, 37,                  // jitter
            0xB7, 0x05, 0x20, 0x00,       // LSR
            0, 5, 0x40, 0,                // DLSR
            0x81, 202, 0, 3,              // SDES, 1 chunk, 4 words
            0x11, 0x22, 0x33, 0x44,
            1, 2, b'a', b'b',             // CNAME "ab"
            0, 0, 0, 0,                   // END, padding to 32 bits
        ];
        assert_eq!(&out[..n], &expect[..]);

        // Cross-check with the crate's own compound validation.
        let mut buf: &[u8] = &out[..n];
        let compound = CompoundPacket::unmarshal(&mut buf).expect("crate unmarshal");
        compound.validate().expect("valid compound");
        assert_eq!(compound.cname().expect("cname").as_ref(), b"ab");

        let s = parse_compound(&out[..n]).expect("parse");
        assert_eq!(s.sender_reports.len(), 1);
        assert_eq!(s.sender_reports[0].ssrc, Ssrc(0x1122_3344));
        assert_eq!(s.sender_reports[0].info, info);
        assert_eq!(s.report_blocks.len(), 1);
        assert_eq!(s.report_blocks[0].reporter, Ssrc(0x1122_3344));
        assert_eq!(s.report_blocks[0].block, blocks[0]);
        assert_eq!(s.skipped, 1); // the SDES
    }

    #[test]
    fn receiver_report_round_trips_through_both_parsers() {
        let blocks = [
            block(1, 100),
            block(2, LOST_MAX as i32),
            block(3, LOST_MIN as i32),
        ];
        let report = Report {
            ssrc: Ssrc(9),
            sender: None,
            blocks: &blocks,
            cname: "tenex-leg-7@example.net",
        };
        let mut out = [0u8; 300];
        let n = write_report(&report, &mut out).expect("write");
        assert_eq!(&out[..4], &[0x83, 201, 0, 1 + 3 * 6]);
        let mut buf: &[u8] = &out[..n];
        let compound = CompoundPacket::unmarshal(&mut buf).expect("crate unmarshal");
        compound.validate().expect("valid compound");
        let rr = compound.0[0]
            .as_any()
            .downcast_ref::<ReceiverReport>()
            .expect("RR first");
        assert_eq!(rr.reports[1].total_lost, 0x7F_FFFF);
        assert_eq!(rr.reports[2].total_lost, 0x80_0000);
        let s = parse_compound(&out[..n]).expect("parse");
        let got: Vec<ReportBlock> = s.report_blocks.iter().map(|b| b.block).collect();
        assert_eq!(got, blocks);
        assert!(s.sender_reports.is_empty());
        assert_eq!(s.receiver_reports, vec![Ssrc(9)]);
    }

    #[test]
    fn cumulative_lost_is_clamped_to_24_bits() {
        assert_eq!(clamp_cumulative_lost(10_000_000), 0x7F_FFFF);
        assert_eq!(clamp_cumulative_lost(-10_000_000), -0x80_0000);
        assert_eq!(clamp_cumulative_lost(-1), -1);
        let wide = [block(1, i32::MAX), block(2, i32::MIN)];
        let report = Report {
            ssrc: Ssrc(1),
            sender: None,
            blocks: &wide,
            cname: "x",
        };
        let mut out = [0u8; 200];
        let n = write_report(&report, &mut out).expect("write");
        let s = parse_compound(&out[..n]).expect("parse");
        assert_eq!(s.report_blocks[0].block.cumulative_lost, 0x7F_FFFF);
        assert_eq!(s.report_blocks[1].block.cumulative_lost, -0x80_0000);
    }

    #[test]
    fn misuse_is_a_typed_error() {
        let many = [block(1, 0); 32];
        let mut r = Report {
            ssrc: Ssrc(1),
            sender: None,
            blocks: &many,
            cname: "x",
        };
        let mut out = [0u8; 2000];
        assert_eq!(
            write_report(&r, &mut out),
            Err(RtcpError::TooManyBlocks(32))
        );
        r.blocks = &many[..31];
        assert!(write_report(&r, &mut out).is_ok_and(|n| n == 8 + 31 * 24 + 12));
        r.cname = "";
        assert_eq!(write_report(&r, &mut out), Err(RtcpError::BadCname(0)));
        let long = "n".repeat(256);
        r.cname = &long;
        assert_eq!(write_report(&r, &mut out), Err(RtcpError::BadCname(256)));
        r.cname = "x";
        r.blocks = &[];
        assert_eq!(
            write_report(&r, &mut out[..10]),
            Err(RtcpError::BufferTooSmall { need: 20 })
        );
    }
}
