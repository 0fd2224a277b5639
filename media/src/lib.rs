//! tenex-media: the sans-IO audio hot path.

pub mod audio;
pub mod g711;
pub mod opus;
pub mod realtime;
pub mod resample;
pub mod rtp;
pub mod vad;
pub mod wav;

pub use audio::{FRAME_MS, SampleRate};
