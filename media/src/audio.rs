//! Sample rates and the 20 ms frame that every stage of the hot path works in.

use std::fmt;

/// Every stage of the hot path moves audio in frames of this length.
pub const FRAME_MS: u32 = 20;

/// A sample rate supported by the hot path. The rate travels with the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleRate {
    /// Narrowband telephony (G.711).
    Hz8000,
    /// Wideband.
    Hz16000,
    /// The Realtime API's PCM16 rate.
    Hz24000,
    /// Opus's native rate.
    Hz48000,
}

impl SampleRate {
    /// All supported rates, ascending.
    pub const ALL: [SampleRate; 4] = [
        SampleRate::Hz8000,
        SampleRate::Hz16000,
        SampleRate::Hz24000,
        SampleRate::Hz48000,
    ];

    /// The rate in Hz.
    pub const fn hz(self) -> u32 {
        match self {
            SampleRate::Hz8000 => 8_000,
            SampleRate::Hz16000 => 16_000,
            SampleRate::Hz24000 => 24_000,
            SampleRate::Hz48000 => 48_000,
        }
    }

    /// The rate for a value in Hz, if supported.
    pub const fn from_hz(hz: u32) -> Option<SampleRate> {
        match hz {
            8_000 => Some(SampleRate::Hz8000),
            16_000 => Some(SampleRate::Hz16000),
            24_000 => Some(SampleRate::Hz24000),
            48_000 => Some(SampleRate::Hz48000),
            _ => None,
        }
    }

    /// Samples in one 20 ms mono frame at this rate.
    pub const fn frame_samples(self) -> usize {
        (self.hz() / (1000 / FRAME_MS)) as usize
    }

    /// Samples per millisecond at this rate.
    pub const fn samples_per_ms(self) -> u32 {
        self.hz() / 1000
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.hz())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_are_twenty_ms() {
        assert_eq!(SampleRate::Hz8000.frame_samples(), 160);
        assert_eq!(SampleRate::Hz16000.frame_samples(), 320);
        assert_eq!(SampleRate::Hz24000.frame_samples(), 480);
        assert_eq!(SampleRate::Hz48000.frame_samples(), 960);
    }

    #[test]
    fn hz_round_trips() {
        for rate in SampleRate::ALL {
            assert_eq!(SampleRate::from_hz(rate.hz()), Some(rate));
        }
        assert_eq!(SampleRate::from_hz(44_100), None);
    }
}
