//! tenex-actors: the per-call network drivers and (next) the supervised actor
//! tree that owns them. It drives the sans-IO [`tenex_media`] core with real
//! sockets and clocks; the dependency direction is `tenex-voice` →
//! `tenex-actors` → `tenex-media`.
//!
//! - [`media`]: the RTP media leg of a call (UDP, jitter buffer, codec, pacer,
//!   RTCP, DTMF, symmetric RTP) and the RTP port pool.
//! - [`sip`]: the SIP trunk leg (rsipstack behind our own API): inbound and
//!   outbound calls, trunk security, call records.

pub mod call;
pub mod media;
pub mod metrics;
pub mod realtime;
pub mod sip;

pub use tenex_media;
