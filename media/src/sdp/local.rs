//! What we put into our own session descriptions.

use std::net::IpAddr;

use super::Direction;

/// Our side of the session: address, port, `o=` identity and what we want.
///
/// Everything that would need a clock or a random number generator (the
/// session id, the RTP port) is a parameter: the SIP leg chooses them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalMedia {
    /// The address the remote sends RTP to (`c=`, `o=`).
    pub addr: IpAddr,
    /// Our RTP port. RTCP is on this port when multiplexed, else on port + 1.
    pub rtp_port: u16,
    /// `o=` session id: fixed for the whole call.
    pub session_id: u64,
    /// `o=` session version: bump it (see [`LocalMedia::next_version`]) every
    /// time we send a changed description in the same session.
    pub session_version: u64,
    /// The direction we want; `sendrecv` normally, `sendonly`/`inactive` while
    /// we hold the call.
    pub direction: Direction,
    /// Whether we offer and accept RTP/RTCP multiplexing (RFC 5761).
    pub rtcp_mux: bool,
}

impl LocalMedia {
    /// `sendrecv`, RTCP multiplexing allowed.
    pub fn new(addr: IpAddr, rtp_port: u16, session_id: u64, session_version: u64) -> LocalMedia {
        LocalMedia {
            addr,
            rtp_port,
            session_id,
            session_version,
            direction: Direction::SendRecv,
            rtcp_mux: true,
        }
    }

    /// The same with another direction.
    pub fn with_direction(mut self, direction: Direction) -> LocalMedia {
        self.direction = direction;
        self
    }

    /// The same with RTCP multiplexing allowed or not.
    pub fn with_rtcp_mux(mut self, rtcp_mux: bool) -> LocalMedia {
        self.rtcp_mux = rtcp_mux;
        self
    }

    /// The same session with its version incremented (wrapping), for the next
    /// description we send (RFC 3264 §8).
    pub fn next_version(&self) -> LocalMedia {
        LocalMedia {
            session_version: self.session_version.wrapping_add(1),
            ..self.clone()
        }
    }

    /// Our RTCP port when not multiplexed: RTP port + 1, if that exists.
    pub fn rtcp_port(&self) -> Option<u16> {
        self.rtp_port.checked_add(1)
    }
}
