//! What we remember about each call.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use tenex_media::dtmf::DtmfDigit;
use tenex_media::sdp::Codec;

use super::config::SipTransport;
use super::outcome::CallOutcome;

/// Our id for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl std::str::FromStr for CallId {
    type Err = ();

    /// Parses the [`Display`](std::fmt::Display) form, `call_` and 16 hex digits.
    fn from_str(s: &str) -> Result<CallId, ()> {
        let hex = s.strip_prefix("call_").ok_or(())?;
        if hex.len() != 16 {
            return Err(());
        }
        u64::from_str_radix(hex, 16).map(CallId).map_err(drop)
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call_{:016x}", self.0)
    }
}

/// Who a call belongs to, as the host sees it (workspace, agent, lead, ...):
/// set by the [`CallApp`](super::CallApp) that takes the call, opaque to the SIP
/// leg, handed back with every [`CallChange`].
#[derive(Clone)]
pub struct CallTag(pub Arc<dyn Any + Send + Sync>);

impl CallTag {
    /// Tags with `value`.
    pub fn new<T: Any + Send + Sync>(value: T) -> CallTag {
        CallTag(Arc::new(value))
    }

    /// The value, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for CallTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallTag(..)")
    }
}

/// What just happened to a call, for a [`CallObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallChange {
    /// Admitted: an inbound call is being set up, an outbound INVITE goes out.
    Started,
    /// Ringing: we sent 180 to an inbound caller, or the callee's phone
    /// answered an outbound INVITE with its first 18x.
    Ringing,
    /// Answered; media runs.
    Answered,
    /// Put on hold (`true`) or taken off it (`false`) by a re-INVITE.
    Hold(bool),
    /// Ended; the record is final.
    Ended,
}

/// Told about every call's lifecycle, in order per call, with the record as it
/// is after the change. Called on the call's task: it must not block (hand the
/// record to a bounded queue).
pub trait CallObserver: Send + Sync + 'static {
    /// `record` changed by `change`.
    fn observe(&self, record: &CallRecord, change: CallChange);
}

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Someone called us.
    Inbound,
    /// We called someone.
    Outbound,
}

/// Who ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HungUpBy {
    /// We did (BYE, CANCEL, or a rejection).
    Us,
    /// The far end did.
    Them,
}

/// A call's record: live while it runs, final once it ends.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Our id.
    pub id: CallId,
    /// The SIP Call-ID.
    pub sip_call_id: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// From URI.
    pub from: String,
    /// To URI.
    pub to: String,
    /// The far end's signalling address.
    pub remote: SocketAddr,
    /// Signalling transport.
    pub transport: SipTransport,
    /// Negotiated audio codec.
    pub codec: Option<Codec>,
    /// Our RTP port.
    pub rtp_port: Option<u16>,
    /// When the INVITE was sent or received.
    pub started_at: SystemTime,
    /// When the call was answered.
    pub answered_at: Option<SystemTime>,
    /// Times the dialog settled in its confirmed state: the ACK of the answer,
    /// the ACK of each re-INVITE, and the end of each other in-dialog request
    /// (INFO, OPTIONS, ...).
    pub confirmations: u32,
    /// When it ended.
    pub ended_at: Option<SystemTime>,
    /// How it ended (set when it ends).
    pub outcome: Option<CallOutcome>,
    /// The final SIP status of a failed attempt.
    pub final_status: Option<u16>,
    /// Who hung up.
    pub hung_up_by: Option<HungUpBy>,
    /// Why, when it was not a plain hang-up (e.g. `media-timeout`).
    pub hangup_cause: Option<&'static str>,
    /// RTP packets we sent.
    pub rtp_sent: u64,
    /// RTP packets we received.
    pub rtp_received: u64,
    /// Packets the jitter buffer counted as lost.
    pub rtp_lost: u64,
    /// 20 ms sending slots skipped because the leg ran late (not sent, never
    /// sent in a burst later).
    pub rtp_skipped: u64,
    /// Keys pressed (RFC 4733 and SIP INFO), in order (at most 64 kept).
    pub dtmf: Vec<DtmfDigit>,
    /// Whether the call was put on hold at some point.
    pub held: bool,
    /// Whether the call is on hold now.
    pub on_hold: bool,
    /// The call's stereo WAV recording (caller left, agent right), when recorded.
    pub recording: Option<std::path::PathBuf>,
    /// The host's tag, from the app that took the call.
    pub tag: Option<CallTag>,
    /// The trunk the call came in from or went out through, when known.
    pub trunk: Option<String>,
}

impl CallRecord {
    pub(crate) fn new(
        id: CallId,
        sip_call_id: String,
        direction: Direction,
        from: String,
        to: String,
        remote: SocketAddr,
        transport: SipTransport,
    ) -> CallRecord {
        CallRecord {
            id,
            sip_call_id,
            direction,
            from,
            to,
            remote,
            transport,
            codec: None,
            rtp_port: None,
            started_at: SystemTime::now(),
            answered_at: None,
            ended_at: None,
            outcome: None,
            final_status: None,
            hung_up_by: None,
            hangup_cause: None,
            rtp_sent: 0,
            rtp_received: 0,
            rtp_lost: 0,
            rtp_skipped: 0,
            dtmf: Vec::new(),
            confirmations: 0,
            held: false,
            on_hold: false,
            recording: None,
            tag: None,
            trunk: None,
        }
    }

    pub(crate) fn push_dtmf(&mut self, digit: DtmfDigit) {
        if self.dtmf.len() < 64 {
            self.dtmf.push(digit);
        }
    }
}
