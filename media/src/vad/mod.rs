//! Energy voice-activity detection: speech start and stop with onset, hangover
//! and a minimum-speech confirmation, on a timeline counted in frames.
//!
//! One [`EnergyVad`] watches one mono stream. It is fed exactly one 20 ms frame
//! at a time ([`EnergyVad::handle_frame`]) and reports [`VadEvent`]s through
//! [`EnergyVad::poll_event`]. There is no clock: frame `k` covers
//! `[20·k, 20·k + 20)` ms of the stream, and every position in an event is a
//! multiple of 20 ms on that timeline.
//!
//! # Decision per frame
//! The frame energy is its RMS in dBFS, relative to a full-scale square wave
//! (RMS 32768 = 0 dBFS, so a full-scale sine is −3 dBFS; digital silence is
//! [`MIN_DBFS`]). A frame is *active* when its energy is strictly above both
//! - the absolute gate from the 0–1 `threshold`, mapped linearly as
//!   `gate = −75 + 60·threshold` dBFS (0 → −75, the default 0.5 → −45,
//!   1 → −15: like OpenAI's `server_vad`, higher needs louder audio), and
//! - if the adaptive floor is on, `noise floor + margin_db`. The floor starts
//!   at the first frame's energy, drops at once to any quieter frame, rises at
//!   most `rise_db_per_s` otherwise, and never exceeds `ceiling_dbfs`. Steady
//!   line or comfort noise therefore sits at the floor and never triggers,
//!   and speech louder than `ceiling_dbfs + margin_db` is always heard. A noise
//!   step of `x` dB mid-stream reads as speech for about `x / rise_db_per_s`
//!   seconds while the floor catches up.
//!
//! The floor used for frame `k` is the one left by frames `0..k` (the first
//! frame initialises it before its own decision).
//!
//! # Events
//! - [`VadEvent::SpeechStarted`] once `onset_ms` of consecutive active frames
//!   were seen (2 frames by default); it is emitted after the last onset frame
//!   and backdated: `speech_start_ms` is the start of the first active frame.
//!   `audio_start_ms` subtracts `prefix_padding_ms` like OpenAI's event, but
//!   never goes before 0 or before the previous `audio_end_ms`.
//! - [`VadEvent::SpeechConfirmed`] once the run holds `min_speech_ms` of active
//!   frames (pauses bridged by the hangover do not count). The bridge uses it
//!   as its backchannel gate: an "uh-huh" shorter than that never confirms.
//!   With `min_speech_ms` ≤ `onset_ms` it follows `SpeechStarted` in the same
//!   frame.
//! - [`VadEvent::SpeechStopped`] once `silence_duration_ms` of inactive frames
//!   followed the last active frame (the hangover; shorter pauses are part of
//!   the run). `speech_end_ms` is the end of the last active frame;
//!   `audio_end_ms` is the end of the frame that completed the hangover
//!   (`speech_end_ms + silence_duration_ms` rounded up to frames), which is
//!   what OpenAI reports.
//!
//! Between events, [`EnergyVad::current_run`] gives the run so far (start,
//! last active frame, voiced ms) for gates that need a length rather than an
//! event.
//!
//! # Drive contract
//! ```
//! use tenex_media::SampleRate;
//! use tenex_media::vad::{EnergyVad, VadConfig, VadEvent};
//!
//! let rate = SampleRate::Hz8000;
//! let mut vad = EnergyVad::new(rate, VadConfig::default())?;
//! let frame = vec![0i16; rate.frame_samples()]; // one decoded 20 ms frame
//! for _ in 0..50 {
//!     vad.handle_frame(&frame)?;
//!     while let Some(event) = vad.poll_event() {
//!         match event {
//!             VadEvent::SpeechStarted { audio_start_ms, .. } => { let _ = audio_start_ms; }
//!             VadEvent::SpeechConfirmed { .. } => {}
//!             VadEvent::SpeechStopped { audio_end_ms, .. } => { let _ = audio_end_ms; }
//!         }
//!     }
//! }
//! assert_eq!(vad.position_ms(), 1000);
//! # Ok::<(), tenex_media::vad::VadError>(())
//! ```

mod detector;
mod level;

pub use detector::EnergyVad;
pub use level::{MIN_DBFS, frame_dbfs, threshold_to_dbfs};

use thiserror::Error;

