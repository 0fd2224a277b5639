//! SIP leg configuration: where to listen, which trunks, which ports, limits.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use tenex_media::sdp::CodecPrefs;

use crate::media::PortRange;

/// SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SipTransport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl SipTransport {
    /// As written in a `transport=` URI parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
        }
    }
}

/// Digest credentials for an outbound trunk.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Digest username.
    pub username: String,
    /// Digest password (never logged).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where an outbound trunk sends calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTrunk {
    /// Trunk host (IP or name).
    pub host: String,
    /// Trunk port.
    pub port: u16,
    /// Transport.
    pub transport: SipTransport,
    /// Digest credentials, answered to 401/407 challenges.
    pub credentials: Option<Credentials>,
    /// Caller id (From user) when the call does not give one.
    pub caller_id: String,
}

/// A SIP trunk: who may call in, and where calls go out.
#[derive(Debug, Clone, Default)]
pub struct Trunk {
    /// Name, for logs and records.
    pub name: String,
    /// Source addresses/CIDRs allowed to send INVITEs.
    pub inbound_sources: Vec<IpNet>,
    /// Outbound destination, if the trunk places calls.
    pub outbound: Option<OutboundTrunk>,
    /// Most calls at once through this trunk, both directions; beyond it an
    /// INVITE from the trunk gets 503 and a dial through it fails at once.
    pub max_concurrent: Option<u32>,
    /// New calls per second through this trunk, both directions (a token
    /// bucket with a one-second burst); beyond it as for `max_concurrent`.
    pub calls_per_second: Option<u32>,
}

/// The SIP leg's configuration.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Where to listen, UDP and TCP on the same port (`TENEX_SIP_ADDR`). Port 0 picks
    /// a free port.
    pub listen: SocketAddr,
    /// Address put in Contact and SDP when listening on an unspecified address.
    pub advertised_ip: Option<IpAddr>,
    /// RTP port range (`TENEX_RTP_PORTS`).
    pub rtp_ports: PortRange,
    /// Most concurrent calls; beyond it INVITEs get 503.
    pub max_calls: usize,
    /// Whether the `echo` route answers.
    pub echo_route: bool,
    /// Trunks; with none, only loopback may call in. Replaced at run time with
    /// [`EngineHandle::set_trunks`](super::EngineHandle::set_trunks).
    pub trunks: Vec<Trunk>,
    /// Requests per second per source, sustained.
    pub rate_limit_per_sec: u32,
    /// Requests per source allowed in a burst.
    pub rate_limit_burst: u32,
    /// Outbound: how long to ring before giving up (CANCEL, outcome `no-answer`).
    pub ring_timeout: Duration,
    /// Codec preference for offers and answers.
    pub codecs: CodecPrefs,
    /// End a call whose far end sends no RTP for this long.
    pub media_timeout: Duration,
    /// Retry-After seconds sent with 503.
    pub retry_after_secs: u32,
    /// Recently finished call records kept in memory.
    pub history: usize,
    /// Record every answered call as a stereo WAV (caller left, agent right) in
    /// this directory, named `<call id>.wav`; `None` records nothing.
    pub recordings: Option<std::path::PathBuf>,
}

impl Default for SipConfig {
    fn default() -> SipConfig {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            advertised_ip: None,
            rtp_ports: PortRange {
                first: 20000,
                last: 20999,
            },
            max_calls: 200,
            echo_route: true,
            trunks: Vec::new(),
            rate_limit_per_sec: 50,
            rate_limit_burst: 200,
            ring_timeout: Duration::from_secs(30),
            codecs: CodecPrefs::default(),
            media_timeout: Duration::from_secs(60),
            retry_after_secs: 30,
            history: 1000,
            recordings: None,
        }
    }
}
