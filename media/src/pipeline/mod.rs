//! The hot path end to end, per 20 ms frame, for one call leg.
//!
//! - [`Uplink`]: what the jitter buffer plays out (an RTP payload, or a loss) →
//!   decode → conceal → resample → the `input_audio_buffer.append` text.
//! - [`Downlink`]: `response.output_audio.delta` text → 20 ms frames → resample →
//!   encode → the playout pacer → one RTP payload per tick.
//!
//! When the leg is G.711 and the session uses the same law (`audio/pcmu` or
//! `audio/pcma`) the audio passes straight through, without transcoding. An Opus
//! leg decodes and encodes at the session's rate directly (libopus resamples
//! internally), so it needs no resampler. Every buffer is allocated at
//! construction; steady-state processing never allocates.

mod downlink;
mod uplink;

pub use downlink::{DownTick, Downlink, DownlinkError};
pub use uplink::{Uplink, UplinkError};

use crate::audio::SampleRate;
use crate::g711::G711Law;
use crate::sdp::Codec;

/// The leg codec's G.711 law, if it is G.711.
pub(crate) fn codec_law(codec: Codec) -> Option<G711Law> {
    match codec {
        Codec::Pcmu => Some(G711Law::Ulaw),
        Codec::Pcma => Some(G711Law::Alaw),
        Codec::Opus => None,
    }
}

/// RTP clock ticks per 20 ms frame for a codec (Opus always runs a 48 kHz clock).
pub fn rtp_ticks_per_frame(codec: Codec) -> u32 {
    match codec {
        Codec::Pcmu | Codec::Pcma => SampleRate::Hz8000.frame_samples() as u32,
        Codec::Opus => SampleRate::Hz48000.frame_samples() as u32,
    }
}