/// The adaptive noise floor's tuning. See the module docs for the rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseFloorConfig {
    /// A frame must exceed the floor by more than this to be active (default 10 dB).
    pub margin_db: f32,
    /// The fastest the floor climbs toward louder frames (default 5 dB/s).
    pub rise_db_per_s: f32,
    /// The floor never rises above this level (default −40 dBFS).
    pub ceiling_dbfs: f32,
}

impl Default for NoiseFloorConfig {
    fn default() -> NoiseFloorConfig {
        NoiseFloorConfig {
            margin_db: 10.0,
            rise_db_per_s: 5.0,
            ceiling_dbfs: -40.0,
        }
    }
}

/// Detector settings. Defaults follow OpenAI's `server_vad` defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// 0–1 sensitivity; higher needs louder audio (default 0.5 = −45 dBFS).
    pub threshold: f32,
    /// Subtracted from the speech start to give `audio_start_ms` (default 300).
    pub prefix_padding_ms: u32,
    /// Hangover: silence that ends a run (default 500), rounded up to frames.
    pub silence_duration_ms: u32,
    /// Consecutive active audio needed to start a run (default 40), rounded up to frames.
    pub onset_ms: u32,
    /// Active audio in a run before [`VadEvent::SpeechConfirmed`] (default 300).
    pub min_speech_ms: u32,
    /// The adaptive noise floor, or `None` for the absolute gate alone.
    pub noise_floor: Option<NoiseFloorConfig>,
}

impl Default for VadConfig {
    fn default() -> VadConfig {
        VadConfig {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            onset_ms: 40,
            min_speech_ms: 300,
            noise_floor: Some(NoiseFloorConfig::default()),
        }
    }
}

impl VadConfig {
    /// Checks every setting is in range (finite, threshold within 0..=1).
    pub fn validate(&self) -> Result<(), VadError> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(VadError::InvalidConfig("threshold must be within 0..=1"));
        }
        if let Some(nf) = self.noise_floor {
            let ok = |v: f32, lo: f32, hi: f32| v.is_finite() && (lo..=hi).contains(&v);
            if !ok(nf.margin_db, 0.0, 100.0)
                || !ok(nf.rise_db_per_s, 0.0, 1000.0)
                || !ok(nf.ceiling_dbfs, MIN_DBFS, 0.0)
            {
                return Err(VadError::InvalidConfig("noise floor setting out of range"));
            }
        }
        Ok(())
    }
}

/// What the detector reports. Positions are ms from the first frame fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VadEvent {
    /// Speech began (emitted after the onset, backdated).
    SpeechStarted {
        /// Start of the first active frame.
        speech_start_ms: u64,
        /// `speech_start_ms − prefix_padding_ms`, not before 0 or the last `audio_end_ms`.
        audio_start_ms: u64,
    },
    /// The run now holds `min_speech_ms` of active audio: a real turn, not a backchannel.
    SpeechConfirmed {
        /// Start of the run.
        speech_start_ms: u64,
        /// End of the frame that reached the minimum.
        at_ms: u64,
    },
    /// Speech ended (emitted when the hangover expired).
    SpeechStopped {
        /// Start of the run.
        speech_start_ms: u64,
        /// End of the last active frame.
        speech_end_ms: u64,
        /// End of the frame that completed the hangover (OpenAI's `audio_end_ms`).
        audio_end_ms: u64,
        /// Active audio in the run, bridged pauses excluded.
        voiced_ms: u64,
        /// Whether [`VadEvent::SpeechConfirmed`] was emitted for this run.
        confirmed: bool,
    },
}

/// The speech run in progress (after `SpeechStarted`, until `SpeechStopped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpeechRun {
    /// Start of the first active frame.
    pub start_ms: u64,
    /// End of the latest active frame.
    pub end_ms: u64,
    /// Active audio so far, bridged pauses excluded.
    pub voiced_ms: u64,
    /// Whether the run has reached `min_speech_ms`.
    pub confirmed: bool,
}

impl SpeechRun {
    /// `end_ms − start_ms`: the run's length including bridged pauses.
    pub fn extent_ms(&self) -> u64 {
        self.end_ms - self.start_ms
    }
}

/// Why the detector refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VadError {
    /// The frame is not exactly 20 ms at the detector's rate.
    #[error("frame has {got} samples, expected {want}")]
    FrameLength {
        /// Samples supplied.
        got: usize,
        /// Samples in one 20 ms frame.
        want: usize,
    },
    /// A setting is out of range.
    #[error("invalid VAD config: {0}")]
    InvalidConfig(&'static str),
}
