//! SDP offer/answer (RFC 3264 over RFC 8866) for one audio stream, as pure
//! functions: text in, text and a [`Negotiated`] summary out. No clock, no
//! randomness: session ids, versions and ports are parameters.
//!
//! # Drive contract (the SIP leg)
//!
//! - **UAS, INVITE with an offer**: [`SessionDescription::parse`] the body,
//!   [`answer`] it, put [`SdpAnswer::sdp`] in the 200 OK and start the media leg
//!   with [`SdpAnswer::negotiated`]. An error whose [`SdpError::kind`] is
//!   [`SdpErrorKind::Incompatible`] (e.g. [`SdpError::NoCommonCodec`]) becomes
//!   488 Not Acceptable Here; [`SdpErrorKind::Malformed`] becomes 400.
//! - **UAC** (or a UAS that got an INVITE without SDP): [`create_offer`], send
//!   [`SdpOffer::sdp`], keep the [`SdpOffer`]; when the answer arrives,
//!   [`accept_answer`]. If that fails, the call cannot carry audio: send BYE.
//! - **re-INVITE from the remote** (hold, unhold, refresh): answer it again with
//!   [`LocalMedia::next_version`]; the new [`Negotiated::direction`] says
//!   whether we may send (`sends()`) and whether to expect audio (`receives()`).
//! - **We hold / resume**: [`hold_offer`] / [`resume_offer`] (or [`reoffer`]
//!   with `inactive`) from the current [`Negotiated`], then [`accept_answer`].
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use tenex_media::sdp::{self, Codec, CodecPrefs, Direction, LocalMedia, SessionDescription};
//!
//! let prefs = CodecPrefs::default();
//! // We call out.
//! let us = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40_000, 7, 1);
//! let offer = sdp::create_offer(&us, &prefs);
//! // The far end answers (here: this module playing the far end).
//! let them = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)), 30_000, 99, 1);
//! let reply = sdp::answer(&SessionDescription::parse(offer.sdp().as_bytes())?, &them, &prefs)?;
//! assert_eq!(reply.negotiated.codec, Codec::Pcmu);
//! // The 200 OK's body arrives.
//! let call = sdp::accept_answer(&offer, &SessionDescription::parse(reply.sdp.as_bytes())?)?;
//! assert_eq!(call.codec, Codec::Pcmu);
//! assert_eq!(call.remote_rtp, Some("198.51.100.20:30000".parse().unwrap()));
//! assert!(call.rtcp_mux);
//!
//! // We put the call on hold with a re-INVITE; the far end answers recvonly.
//! let hold = sdp::hold_offer(offer.local(), &call);
//! assert_eq!(hold.local().session_version, 2);
//! let reply = sdp::answer(
//!     &SessionDescription::parse(hold.sdp().as_bytes())?,
//!     &them.next_version(),
//!     &prefs,
//! )?;
//! assert_eq!(reply.negotiated.direction, Direction::RecvOnly);
//! let held = sdp::accept_answer(&hold, &SessionDescription::parse(reply.sdp.as_bytes())?)?;
//! assert_eq!(held.direction, Direction::SendOnly);
//! # Ok::<(), tenex_media::sdp::SdpError>(())
//! ```
//!
//! # Bounds
//!
//! The parser rejects a body over [`MAX_SDP_LEN`] before looking at it, keeps
//! at most [`MAX_MEDIA`] media lines (more is an error, since an answer must
//! mirror all of them), at most [`MAX_FORMATS`] payload types of the audio
//! line (the rest are ignored: offers list preferred formats first), no
//! attribute it does not interpret, and no string longer than
//! [`MAX_TOKEN_LEN`], [`MAX_ENCODING_LEN`] or [`MAX_FMTP_LEN`]. A parsed
//! [`SessionDescription`] therefore holds a few KiB at most, whatever the input.
//!
//! # Why not `ezk-sdp-types` for parsing
//!
//! `ezk-sdp-types` 0.6 fails the whole body on any attribute value it cannot
//! parse (checked: a malformed `a=rtpmap`, `a=ssrc`, `a=rtcp` or
//! `a=candidate` in a video section we would reject anyway) and on media types
//! it does not know (`m=image ... udptl t38`, which T.38-capable gateways
//! offer), and it keeps every attribute, unbounded. A trunk must not lose the
//! call over either. The tests use it as an independent check that what we
//! render is valid SDP.

mod answer;
mod codec;
mod direction;
mod error;
mod fields;
mod fmtp;
mod local;
mod negotiated;
mod offer;
mod parse;
mod render;
mod session;

pub use answer::{SdpAnswer, answer};
pub use codec::{
    Codec, CodecPrefs, OPUS_PT, PreferenceOrder, TELEPHONE_EVENT_8K_PT, TELEPHONE_EVENT_48K_PT,
};
pub use direction::Direction;
pub use error::{SdpError, SdpErrorKind};
pub use fmtp::OpusParams;
pub use local::LocalMedia;
pub use negotiated::{DtmfFormat, Negotiated};
pub use offer::{SdpOffer, accept_answer, create_offer, hold_offer, reoffer, resume_offer};
pub use session::{
    AudioStream, ConnectionAddress, MediaLine, Origin, RtcpAttr, RtpFormat, RtpMap,
    SessionDescription, Transport,
};

/// Largest SDP body we parse, in bytes. Real offers are 300 B to 3 KiB.
pub const MAX_SDP_LEN: usize = 16 * 1024;
/// Most `m=` lines in one description.
pub const MAX_MEDIA: usize = 16;
/// Most payload types kept from the audio `m=` line.
pub const MAX_FORMATS: usize = 32;
/// Longest `m=` line token (media, transport, format) kept.
pub const MAX_TOKEN_LEN: usize = 64;
/// Longest `a=rtpmap` encoding name kept.
pub const MAX_ENCODING_LEN: usize = 32;
/// Longest `a=fmtp` parameter string kept.
pub const MAX_FMTP_LEN: usize = 256;
/// Packetization time when the remote states none, in milliseconds.
pub const DEFAULT_PTIME_MS: u32 = 20;
