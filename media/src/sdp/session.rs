//! The typed, bounded view of a remote session description.
//!
//! Only what offer/answer needs is kept: the origin, every `m=` line in short
//! form (an answer must mirror each of them), and the one audio stream we use
//! in full. Everything else is skipped while parsing, so the size of this view
//! does not depend on the size of the input (see the bounds in [`super`]).

use std::net::{IpAddr, SocketAddr};

use super::Direction;
use super::SdpError;
use super::parse;
use crate::rtp::PayloadType;

/// A parsed remote SDP (RFC 8866): session fields, every media line, and the
/// audio stream in detail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionDescription {
    /// The `o=` line's session id and version.
    pub origin: Origin,
    /// Session-level `c=`, if present.
    pub connection: Option<ConnectionAddress>,
    /// Session-level direction attribute, if present.
    pub direction: Option<Direction>,
    /// Every `m=` line, in order (at most [`MAX_MEDIA`](super::MAX_MEDIA)).
    pub media: Vec<MediaLine>,
    /// The audio stream we negotiate: the first `m=audio` line with a non-zero
    /// port and a plain RTP transport, else the first `m=audio` line at all.
    pub audio: Option<AudioStream>,
}

impl SessionDescription {
    /// Parses an SDP body as it arrived from the network.
    ///
    /// Bodies over [`MAX_SDP_LEN`](super::MAX_SDP_LEN) are rejected with
    /// [`SdpError::TooLarge`] before any parsing. Never panics; the result holds
    /// a bounded amount of memory whatever the input.
    pub fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
        parse::parse(input)
    }
}

/// The session id and version from `o=` (RFC 8866 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `<sess-id>`: stays the same for the whole session.
    pub session_id: u64,
    /// `<sess-version>`: increases whenever the description changes.
    pub session_version: u64,
}

/// The address of a `c=` line or of an `a=rtcp` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnectionAddress {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A host name (legal SDP; this crate does no DNS, so negotiation refuses it).
    Hostname(String),
}

impl ConnectionAddress {
    /// The IP literal, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            ConnectionAddress::Ip(ip) => Some(*ip),
            ConnectionAddress::Hostname(_) => None,
        }
    }

    /// `0.0.0.0` or `::`: the RFC 2543 way of putting a call on hold.
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// The transport protocol of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `RTP/AVP` (RFC 3551).
    RtpAvp,
    /// `RTP/AVPF` (RFC 4585): plain RTP with feedback; interoperable with AVP.
    RtpAvpf,
    /// Anything else (`RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`, ...).
    Other(String),
}

impl Transport {
    pub(crate) fn from_token(token: &str) -> Transport {
        if token.eq_ignore_ascii_case("RTP/AVP") {
            Transport::RtpAvp
        } else if token.eq_ignore_ascii_case("RTP/AVPF") {
            Transport::RtpAvpf
        } else {
            Transport::Other(token.to_owned())
        }
    }

    /// The protocol as written on the `m=` line.
    pub fn as_str(&self) -> &str {
        match self {
            Transport::RtpAvp => "RTP/AVP",
            Transport::RtpAvpf => "RTP/AVPF",
            Transport::Other(s) => s,
        }
    }

    /// Whether this is unencrypted RTP, which is all we speak.
    pub fn is_plain_rtp(&self) -> bool {
        matches!(self, Transport::RtpAvp | Transport::RtpAvpf)
    }
}

/// One `m=` line in short form: enough to mirror it (rejected) in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// `audio`, `video`, `image`, `application`, ...
    pub media: String,
    /// The port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The transport protocol.
    pub transport: Transport,
    /// The first format token (an m= line has at least one).
    pub first_format: String,
}

/// An `a=rtpmap` value (RFC 8866 §6.6), or the RFC 3551 table entry for a static
/// payload type offered without one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtpMap {
    /// Encoding name as written, e.g. `PCMU`, `opus`, `telephone-event`.
    pub encoding: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channel count if written (the "encoding parameters").
    pub channels: Option<u8>,
}

