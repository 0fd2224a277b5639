//! Stereo call recording to 16-bit PCM WAV: caller on the left channel, agent on
//! the right, sample-aligned on the call timeline.
//!
//! # Timeline contract
//! Every push says where its samples belong: `start_sample` counts samples at
//! the recorder's [`SampleRate`](crate::SampleRate) from the call start
//! (sample 0). The media leg derives it from RTP: for the caller, the unwrapped
//! RTP timestamp of the packet minus that of the call's first packet, scaled
//! from the RTP clock to the recording rate; for the agent, the position of
//! the frame the pacer sent, on the same origin. The recorder trusts these
//! positions; sanitising timestamp jumps is the leg's job, and
//! [`RecorderConfig::max_duration_ms`] bounds the damage of one that slips
//! through (a jump writes silence, up to the cap).
//!
//! # Window
//! Recent audio lives in an interleaving window (`window_ms`, default 2 s)
//! allocated once, so the two channels may arrive out of step by up to that
//! much. When a push reaches past the window's end, the oldest part is written
//! to the file; whatever the lagging channel had not supplied there is silence.
//! Never-pushed positions are silence. A sample that lands before the window
//! (already written) is dropped and counted as late; the rest of its push is
//! kept. Two pushes to the same position of one channel: the last one wins
//! (each channel has one speaker, so overlap means a retransmission or a
//! correction, not a mix).
//!
//! # Durability
//! The header is written at open with "unknown" sizes (`0xFFFF_FFFF`, which
//! streaming readers take as "until end of file"), refreshed with the real
//! sizes every `header_refresh_ms` of audio written, and fixed by
//! [`WavRecorder::finish`]. Dropping a recorder without `finish` does the same
//! on a best-effort basis. After a crash the file holds everything written up
//! to the last window flush; [`repair`] / [`repair_file`] recompute the sizes
//! from the file length (cutting a trailing partial frame) so that it opens in
//! any player.
//!
//! # Size cap
//! A RIFF file cannot exceed 4 GiB, which is [`MAX_FRAMES`] stereo frames
//! (about 37 h at 8 kHz, 6 h 12 min at 48 kHz). Samples past the cap (or past
//! `max_duration_ms`, if lower) are dropped, counted, and reported with
//! [`WavError::CapReached`]; the recording so far stays valid and `finish`
//! still works.
//!
//! # Example
//! ```
//! use std::io::Cursor;
//! use tenex_media::SampleRate;
//! use tenex_media::wav::{RecorderConfig, WavRecorder};
//!
//! let mut rec = WavRecorder::new(Cursor::new(Vec::new()), SampleRate::Hz8000,
//!                                RecorderConfig::default())?;
//! rec.push_caller(0, &[100; 160])?;   // caller frame at 0 ms
//! rec.push_agent(80, &[-100; 160])?;  // agent frame at 10 ms
//! let (file, stats) = rec.finish()?;
//! assert_eq!(stats.frames_written, 240);
//! assert_eq!(file.into_inner().len(), 44 + 240 * 4);
//! # Ok::<(), tenex_media::wav::WavError>(())
//! ```

mod header;
mod recorder;

pub use header::{MAX_DATA_BYTES, MAX_FRAMES, RepairReport, repair, repair_file};
pub use recorder::{Channel, RecorderConfig, RecorderStats, WavFileRecorder, WavRecorder};

use thiserror::Error;

/// Why recording or repair failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WavError {
    /// The underlying writer or file failed.
    #[error("WAV I/O error")]
    Io(#[from] std::io::Error),
    /// The recording reached its size cap; the samples past it were dropped.
    #[error("recording reached its cap of {max_frames} frames")]
    CapReached {
        /// The cap, in stereo frames.
        max_frames: u64,
    },
    /// An earlier I/O error left the file in an unknown state; run [`repair`] on it.
    #[error("recorder failed earlier; the file needs repair")]
    Failed,
    /// A setting is out of range.
    #[error("invalid recorder config: {0}")]
    InvalidConfig(&'static str),
    /// The file is not a WAV file this module can repair.
    #[error("not a repairable WAV file: {0}")]
    NotRepairable(&'static str),
}
