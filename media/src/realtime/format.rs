//! The Realtime session's audio formats.

use crate::audio::SampleRate;
use crate::g711::G711Law;

/// An `audio.input.format` / `audio.output.format` of a Realtime session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// `{"type":"audio/pcm","rate":24000}`: 16-bit little-endian mono at 24 kHz.
    Pcm16,
    /// `{"type":"audio/pcmu"}`: G.711 μ-law at 8 kHz.
    Pcmu,
    /// `{"type":"audio/pcma"}`: G.711 A-law at 8 kHz.
    Pcma,
}

impl AudioFormat {
    /// The format's `type` string.
    pub const fn wire_type(self) -> &'static str {
        match self {
            AudioFormat::Pcm16 => "audio/pcm",
            AudioFormat::Pcmu => "audio/pcmu",
            AudioFormat::Pcma => "audio/pcma",
        }
    }

    /// Sample rate of the audio.
    pub const fn sample_rate(self) -> SampleRate {
        match self {
            AudioFormat::Pcm16 => SampleRate::Hz24000,
            AudioFormat::Pcmu | AudioFormat::Pcma => SampleRate::Hz8000,
        }
    }

    /// Bytes in one 20 ms frame (960 for PCM16, 160 for G.711).
    pub const fn frame_bytes(self) -> usize {
        match self {
            AudioFormat::Pcm16 => SampleRate::Hz24000.frame_samples() * 2,
            AudioFormat::Pcmu | AudioFormat::Pcma => SampleRate::Hz8000.frame_samples(),
        }
    }

    /// The G.711 law, for the passthrough formats.
    pub const fn law(self) -> Option<G711Law> {
        match self {
            AudioFormat::Pcm16 => None,
            AudioFormat::Pcmu => Some(G711Law::Ulaw),
            AudioFormat::Pcma => Some(G711Law::Alaw),
        }
    }

    /// Microseconds of audio in `bytes` of this format.
    pub const fn duration_us(self, bytes: usize) -> u32 {
        let bytes_per_ms = self.frame_bytes() / 20;
        (bytes * 1000 / bytes_per_ms) as u32
    }
}
