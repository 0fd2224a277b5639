//! Realtime API audio framing (see `shared/REALTIME.md`).
//!
//! Uplink: [`AppendWriter`] turns a 20 ms frame into the complete
//! `input_audio_buffer.append` text. Downlink: [`DeltaDecoder`] turns
//! `response.output_audio.delta` text into 20 ms frames. Both work for PCM16
//! (`audio/pcm`, 24 kHz) and, for passthrough, G.711 bytes (`audio/pcmu`,
//! `audio/pcma`). Neither allocates per frame.

pub mod base64;
pub mod downlink;
pub mod format;
pub mod scan;
pub mod uplink;

pub use downlink::{
    AudioDelta, DeltaDecoder, DeltaError, FrameAssembler, event_type, pcm16_from_le,
};
pub use format::AudioFormat;
pub use uplink::AppendWriter;
