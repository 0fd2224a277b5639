//! Playout pacer: agent audio arrives in bursts faster than real time; the
//! pacer hands out exactly one 20 ms frame per tick, silence when it has none.
//!
//! # Drive contract
//! The media leg sleeps until [`Pacer::next_deadline`], then drains
//! [`Pacer::poll`] and sends each frame as one RTP packet:
//!
//! ```
//! # use std::time::{Duration, Instant};
//! # use tenex_media::pacer::{ItemTag, Pacer, PacerConfig};
//! let mut pacer = Pacer::new(PacerConfig::g711(0xFF));
//! let t0 = Instant::now();
//! pacer.push(ItemTag(1), &[0x55; 160], 20_000); // from the Realtime downlink
//! let mut now = t0;
//! for _ in 0..3 {
//!     while let Some(tick) = pacer.poll(now) {
//!         // rtp.skip(tick.skipped * 160); rtp.write_media(pt, tick.talkspurt_start(), tick.frame, 160, ..)
//!         let _ = tick;
//!     }
//!     now = pacer.next_deadline().unwrap_or(now);
//! }
//! ```
//!
//! Frames carry an [`ItemTag`] (the bridge's handle for a Realtime assistant item)
//! and how much real audio they hold (a final frame padded with silence holds
//! less than 20 ms), so [`Pacer::flush`] can tell the bridge exactly how many
//! milliseconds of the item the caller heard: the `audio_end_ms` of
//! `conversation.item.truncate`, never more than was received.
//!
//! # Bounds
//! The queue starts with room for 10 s and grows (doubling, a rare allocation, not
//! per frame) up to `max_frames` (default 120 s). Beyond that the *oldest* queued
//! frame is dropped and counted in [`PacerStats::overflow_drops`]. If the driver is
//! late by more than three frames, the missed ticks are skipped rather than sent
//! in a burst; [`Tick::skipped`] says how many so the RTP clock can advance.

use std::time::{Duration, Instant};

use crate::FRAME_MS;

const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);
/// Ticks the driver may fall behind before missed ticks are skipped.
const MAX_CATCH_UP: u32 = 3;

/// The bridge's handle for one assistant item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemTag(pub u32);

/// Pacer configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacerConfig<T> {
    /// Elements per frame (160 bytes for G.711, 480 samples for 24 kHz PCM).
    pub frame_len: usize,
    /// The element that sounds like silence (0xFF μ-law, 0xD5 A-law, 0 PCM).
    pub silence: T,
    /// Frames of room allocated up front.
    pub initial_frames: usize,
    /// Most frames ever queued; beyond it the oldest are dropped.
    pub max_frames: usize,
}

impl PacerConfig<u8> {
    /// G.711 frames (160 bytes) with the given silence code.
    pub fn g711(silence: u8) -> PacerConfig<u8> {
        PacerConfig {
            frame_len: 160,
            silence,
            initial_frames: 500,
            max_frames: 6000,
        }
    }
}

impl PacerConfig<i16> {
    /// PCM16 frames at `samples` per 20 ms.
    pub fn pcm(samples: usize) -> PacerConfig<i16> {
        PacerConfig {
            frame_len: samples,
            silence: 0,
            initial_frames: 500,
            max_frames: 6000,
        }
    }
}

/// How much of an item had been played when the pacer was flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemProgress {
    /// The item.
    pub item: ItemTag,
    /// Milliseconds of its audio the caller heard (whole ms, rounded down).
    pub played_ms: u32,
}

/// What [`Pacer::flush`] threw away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Queued frames dropped.
    pub dropped_frames: usize,
    /// The item that was playing, or next to play, with how much of it was heard.
    /// `None` when nothing had been queued since the last flush.
    pub item: Option<ItemProgress>,
}

/// One tick's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick<'a, T> {
    /// Exactly one frame of media (silence when nothing was queued).
    pub frame: &'a [T],
    /// The item this frame belongs to; `None` for silence.
    pub item: Option<ItemTag>,
    /// Whether this frame starts a talk spurt (first audio after silence or a flush):
    /// set the RTP marker bit.
    pub talkspurt_start: bool,
    /// Ticks skipped just before this one because the driver was late.
    pub skipped: u32,
}

impl<T> Tick<'_, T> {
    /// Whether this is agent audio rather than filler silence.
    pub fn is_audio(&self) -> bool {
        self.item.is_some()
    }
}

/// Pacer counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacerStats {
    /// Audio frames played.
    pub played: u64,
    /// Silence frames played.
    pub silence: u64,
    /// Frames dropped because the queue was at `max_frames`.
    pub overflow_drops: u64,
    /// Frames dropped by flushes.
    pub flushed: u64,
    /// Ticks skipped because the driver was late.
    pub skipped_ticks: u64,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    item: ItemTag,
    audio_us: u32,
}

/// A sans-IO playout pacer over frames of `T`.
#[derive(Debug)]
pub struct Pacer<T> {
    cfg: PacerConfig<T>,
    ring: Vec<T>,
    meta: Vec<Meta>,
    head: usize,
    len: usize,
    silence: Box<[T]>,
    next_due: Option<Instant>,
    in_talkspurt: bool,
    /// Item of the last audio frame played and how much of it has been played.
    current: Option<(ItemTag, u64)>,
    stats: PacerStats,
}

