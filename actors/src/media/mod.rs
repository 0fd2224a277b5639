//! The RTP media leg of one call: a tokio task that owns the call's UDP
//! sockets and drives the sans-IO media core on a 20 ms tick.
//!
//! Every tick it plays one frame out of the jitter buffer (decoded, losses
//! concealed) and sends one frame from the pacer (encoded, silence when there
//! is nothing to say), with correct sequence numbers, timestamps, SSRC and the
//! marker bit on talk-spurt starts. It latches to the source of the first valid
//! RTP packet (symmetric RTP, for callers behind NAT) and ignores other sources
//! afterwards, sends and answers RTCP, detects and generates RFC 4733 DTMF, and
//! reports when the far end goes silent for too long.
//!
//! Audio crosses into and out of the leg only through bounded [`AudioRing`]s;
//! the control channel carries commands. In [`MediaMode::Echo`] the leg plays
//! the caller's own decoded audio back to them (re-encoded), for interop tests
//! and for people checking their trunk.

mod codec;
mod leg;
mod ports;
mod ring;

pub use leg::{MediaCommand, MediaConfig, MediaEvent, MediaLeg, MediaMode, MediaStats};
pub use ports::{PortError, PortLease, PortPool, PortRange};
pub use ring::{AudioFrame, AudioRing, MAX_FRAME};
