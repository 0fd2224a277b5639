//! A call whose audio is bridged to an application (the Realtime agent) rather
//! than echoed: what the SIP leg hands over, and what it reports back.

use std::sync::Arc;

use tenex_media::dtmf::DtmfDigit;
use tenex_media::g711::G711Law;
use tenex_media::sdp::Codec;
use tokio::sync::mpsc;

use super::call::media_rate;
use super::engine::Shared;
use super::outcome::CallOutcome;
use super::record::{CallId, HungUpBy};
use super::registry::CallControl;
use crate::media::{AudioRing, MediaLeg, MediaMode};
use crate::realtime::MediaPort;

/// Caller audio waiting for the bridge (1 s); overflow drops the oldest.
const UPLINK_RING_FRAMES: usize = 50;
/// Agent audio waiting for the pacer (10 s); overflow drops the oldest.
const DOWNLINK_RING_FRAMES: usize = 500;
/// Leg events waiting for the app (DTMF bursts and the end).
const LEG_EVENTS: usize = 64;

/// The two rings between a bridged call's media leg and its app.
#[derive(Debug, Clone)]
pub(crate) struct Rings {
    uplink: AudioRing,
    downlink: AudioRing,
}

impl Rings {
    pub(crate) fn new() -> Rings {
        Rings {
            uplink: AudioRing::new(UPLINK_RING_FRAMES),
            downlink: AudioRing::new(DOWNLINK_RING_FRAMES),
        }
    }

    /// The media leg's mode for these rings.
    pub(crate) fn mode(&self) -> MediaMode {
        MediaMode::Bridge {
            uplink: self.uplink.clone(),
            downlink: self.downlink.clone(),
        }
    }
}

/// Who a bridged call is with, for the app.
#[derive(Debug)]
pub(crate) struct Parties {
    pub(crate) outbound: bool,
    pub(crate) dialled: Option<String>,
    pub(crate) from: String,
}

/// Hands an answered call to `app`; returns where the SIP leg reports to it.
pub(crate) fn hand_over(
    shared: &Shared,
    app: &Arc<dyn CallApp>,
    id: CallId,
    parties: Parties,
    media: &MediaLeg,
    codec: Codec,
    rings: Rings,
) -> mpsc::Sender<LegEvent> {
    // Audio from before the answer (early media) is not the callee speaking.
    rings.uplink.clear();
    let (leg_tx, leg_rx) = mpsc::channel(LEG_EVENTS);
    app.start(BridgedCall {
        id,
        outbound: parties.outbound,
        dialled: parties.dialled,
        from: parties.from,
        media: MediaPort {
            uplink: rings.uplink,
            downlink: rings.downlink,
            control: media.commands(),
            stats: media.stats().clone(),
            rate: media_rate(codec),
            law: match codec {
                Codec::Pcmu => Some(G711Law::Ulaw),
                Codec::Pcma => Some(G711Law::Alaw),
                Codec::Opus => None,
            },
        },
        handle: CallHandle {
            tx: shared.registry.control_sender(id),
        },
        events: leg_rx,
    });
    leg_tx
}

/// Takes bridged calls (implemented by the call tree).
pub trait CallApp: Send + Sync + std::fmt::Debug + 'static {
    /// A call was answered; its media runs in bridge mode.
    fn start(&self, call: BridgedCall);

    /// The tag put on the records of calls this app takes.
    fn tag(&self) -> Option<super::record::CallTag> {
        None
    }
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

    /// Fault injection for supervision tests: the call's SIP task panics, as a
    /// bug in our SIP handling would make it.
    pub fn crash(&self) -> bool {
        self.tx.try_send(CallControl::Crash).is_ok()
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
