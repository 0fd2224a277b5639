//! RTCP (RFC 3550 §6): sender/receiver report compounds, a tolerant parser,
//! and the reception statistics that feed the reports (Appendix A.3, A.8).
//!
//! Sans-IO: NTP time, `Instant`s and counters are parameters; nothing here
//! reads a clock. Building uses the `rtcp` crate's marshalling into a
//! caller-owned buffer. Parsing walks and validates the compound itself (RFC 3550
//! A.2: version 2, lengths that add up, sane padding, ≤ 64 KiB) and only then
//! hands single SR, RR and BYE packets to the `rtcp` crate; every other packet
//! type is skipped, so the crate's other parsers never see peer bytes (its
//! generic `rtcp::packet::unmarshal` panics on some feedback packets; see
//! `tests/rtcp_props.rs`). On an rtcp-mux port (RFC 5761) call
//! [`parse_compound`] only for datagrams where [`crate::rtp::is_rtcp`] holds.
//!
//! Drive contract for one stream, on the media leg:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tenex_media::rtcp::{parse_compound, write_report, JitterEstimator, Report, ReceptionStats};
//! use tenex_media::rtp::{RtpTimestamp, Ssrc};
//!
//! let t0 = Instant::now(); // the actor reads the clock, not this crate
//! let mut stats = ReceptionStats::new();
//! let mut jitter = JitterEstimator::new(8000);
//! // Per received RTP packet:
//! jitter.on_packet(RtpTimestamp(160), t0);
//! // Per received RTCP datagram:
//! # let sr = [0x80, 200, 0, 6, 0, 0, 0, 9, 0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
//! let summary = parse_compound(&sr).expect("valid RTCP");
//! for s in &summary.sender_reports {
//!     stats.on_sender_report(s.info.ntp_time, t0);
//! }
//! // Every ~5 s: counters come from the jitter buffer / SeqUnwrapper.
//! let now = t0 + Duration::from_secs(5);
//! let block = stats.report_block(Ssrc(9), 65_536, 65_536 + 249, 240, jitter.jitter(), now);
//! let mut out = [0u8; 1500];
//! let report = Report { ssrc: Ssrc(1), sender: None, blocks: &[block], cname: "leg-1@tenex" };
//! let n = write_report(&report, &mut out).expect("fits");
//! assert_eq!(&out[..2], &[0x81, 201]); // RR with one block, then SDES
//! # let _ = n;
//! ```

mod build;
mod parse;
mod stats;

pub use build::{clamp_cumulative_lost, write_report};
pub use parse::{
    MAX_BYE_SSRCS, MAX_REPORT_BLOCKS, MAX_RTCP_LEN, MAX_SENDER_REPORTS, ReceivedBlock, RtcpSummary,
    SenderReportSummary, parse_compound,
};
pub use stats::{
    JitterEstimator, LossReport, ReceptionStats, dlsr_units, ntp_middle32, round_trip_time,
};

use thiserror::Error;

use crate::rtp::{RtpTimestamp, Ssrc};

/// Largest number of report blocks in one SR or RR (5-bit count).
pub const MAX_BLOCKS_PER_REPORT: usize = 31;

/// Why building or parsing RTCP failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RtcpError {
    // --- the peer sent garbage ---
    /// No bytes.
    #[error("empty RTCP datagram")]
    Empty,
    /// Larger than [`MAX_RTCP_LEN`]; nothing was parsed.
    #[error("RTCP datagram of {0} bytes is larger than 64 KiB")]
    TooLarge(usize),
    /// A header, or the length it declares, runs past the datagram end.
    #[error("RTCP packet at offset {offset} is truncated")]
    Truncated {
        /// Byte offset of the offending packet in the compound.
        offset: usize,
    },
    /// Version field is not 2.
    #[error("RTCP version {version} at offset {offset} is not 2")]
    BadVersion {
        /// Byte offset of the offending packet.
        offset: usize,
        /// The version found.
        version: u8,
    },
    /// Padding count is zero or larger than the packet body.
    #[error("RTCP padding at offset {offset} is invalid")]
    BadPadding {
        /// Byte offset of the offending packet.
        offset: usize,
    },
    /// An SR, RR or BYE whose body contradicts its header (e.g. more report
    /// blocks than bytes).
    #[error("malformed RTCP packet type {packet_type} at offset {offset}")]
    Malformed {
        /// Byte offset of the offending packet.
        offset: usize,
        /// Its packet type.
        packet_type: u8,
    },
    // --- we misused the API ---
    /// More than [`MAX_BLOCKS_PER_REPORT`] report blocks.
    #[error("{0} report blocks; at most 31 fit in one report")]
    TooManyBlocks(usize),
    /// CNAME empty or longer than 255 bytes.
    #[error("CNAME of {0} bytes; must be 1..=255")]
    BadCname(usize),
    /// The output buffer cannot hold the compound.
    #[error("buffer too small: need {need} bytes")]
    BufferTooSmall {
        /// Bytes required.
        need: usize,
    },
    /// The `rtcp` crate refused to marshal (should not happen after our checks).
    #[error("RTCP encoding failed")]
    Encode,
}

/// Sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp (seconds since 1900 in the high word, fraction low).
    pub ntp_time: u64,
    /// RTP timestamp corresponding to `ntp_time`.
    pub rtp_time: RtpTimestamp,
    /// Packets sent since the start (wraps at 2^32).
    pub packet_count: u32,
    /// Payload octets sent since the start (wraps at 2^32).
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: Ssrc,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost; 24-bit signed on the wire (see
    /// [`clamp_cumulative_lost`]); negative with duplicates.
    pub cumulative_lost: i32,
    /// Cycles (high 16 bits) and highest sequence number received (low 16).
    pub extended_highest_seq: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received; 0 if none.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s; 0 if none.
    pub dlsr: u32,
}

/// What to put in one outgoing compound: an SR if `sender` is set (we sent
/// media since the last report), an RR otherwise, then an SDES CNAME chunk.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// Our SSRC.
    pub ssrc: Ssrc,
    /// Sender information, if we are a sender.
    pub sender: Option<SenderInfo>,
    /// One block per remote source heard (at most 31).
    pub blocks: &'a [ReportBlock],
    /// Our canonical name (RFC 3550 §6.5.1), 1–255 bytes.
    pub cname: &'a str,
}
