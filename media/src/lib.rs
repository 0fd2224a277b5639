//! tenex-media: the sans-IO audio hot path.

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
