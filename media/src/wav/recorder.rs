//! The stereo recorder: an interleaving window in front of a WAV writer.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use super::WavError;
use super::header::{BLOCK_ALIGN, MAX_FRAMES, header, write_sizes};
use crate::audio::SampleRate;

/// Bytes converted per write call (1024 stereo frames).
const IO_CHUNK: usize = 4096;
/// Longest window accepted, to bound memory (30 s at 48 kHz is 5.5 MiB).
const MAX_WINDOW_MS: u32 = 30_000;
/// Buffer of the file writer behind [`WavRecorder::create`].
const FILE_BUFFER: usize = 64 * 1024;

/// Which side of the call a push carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The remote party, left channel.
    Caller,
    /// The AI agent, right channel.
    Agent,
}

impl Channel {
    fn index(self) -> usize {
        match self {
            Channel::Caller => 0,
            Channel::Agent => 1,
        }
    }
}

/// Recorder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// How far the channels may drift apart before the lagging one loses audio
    /// to silence (default 2000 ms; 20..=30 000).
    pub window_ms: u32,
    /// Rewrite the header sizes after each this much newly written audio
    /// (default 5000 ms; 0 = after every window flush).
    pub header_refresh_ms: u32,
    /// Stop at this duration; `None` stops at the 4 GiB RIFF limit ([`MAX_FRAMES`]).
    pub max_duration_ms: Option<u64>,
}

impl Default for RecorderConfig {
    fn default() -> RecorderConfig {
        RecorderConfig {
            window_ms: 2000,
            header_refresh_ms: 5000,
            max_duration_ms: None,
        }
    }
}

/// Counters of a recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RecorderStats {
    /// Stereo frames written to the data chunk so far.
    pub frames_written: u64,
    /// One past the furthest frame pushed on either channel; `finish` writes up to here.
    pub end_frame: u64,
    /// Caller samples dropped because their position was already written.
    pub late_caller_samples: u64,
    /// Agent samples dropped because their position was already written.
    pub late_agent_samples: u64,
    /// Samples dropped because they lie past the cap.
    pub beyond_cap_samples: u64,
    /// Periodic rewrites of the header sizes, one per `header_refresh_ms` of
    /// audio written (the final fix-up by `finish` is not counted).
    pub header_refreshes: u64,
}

/// A stereo call recorder writing a 16-bit PCM WAV into `W`. See the module docs.
#[derive(Debug)]
pub struct WavRecorder<W: Write + Seek> {
    /// `None` once finished.
    out: Option<W>,
    rate: SampleRate,
    /// Interleaved L/R ring of `window_frames` frames; never-pushed slots are 0.
    window: Box<[i16]>,
    window_frames: u64,
    /// Ring index of frame `base`.
    head: usize,
    /// First frame not yet written to the file (= frames written).
    base: u64,
    max_frames: u64,
    refresh_frames: u64,
    refreshed_at: u64,
    io_buf: Box<[u8]>,
    stats: RecorderStats,
    failed: bool,
}

/// A recorder writing to a file through a buffer.
pub type WavFileRecorder = WavRecorder<BufWriter<File>>;

impl WavFileRecorder {
    /// Creates (or truncates) the file at `path` and starts recording into it.
    pub fn create(
        path: impl AsRef<Path>,
        rate: SampleRate,
        config: RecorderConfig,
    ) -> Result<WavFileRecorder, WavError> {
        let file = File::create(path)?;
        WavRecorder::new(BufWriter::with_capacity(FILE_BUFFER, file), rate, config)
    }
}

impl<W: Write + Seek> WavRecorder<W> {
    /// Starts a recording at `rate`: writes the header at offset 0 of `out`
    /// (which should be empty) with unknown sizes.
    pub fn new(mut out: W, rate: SampleRate, config: RecorderConfig) -> Result<Self, WavError> {
        if !(20..=MAX_WINDOW_MS).contains(&config.window_ms) {
            return Err(WavError::InvalidConfig(
                "window_ms must be within 20..=30000",
            ));
        }
        let per_ms = rate.samples_per_ms() as u64;
        let window_frames = config.window_ms as u64 * per_ms;
        let max_frames = config
            .max_duration_ms
            .map_or(MAX_FRAMES, |ms| ms.saturating_mul(per_ms).min(MAX_FRAMES));
        out.seek(SeekFrom::Start(0))?;
        out.write_all(&header(rate, None))?;
        out.flush()?;
        Ok(WavRecorder {
            out: Some(out),
            rate,
            window: vec![0; 2 * window_frames as usize].into_boxed_slice(),
            window_frames,
            head: 0,
            base: 0,
            max_frames,
            refresh_frames: config.header_refresh_ms as u64 * per_ms,
            refreshed_at: 0,
            io_buf: vec![0; IO_CHUNK].into_boxed_slice(),
            stats: RecorderStats::default(),
            failed: false,
        })
    }

    /// Places caller audio (left) at `start_sample` on the call timeline.
    pub fn push_caller(&mut self, start_sample: u64, samples: &[i16]) -> Result<(), WavError> {
        self.push(Channel::Caller, start_sample, samples)
    }

    /// Places agent audio (right) at `start_sample` on the call timeline.
    pub fn push_agent(&mut self, start_sample: u64, samples: &[i16]) -> Result<(), WavError> {
        self.push(Channel::Agent, start_sample, samples)
    }