impl<T: Copy> Pacer<T> {
    /// An empty pacer; the schedule starts at the first [`poll`](Self::poll).
    pub fn new(cfg: PacerConfig<T>) -> Pacer<T> {
        let frame_len = cfg.frame_len.max(1);
        let max_frames = cfg.max_frames.max(1);
        let initial = cfg.initial_frames.clamp(1, max_frames);
        let cfg = PacerConfig {
            frame_len,
            max_frames,
            initial_frames: initial,
            ..cfg
        };
        Pacer {
            ring: vec![cfg.silence; initial * frame_len],
            meta: vec![
                Meta {
                    item: ItemTag(0),
                    audio_us: 0
                };
                initial
            ],
            head: 0,
            len: 0,
            silence: vec![cfg.silence; frame_len].into_boxed_slice(),
            next_due: None,
            in_talkspurt: false,
            current: None,
            stats: PacerStats::default(),
            cfg,
        }
    }

    /// Counters.
    pub fn stats(&self) -> PacerStats {
        self.stats
    }

    /// Frames queued.
    pub fn queued_frames(&self) -> usize {
        self.len
    }

    /// When the next frame is due (`None` before the first poll).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_due
    }

    fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// Queues one frame of `item` holding `audio_us` microseconds of real audio (20 000
    /// for a full frame). `frame` shorter than a frame is padded with silence, longer
    /// is cut. Returns false when the oldest queued frame had to be dropped.
    pub fn push(&mut self, item: ItemTag, frame: &[T], audio_us: u32) -> bool {
        let mut kept_all = true;
        if self.len == self.capacity() {
            if self.capacity() < self.cfg.max_frames {
                self.grow();
            } else {
                self.head = (self.head + 1) % self.capacity();
                self.len -= 1;
                self.stats.overflow_drops += 1;
                kept_all = false;
            }
        }
        let slot = (self.head + self.len) % self.capacity();
        let fl = self.cfg.frame_len;
        let dst = &mut self.ring[slot * fl..(slot + 1) * fl];
        let n = frame.len().min(fl);
        dst[..n].copy_from_slice(&frame[..n]);
        dst[n..].fill(self.cfg.silence);
        self.meta[slot] = Meta {
            item,
            audio_us: audio_us.min(FRAME_MS * 1000),
        };
        self.len += 1;
        kept_all
    }

    fn grow(&mut self) {
        let cap = self.capacity();
        let new_cap = (cap * 2).min(self.cfg.max_frames);
        let fl = self.cfg.frame_len;
        let mut ring = vec![self.cfg.silence; new_cap * fl];
        let mut meta = vec![self.meta[0]; new_cap];
        for i in 0..self.len {
            let from = (self.head + i) % cap;
            ring[i * fl..(i + 1) * fl].copy_from_slice(&self.ring[from * fl..(from + 1) * fl]);
            meta[i] = self.meta[from];
        }
        self.ring = ring;
        self.meta = meta;
        self.head = 0;
    }

    /// The frame for the tick due at or before `now`, if one is due. Call in a loop
    /// until it returns `None`.
    pub fn poll(&mut self, now: Instant) -> Option<Tick<'_, T>> {
        let due = *self.next_due.get_or_insert(now);
        if now < due {
            return None;
        }
        let mut skipped = 0;
        let mut due = due;
        let lag = now.duration_since(due);
        if lag > FRAME * MAX_CATCH_UP {
            // Too far behind to catch up without a burst: skip to the current tick.
            skipped = (lag.as_micros() / FRAME.as_micros()) as u32;
            due += FRAME * skipped;
            self.stats.skipped_ticks += u64::from(skipped);
        }
        self.next_due = Some(due + FRAME);
        if self.len == 0 {
            self.in_talkspurt = false;
            self.stats.silence += 1;
            return Some(Tick {
                frame: &self.silence,
                item: None,
                talkspurt_start: false,
                skipped,
            });
        }
        let slot = self.head;
        self.head = (self.head + 1) % self.capacity();
        self.len -= 1;
        let meta = self.meta[slot];
        let played = match self.current {
            Some((item, us)) if item == meta.item => us,
            _ => 0,
        };
        self.current = Some((meta.item, played + u64::from(meta.audio_us)));
        let talkspurt_start = !self.in_talkspurt;
        self.in_talkspurt = true;
        self.stats.played += 1;
        let fl = self.cfg.frame_len;
        Some(Tick {
            frame: &self.ring[slot * fl..(slot + 1) * fl],
            item: Some(meta.item),
            talkspurt_start,
            skipped,
        })
    }

    /// Barge-in: drops everything queued at once and reports how much of the item
    /// that was playing (or about to) the caller heard.
    pub fn flush(&mut self) -> Flushed {
        let dropped = self.len;
        let item = if self.len > 0 {
            let head = self.meta[self.head].item;
            let played_us = match self.current {
                Some((item, us)) if item == head => us,
                _ => 0,
            };
            Some(ItemProgress {
                item: head,
                played_ms: (played_us / 1000) as u32,
            })
        } else {
            self.current.map(|(item, us)| ItemProgress {
                item,
                played_ms: (us / 1000) as u32,
            })
        };
        self.head = 0;
        self.len = 0;
        self.in_talkspurt = false;
        self.current = None;
        self.stats.flushed += dropped as u64;
        Flushed {
            dropped_frames: dropped,
            item,
        }
    }
}
