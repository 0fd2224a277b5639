//! tenex-media: the sans-IO audio hot path of tenex-voice.
//!
//! Everything here takes bytes and a `now: Instant` parameter and returns bytes,
//! events and deadlines: no tokio, no sockets, no clock reads. Per 20 ms frame,
//! uplink: RTP → [`jitter`] → decode ([`g711`], [`opus`], [`conceal`]) →
//! [`resample`] → [`realtime`] append text; downlink: delta text → frames →
//! resample → encode → [`pacer`] → RTP. [`pipeline`] composes both directions.
//! Signalling helpers: [`sdp`] offer/answer, [`dtmf`] (RFC 4733), [`rtcp`]
//! reports. Call-level helpers: [`vad`], [`wav`] recorder. No path allocates per
//! frame in steady state (see `tests/zero_alloc.rs`).

pub mod audio;
pub mod conceal;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod opus;
pub mod pacer;
pub mod pipeline;
pub mod realtime;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod vad;
pub mod wav;

pub use audio::{FRAME_MS, SampleRate};

/// The vector instruction set the hot path's kernels (resampling, base64) use on
/// this CPU, chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    /// x86-64 with AVX2.
    Avx2,
    /// x86-64 baseline (SSE2).
    Sse2,
    /// Portable scalar code.
    Portable,
}

/// Which [`Simd`] level is in use.
pub fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            Simd::Avx2
        } else {
            Simd::Sse2
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Simd::Portable
    }
}