    /// Places `samples` of `channel` at `start_sample`, overwriting earlier
    /// pushes there; drops (and counts) the part already written to the file
    /// and the part past the cap. Never allocates. When the push reaches past
    /// the window, the overflow (normally one frame's worth) is written to `W`
    /// and every `header_refresh_ms` the header is rewritten, so `W` should be
    /// buffered ([`WavRecorder::create`] uses a 64 KiB `BufWriter`).
    /// Errors: [`WavError::CapReached`] after keeping what fits; `Io` (the
    /// recorder then refuses further work with [`WavError::Failed`]).
    pub fn push(
        &mut self,
        channel: Channel,
        start_sample: u64,
        samples: &[i16],
    ) -> Result<(), WavError> {
        if self.failed || self.out.is_none() {
            return Err(WavError::Failed);
        }
        let len = samples.len() as u64;
        let mut samples = samples;
        let mut start = start_sample;
        let keep = self.max_frames.saturating_sub(start).min(len);
        let capped = keep < len;
        if capped {
            self.stats.beyond_cap_samples += len - keep;
            samples = &samples[..keep as usize];
        }
        if start < self.base {
            let skip = (self.base - start).min(samples.len() as u64);
            match channel {
                Channel::Caller => self.stats.late_caller_samples += skip,
                Channel::Agent => self.stats.late_agent_samples += skip,
            }
            samples = &samples[skip as usize..];
            start += skip;
        }
        // A push longer than the window goes in window-sized pieces so that
        // each piece is in the ring before a later one flushes it.
        for piece in samples.chunks(self.window_frames as usize) {
            let end = start + piece.len() as u64;
            if end > self.base + self.window_frames {
                self.advance_to(end - self.window_frames)?;
            }
            self.place(channel, start, piece);
            self.stats.end_frame = self.stats.end_frame.max(end);
            start = end;
        }
        if capped {
            return Err(WavError::CapReached {
                max_frames: self.max_frames,
            });
        }
        Ok(())
    }

    /// Writes the rest of the window, fixes the header and returns the writer
    /// with the final counters. After an error the file needs [`repair`](super::repair).
    pub fn finish(mut self) -> Result<(W, RecorderStats), WavError> {
        if self.failed {
            return Err(WavError::Failed);
        }
        self.close()?;
        let stats = self.stats();
        let out = self.out.take().ok_or(WavError::Failed)?;
        Ok((out, stats))
    }

    /// Counters so far.
    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            frames_written: self.base,
            ..self.stats
        }
    }

    /// The recording's sample rate.
    pub fn sample_rate(&self) -> SampleRate {
        self.rate
    }

    /// The cap in stereo frames.
    pub fn max_frames(&self) -> u64 {
        self.max_frames
    }

    /// Flushes the window up to the end frame and writes the final sizes.
    fn close(&mut self) -> Result<(), WavError> {
        self.advance_to(self.stats.end_frame)?;
        let out = self.out.as_mut().ok_or(WavError::Failed)?;
        write_sizes(out, self.base).map_err(|e| self.fail(e))
    }

    /// Copies one channel's `samples` (within the window) into the ring.
    fn place(&mut self, channel: Channel, start: u64, samples: &[i16]) {
        let w = self.window_frames as usize;
        let mut slot = self.head + (start - self.base) as usize;
        if slot >= w {
            slot -= w;
        }
        for &s in samples {
            if let Some(v) = self.window.get_mut(2 * slot + channel.index()) {
                *v = s;
            }
            slot += 1;
            if slot == w {
                slot = 0;
            }
        }
    }

    /// Writes frames `base..new_base` to the file (window content, then
    /// silence for anything beyond it) and moves the window.
    fn advance_to(&mut self, new_base: u64) -> Result<(), WavError> {
        if new_base <= self.base {
            return Ok(());
        }
        self.flush_frames(new_base - self.base)
            .map_err(|e| self.fail(e))?;
        self.base = new_base;
        if self.base - self.refreshed_at >= self.refresh_frames {
            self.refreshed_at = self.base;
            self.stats.header_refreshes += 1;
            let out = self.out.as_mut().ok_or(WavError::Failed)?;
            write_sizes(out, self.base).map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    fn flush_frames(&mut self, frames: u64) -> std::io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let w = self.window_frames as usize;
        let chunk_frames = IO_CHUNK / BLOCK_ALIGN as usize;
        let from_ring = frames.min(self.window_frames) as usize;
        let mut done = 0;
        while done < from_ring {
            let n = (from_ring - done).min(w - self.head).min(chunk_frames);
            let ring = &mut self.window[2 * self.head..2 * (self.head + n)];
            for (dst, s) in self.io_buf.chunks_exact_mut(2).zip(ring.iter_mut()) {
                dst.copy_from_slice(&s.to_le_bytes());
                *s = 0;
            }
            out.write_all(&self.io_buf[..n * BLOCK_ALIGN as usize])?;
            self.head = (self.head + n) % w;
            done += n;
        }
        let mut silence = frames - from_ring as u64;
        if silence > 0 {
            self.io_buf.fill(0);
        }
        while silence > 0 {
            let n = silence.min(chunk_frames as u64) as usize;
            out.write_all(&self.io_buf[..n * BLOCK_ALIGN as usize])?;
            silence -= n as u64;
        }
        Ok(())
    }

    /// Marks the recorder failed and converts the error.
    fn fail(&mut self, e: std::io::Error) -> WavError {
        self.failed = true;
        WavError::Io(e)
    }
}

impl<W: Write + Seek> Drop for WavRecorder<W> {
    /// Best effort: finishes the file if `finish` was not called, ignoring errors.
    fn drop(&mut self) {
        if self.out.is_some() && !self.failed {
            let _ = self.close();
        }
    }
}
