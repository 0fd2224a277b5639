//! RTCP parser robustness and report round trips over random input.

use proptest::prelude::*;
use tenex_media::rtcp::{
    MAX_RTCP_LEN, Report, ReportBlock, RtcpError, SenderInfo, clamp_cumulative_lost,
    parse_compound, write_report,
};
use tenex_media::rtp::{RtpTimestamp, Ssrc};
use webrtc_util::marshal::Unmarshal;

fn block() -> impl Strategy<Value = ReportBlock> {
    (
        any::<u32>(),
        any::<u8>(),
        any::<i32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(ssrc, fraction_lost, cumulative_lost, ext, jitter, lsr, dlsr)| ReportBlock {
                ssrc: Ssrc(ssrc),
                fraction_lost,
                cumulative_lost,
                extended_highest_seq: ext,
                jitter,
                lsr,
                dlsr,
            },
        )
}

fn sender_info() -> impl Strategy<Value = Option<SenderInfo>> {
    proptest::option::of(
        (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
            |(ntp_time, rtp, packet_count, octet_count)| SenderInfo {
                ntp_time,
                rtp_time: RtpTimestamp(rtp),
                packet_count,
                octet_count,
            },
        ),
    )
}

/// One RTCP packet with a plausible header (type, count, length that often,
/// but not always, matches) and a hostile body.
fn hostile_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(200u8),
            Just(201),
            Just(202),
            Just(203),
            Just(205),
            Just(206),
            Just(207),
            any::<u8>()
        ],
        0u8..32,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..160),
        prop_oneof![3 => Just(None), 1 => any::<u16>().prop_map(Some)],
    )
        .prop_map(|(pt, count, padding, mut body, len_override)| {
            body.truncate(body.len() / 4 * 4);
            let words = len_override.unwrap_or((body.len() / 4) as u16);
            let mut p = vec![0x80 | (u8::from(padding) << 5) | count, pt];
            p.extend_from_slice(&words.to_be_bytes());
            p.extend(body);
            p
        })
}

fn must_not_panic(buf: &[u8]) -> Result<(), TestCaseError> {
    match parse_compound(buf) {
        Ok(s) => {
            prop_assert!(s.report_blocks.len() <= tenex_media::rtcp::MAX_REPORT_BLOCKS);
            prop_assert!(s.sender_reports.len() <= tenex_media::rtcp::MAX_SENDER_REPORTS);
            prop_assert!(s.byes.len() <= tenex_media::rtcp::MAX_BYE_SSRCS);
        }
        Err(e) => {
            // Every error renders, and is one of ours.
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        must_not_panic(&buf)?;
        // The same bytes with a valid first byte and type, to get past the version check.
        let mut b = buf.clone();
        if b.len() >= 2 {
            b[0] = 0x80 | (b[0] & 0x3F);
            b[1] = 200 + (b[1] % 8);
            must_not_panic(&b)?;
        }
    }

    #[test]
    fn hostile_compounds_never_panic(pkts in proptest::collection::vec(hostile_packet(), 1..6)) {
        let buf: Vec<u8> = pkts.concat();
        must_not_panic(&buf)?;
    }

    #[test]
    fn reports_round_trip_and_every_truncation_is_typed(
        ssrc in any::<u32>(),
        sender in sender_info(),
        blocks in proptest::collection::vec(block(), 0..32),
        cname in "[a-z0-9.@-]{1,64}",
    ) {
        let report = Report { ssrc: Ssrc(ssrc), sender, blocks: &blocks, cname: &cname };
        let mut out = vec![0u8; 1500];
        let n = match write_report(&report, &mut out) {
            Ok(n) => n,
            Err(e) => {
                prop_assert_eq!(e, RtcpError::TooManyBlocks(blocks.len()));
                prop_assert!(blocks.len() > 31);
                return Ok(());
            }
        };
        let buf = &out[..n];
        let first_len = if sender.is_some() { 28 } else { 8 } + 24 * blocks.len();

        // Ours.
        let s = parse_compound(buf).expect("own output parses");
        let want: Vec<ReportBlock> = blocks
            .iter()
            .map(|b| ReportBlock {
                cumulative_lost: clamp_cumulative_lost(i64::from(b.cumulative_lost)),
                ..*b
            })
            .collect();
        let got: Vec<ReportBlock> = s.report_blocks.iter().map(|b| b.block).collect();
        prop_assert_eq!(got, want);
        prop_assert!(s.report_blocks.iter().all(|b| b.reporter == Ssrc(ssrc)));
        match sender {
            Some(info) => {
                prop_assert_eq!(s.sender_reports.len(), 1);
                prop_assert_eq!(s.sender_reports[0].info, info);
            }
            None => prop_assert_eq!(&s.receiver_reports, &vec![Ssrc(ssrc)]),
        }
        prop_assert_eq!(s.skipped, 1);

        // The crate's, with its compound rules (SR/RR first, CNAME present).
        let mut b: &[u8] = buf;
        let compound = rtcp::compound_packet::CompoundPacket::unmarshal(&mut b)
            .expect("crate parses our compound");
        prop_assert!(compound.validate().is_ok());
        let crate_cname = compound.cname().expect("cname");
        prop_assert_eq!(crate_cname.as_ref(), cname.as_bytes());

        // Every truncation: Ok only on a packet boundary, else a typed error.
        for len in 0..n {
            match parse_compound(&buf[..len]) {
                Ok(_) => prop_assert_eq!(len, first_len),
                Err(RtcpError::Empty) => prop_assert_eq!(len, 0),
                Err(RtcpError::Truncated { offset }) => {
                    prop_assert!(offset == 0 || offset == first_len);
                }
                Err(e) => prop_assert!(false, "unexpected {:?} at {}", e, len),
            }
        }
    }

    #[test]
    fn mutated_reports_never_panic(
        blocks in proptest::collection::vec(block(), 0..5),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let report = Report { ssrc: Ssrc(1), sender: None, blocks: &blocks, cname: "m" };
        let mut out = vec![0u8; 400];
        let n = write_report(&report, &mut out).expect("write");
        out.truncate(n);
        for (at, v) in flips {
            let i = at % n;
            out[i] = v;
        }
        must_not_panic(&out)?;
    }
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let mut big = Vec::new();
    // A valid empty RR repeated past 64 KiB.
    while big.len() <= MAX_RTCP_LEN {
        big.extend_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 7]);
    }
    assert_eq!(parse_compound(&big), Err(RtcpError::TooLarge(big.len())));
    let fits = &big[..MAX_RTCP_LEN];
    let s = parse_compound(fits).expect("64 KiB of RRs");
    assert_eq!(
        s.receiver_reports.len(),
        tenex_media::rtcp::MAX_SENDER_REPORTS
    );
    assert_eq!(
        s.dropped as usize,
        MAX_RTCP_LEN / 8 - tenex_media::rtcp::MAX_SENDER_REPORTS
    );
}

/// `rtcp::packet::unmarshal` (0.17.2) panics on this FIR packet (PSFB, FMT 4) in
/// `FullIntraRequest::unmarshal`; found by a proptest over hostile packets. Ours
/// never hands feedback packets to the crate, so it is merely skipped.
#[test]
fn fir_that_panics_the_crate_is_skipped() {
    let mut fir = vec![0x84, 206, 0x00, 0x11];
    fir.extend_from_slice(&[0; 68]);
    let s = parse_compound(&fir).expect("structurally valid");
    assert_eq!(s.skipped, 1);
    assert!(s.sender_reports.is_empty() && s.report_blocks.is_empty());
}
