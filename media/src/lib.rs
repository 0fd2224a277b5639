//! tenex-media: the sans-IO audio hot path.

pub mod audio;
pub mod g711;
pub mod rtp;

pub use audio::{FRAME_MS, SampleRate};
