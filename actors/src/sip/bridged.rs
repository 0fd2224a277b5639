//! A call whose audio is bridged to an application (the Realtime agent) rather
//! than echoed: what the SIP leg hands over, and what it reports back.

use tenex_media::dtmf::DtmfDigit;
use tokio::sync::mpsc;

use super::outcome::CallOutcome;
use super::record::{CallId, HungUpBy};
use super::registry::CallControl;
use crate::realtime::MediaPort;

/// Takes bridged calls (implemented by the call tree).
pub trait CallApp: Send + Sync + std::fmt::Debug + 'static {
    /// A call was answered; its media runs in bridge mode.
    fn start(&self, call: BridgedCall);
}

/// What the SIP leg reports about a bridged call (control only; audio is in the rings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The caller pressed a key (RFC 4733 or SIP INFO).
    Dtmf(DtmfDigit),
    /// The call ended (BYE either side, media failure, timeout).
    Ended {
        /// Who ended it.
        by: HungUpBy,
        /// Why, when we know.
        cause: Option<&'static str>,
    },
}

/// Handle to hang up a bridged call.
#[derive(Debug, Clone)]
pub struct CallHandle {
    pub(crate) tx: mpsc::Sender<CallControl>,
}

impl CallHandle {
    /// Hangs up normally (BYE).
    pub fn hangup(&self) -> bool {
        self.tx.try_send(CallControl::Hangup).is_ok()
    }

    /// Hangs up recording `outcome` and `cause` (e.g. the agent could not be reached).
    pub fn hangup_with(&self, outcome: CallOutcome, cause: &'static str) -> bool {
        self.tx
            .try_send(CallControl::HangupWith { outcome, cause })
            .is_ok()
    }
}

/// A bridged call, handed to the [`CallApp`].
#[derive(Debug)]
pub struct BridgedCall {
    /// Engine call id.
    pub id: CallId,
    /// Placed by us.
    pub outbound: bool,
    /// The Request-URI user (the dialled number).
    pub dialled: Option<String>,
    /// The caller (From URI).
    pub from: String,
    /// Audio rings and media control.
    pub media: MediaPort,
    /// Hang up.
    pub handle: CallHandle,
    /// Leg events (bounded; the last is always [`LegEvent::Ended`]).
    pub events: mpsc::Receiver<LegEvent>,
}
