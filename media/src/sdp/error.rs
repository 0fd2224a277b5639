//! The one error type of the SDP layer.

use thiserror::Error;

/// Why an SDP body could not be parsed, or why offer/answer failed.
///
/// [`SdpError::kind`] sorts the variants the way the SIP leg needs them: the
/// peer sent garbage (answer 400), the peer is incompatible (answer 488 Not
/// Acceptable Here), or we misused the API (our bug, 500).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is larger than [`MAX_SDP_LEN`](super::MAX_SDP_LEN); rejected
    /// before any parsing.
    #[error("SDP of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Length of the rejected body.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A line violates the SDP grammar (RFC 8866 §5).
    #[error("malformed SDP at line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A mandatory field is absent (`"v="`, `"o="`, or `"c="` for the audio stream).
    #[error("SDP has no {0} field")]
    Missing(&'static str),
    /// More media descriptions than [`MAX_MEDIA`](super::MAX_MEDIA); an answer
    /// must mirror every one of them, so we refuse rather than truncate.
    #[error("SDP has more than {max} media descriptions")]
    TooManyMedia {
        /// The limit.
        max: usize,
    },
    /// No `m=audio` line.
    #[error("SDP has no audio stream")]
    NoAudio,
    /// The audio stream has port 0: the peer rejected or disabled it.
    #[error("the audio stream is rejected (port 0)")]
    AudioRejected,
    /// The audio stream uses a transport other than plain RTP (`RTP/AVP`,
    /// `RTP/AVPF`), e.g. SRTP.
    #[error("unsupported audio transport {0:?}")]
    UnsupportedTransport(String),
    /// The connection address is a host name; this crate does no DNS.
    #[error("connection address is a host name, not an IP address")]
    UnsupportedAddress,
    /// None of the offered (or answered) codecs is one we accept.
    #[error("no common codec")]
    NoCommonCodec,
    /// The offer carries `a=rtcp-mux-only` (RFC 8858) and we do not multiplex.
    #[error("the offer requires RTP/RTCP multiplexing")]
    RtcpMuxRequired,
    /// An empty codec preference list was supplied.
    #[error("codec preference list is empty")]
    EmptyCodecList,
}

/// Coarse classification of an [`SdpError`], for mapping to a SIP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SdpErrorKind {
    /// The peer sent something that is not valid SDP (SIP: 400 Bad Request).
    Malformed,
    /// Valid SDP we cannot work with (SIP: 488 Not Acceptable Here).
    Incompatible,
    /// The caller misused this API (a bug on our side).
    Usage,
}

impl SdpError {
    /// The class of this error.
    pub fn kind(&self) -> SdpErrorKind {
        match self {
            SdpError::TooLarge { .. }
            | SdpError::Malformed { .. }
            | SdpError::Missing(_)
            | SdpError::TooManyMedia { .. } => SdpErrorKind::Malformed,
            SdpError::NoAudio
            | SdpError::AudioRejected
            | SdpError::UnsupportedTransport(_)
            | SdpError::UnsupportedAddress
            | SdpError::NoCommonCodec
            | SdpError::RtcpMuxRequired => SdpErrorKind::Incompatible,
            SdpError::EmptyCodecList => SdpErrorKind::Usage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_common_codec_is_incompatible() {
        assert_eq!(SdpError::NoCommonCodec.kind(), SdpErrorKind::Incompatible);
        assert_eq!(
            SdpError::Malformed {
                line: 3,
                reason: "x"
            }
            .to_string(),
            "malformed SDP at line 3: x"
        );
        assert_eq!(SdpError::EmptyCodecList.kind(), SdpErrorKind::Usage);
    }
}
