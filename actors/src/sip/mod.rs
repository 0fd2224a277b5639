//! The SIP trunk leg: inbound and outbound calls over SIP/RTP.
//!
//! Built on rsipstack (transactions, dialogs, digest auth) behind this module's
//! own API, so the rest of the code never sees rsipstack types. One
//! [`SipEngine`] listens on UDP and TCP on the same port and:
//!
//! - answers inbound INVITEs: 100 Trying, 180 Ringing, 200 OK with our SDP answer,
//!   then media; CANCEL before the answer gets 487; re-INVITEs put the call on
//!   hold and take it off; SIP INFO and RFC 4733 DTMF are recorded; OPTIONS gets
//!   200; requests for unknown dialogs get 481; no common codec gets 488, a
//!   malformed SDP 400, no route 404, capacity/drain/port exhaustion 503 with
//!   Retry-After, a source off the allowlist 403;
//! - places outbound calls through a trunk ([`SipEngine::dial`]) with digest
//!   authentication, early media, a ring timeout (CANCEL) and outcomes mapped
//!   from final statuses ([`CallOutcome`]);
//! - bridges answered calls routed to an agent ([`Route::Agent`]) to a
//!   [`CallApp`]: the media leg runs in bridge mode and the app gets the rings,
//!   a hang-up handle and the leg's events ([`BridgedCall`]);
//! - limits every source's request rate before parsing, and keeps a record of
//!   every call ([`CallRecord`]).
//!
//! Messages too broken to address a response to (no Via, From tag, Call-ID or
//! CSeq) are dropped by the stack without a reply, as RFC 3261 allows; they never
//! stop the listener.

mod bridged;
mod call;
mod config;
mod engine;
mod inbound;
mod info;
mod outbound;
mod outcome;
mod record;
mod registry;
mod router;
mod security;

pub use bridged::{BridgedCall, CallApp, CallHandle, LegEvent};
pub use config::{Credentials, OutboundTrunk, SipConfig, SipTransport, Trunk};
pub use engine::{EngineHandle, SipEngine, SipError};
pub use info::parse_info_dtmf;
pub use outbound::{DialError, DialRequest, DialResult};
pub use outcome::CallOutcome;
pub use record::{CallChange, CallId, CallObserver, CallRecord, CallTag, Direction, HungUpBy};
pub use registry::{EngineCounters, EngineStats};
pub use router::{CallRouter, DefaultRouter, IncomingCall, Route, RouteFuture};
pub use security::{Allowlist, parse_source};
