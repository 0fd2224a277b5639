//! The outcome of offer/answer, as the media leg consumes it.

use std::net::SocketAddr;

use super::session::{AudioStream, ConnectionAddress, RtpFormat};
use super::{Codec, Direction, OpusParams, SdpError};
use crate::rtp::PayloadType;

/// The negotiated RTP `telephone-event` stream (RFC 4733).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtmfFormat {
    /// Payload type to send events with (the number the remote declared).
    pub send_pt: PayloadType,
    /// Payload type the remote sends events with (the number we declared).
    pub recv_pt: PayloadType,
    /// Clock rate of the events: the audio codec's clock rate.
    pub clock_rate: u32,
}

/// Everything the media leg needs to run the audio stream.
///
/// Payload type numbers come in pairs because RFC 3264 lets an answerer
/// renumber a dynamic payload type ("SHOULD" keep it): we send with the number
/// the remote declared and receive with the number we declared. In an
/// [`answer`](super::answer) both are the offerer's number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The one audio codec.
    pub codec: Codec,
    /// Payload type we send the codec with.
    pub send_pt: PayloadType,
    /// Payload type the remote sends the codec with.
    pub recv_pt: PayloadType,
    /// DTMF events at the codec's clock rate, if both sides support them.
    pub dtmf: Option<DtmfFormat>,
    /// Packetization time in milliseconds, both directions.
    pub ptime_ms: u32,
    /// Where to send RTP; `None` while the remote holds the call with a null
    /// address (`c=IN IP4 0.0.0.0`).
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP: `remote_rtp` when multiplexed, else `a=rtcp` or
    /// RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share one port (RFC 5761) in both directions.
    pub rtcp_mux: bool,
    /// What *we* do: `sends()` — transmit audio; `receives()` — expect audio.
    pub direction: Direction,
    /// The remote's Opus parameters, when the codec is Opus.
    pub opus: Option<OpusParams>,
}

impl Negotiated {
    /// RTP timestamp ticks per packet: clock rate × ptime.
    pub fn ticks_per_packet(&self) -> u32 {
        (self.codec.clock_rate() / 1000).saturating_mul(self.ptime_ms)
    }
}

/// Shortest and longest packetization we accept from the remote, in ms.
const PTIME_RANGE: std::ops::RangeInclusive<u32> = 10..=120;

/// The checks every remote audio stream must pass before we use it.
pub(crate) fn check_stream(audio: &AudioStream) -> Result<(), SdpError> {
    if audio.port == 0 {
        return Err(SdpError::AudioRejected);
    }
    if !audio.transport.is_plain_rtp() {
        return Err(SdpError::UnsupportedTransport(
            audio.transport.as_str().to_owned(),
        ));
    }
    match &audio.connection {
        None => Err(SdpError::Missing("c=")),
        Some(ConnectionAddress::Hostname(_)) => Err(SdpError::UnsupportedAddress),
        Some(ConnectionAddress::Ip(_)) => Ok(()),
    }
}

/// The remote's `a=ptime` if it is a multiple of 10 ms in 10..=120, capped by
/// its `a=maxptime`; otherwise `default`.
pub(crate) fn choose_ptime(audio: &AudioStream, default: u32) -> u32 {
    let ptime = audio
        .ptime
        .filter(|p| PTIME_RANGE.contains(p) && p.is_multiple_of(10))
        .unwrap_or(default);
    match audio.maxptime.filter(|m| PTIME_RANGE.contains(m)) {
        Some(max) if max < ptime => max / 10 * 10,
        _ => ptime,
    }
}

/// RTP and RTCP destinations.
pub(crate) fn remote_addrs(
    audio: &AudioStream,
    rtcp_mux: bool,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let rtp = audio.rtp_addr();
    let rtcp = if rtcp_mux { rtp } else { audio.rtcp_addr() };
    (rtp, rtcp)
}

/// The remote's Opus parameters, if the codec is Opus.
pub(crate) fn opus_params(codec: Codec, format: &RtpFormat) -> Option<OpusParams> {
    (codec == Codec::Opus).then(|| OpusParams::parse(format.fmtp.as_deref().unwrap_or("")))
}