/// One payload type offered on the audio line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpFormat {
    /// The payload type number.
    pub payload_type: PayloadType,
    /// Its mapping; `None` for a dynamic type without `a=rtpmap`.
    pub rtpmap: Option<RtpMap>,
    /// Its `a=fmtp` parameters, if any (printable ASCII, at most
    /// [`MAX_FMTP_LEN`](super::MAX_FMTP_LEN) bytes).
    pub fmtp: Option<String>,
}

impl RtpFormat {
    /// Whether this is `telephone-event` (RFC 4733) at the given clock rate.
    pub fn is_telephone_event(&self, clock_rate: u32) -> bool {
        self.rtpmap.as_ref().is_some_and(|m| {
            m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == clock_rate
        })
    }
}

/// An `a=rtcp` attribute (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtcpAttr {
    /// RTCP port.
    pub port: u16,
    /// RTCP address, if different from the stream's connection address.
    pub address: Option<ConnectionAddress>,
}

/// The audio stream of a session description, with session-level defaults
/// (connection address, direction) already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioStream {
    /// Index of this stream in [`SessionDescription::media`].
    pub index: usize,
    /// RTP port; 0 means rejected or disabled.
    pub port: u16,
    /// Transport protocol.
    pub transport: Transport,
    /// Media-level `c=`, else session-level `c=`.
    pub connection: Option<ConnectionAddress>,
    /// Offered payload types in `m=` line order, de-duplicated, at most
    /// [`MAX_FORMATS`](super::MAX_FORMATS).
    pub formats: Vec<RtpFormat>,
    /// `a=ptime` in milliseconds (media-level, else session-level), if valid.
    pub ptime: Option<u32>,
    /// `a=maxptime` in milliseconds, if valid.
    pub maxptime: Option<u32>,
    /// Declared direction: media-level attribute, else session-level, else
    /// `sendrecv`. See [`AudioStream::effective_direction`] for hold.
    pub direction: Direction,
    /// `a=rtcp-mux` (RFC 5761).
    pub rtcp_mux: bool,
    /// `a=rtcp-mux-only` (RFC 8858).
    pub rtcp_mux_only: bool,
    /// `a=rtcp` (RFC 3605).
    pub rtcp: Option<RtcpAttr>,
}

impl AudioStream {
    /// The offered format with this payload type.
    pub fn format(&self, pt: PayloadType) -> Option<&RtpFormat> {
        self.formats.iter().find(|f| f.payload_type == pt)
    }

    /// Whether the connection address is `0.0.0.0`/`::` (RFC 2543 hold).
    pub fn has_null_address(&self) -> bool {
        self.connection
            .as_ref()
            .is_some_and(ConnectionAddress::is_unspecified)
    }

    /// The direction that counts: the declared one, except that a null
    /// connection address means "do not send to me", so it removes receiving.
    pub fn effective_direction(&self) -> Direction {
        if self.has_null_address() {
            Direction::from_flags(self.direction.sends(), false)
        } else {
            self.direction
        }
    }

    /// Whether the declarer puts the stream on hold: it does not want to
    /// receive (`sendonly`, `inactive`, or a null connection address).
    pub fn is_hold(&self) -> bool {
        !self.effective_direction().receives()
    }

    /// Where to send RTP: `None` for a host name, a null address, or port 0.
    pub fn rtp_addr(&self) -> Option<SocketAddr> {
        let ip = self.connection.as_ref()?.ip()?;
        (!ip.is_unspecified() && self.port != 0).then_some(SocketAddr::new(ip, self.port))
    }

    /// Where to send RTCP when not multiplexed: `a=rtcp` if given, else the RTP
    /// port + 1 (RFC 3550 §11).
    pub fn rtcp_addr(&self) -> Option<SocketAddr> {
        let rtp = self.rtp_addr()?;
        match &self.rtcp {
            Some(attr) => {
                let ip = match &attr.address {
                    Some(a) => a.ip()?,
                    None => rtp.ip(),
                };
                (attr.port != 0 && !ip.is_unspecified()).then_some(SocketAddr::new(ip, attr.port))
            }
            None => Some(SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?)),
        }
    }
}
