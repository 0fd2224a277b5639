//! Jitter buffer: reorders incoming RTP, drops duplicates and late packets, and
//! plays out exactly one frame per 20 ms tick at an adaptive depth.
//!
//! # Drive contract
//! The media leg owns the socket and the clock. For every RTP packet of the call's
//! audio stream it calls [`JitterBuffer::push`]; every 20 ms it calls
//! [`JitterBuffer::pop`] once and decodes what comes out:
//!
//! ```
//! # use std::time::{Duration, Instant};
//! # use tenex_media::jitter::{JitterBuffer, JitterConfig, Playout};
//! # use tenex_media::rtp::{PayloadType, RtpPacket, RtpSender, RtpTimestamp, SeqNo, Ssrc};
//! let mut jb = JitterBuffer::new(JitterConfig::default());
//! let mut tx = RtpSender::new(Ssrc(7), SeqNo(1), RtpTimestamp(0));
//! let t0 = Instant::now();
//! let mut wire = [0u8; 200];
//! for tick in 0..10u32 {
//!     let now = t0 + Duration::from_millis(20 * u64::from(tick));
//!     // A packet arrives (in reality: whenever the socket says so)...
//!     let n = tx.write_media(PayloadType::PCMU, tick == 0, &[0xFF; 160], 160, &mut wire).unwrap();
//!     jb.push(now, &RtpPacket::parse(&wire[..n]).unwrap());
//!     // ...and the 20 ms tick plays one frame.
//!     match jb.pop(now) {
//!         Playout::Frame { payload, .. } => { /* decode payload */ }
//!         Playout::Lost { fec_source, .. } => { /* conceal, or Opus FEC from fec_source */ }
//!         Playout::Waiting => { /* still buffering: play silence */ }
//!     }
//! }
//! ```
//!
//! # Policy
//! - Playout starts once the buffer holds the target depth (40 ms to begin with).
//! - At its playout time a missing packet is declared lost and concealed; if the
//!   packet after it is already here it is offered for Opus in-band FEC. Arriving
//!   later, it is dropped as late.
//! - When the buffer runs dry while playing (an underrun), one frame is concealed
//!   *without* advancing. If the missing packet then arrives it was late: playout
//!   resumes one frame later than before (the depth grew) and the target is raised.
//!   After `max_depth` of continuous underrun (hold, silence suppression, a dead
//!   peer) the buffer goes back to waiting and re-buffers when packets return; a
//!   pause like that does not raise the target.
//! - The target depth is one frame plus three times the RFC 3550 jitter estimate
//!   (rounded to the nearest frame),
//!   raised by underruns (a floor that relaxes after 10 s without one), always
//!   between `min_depth` (20 ms) and `max_depth` (60 ms); the start depth stands
//!   until 50 packets have warmed the estimate up. A depth above target for 25
//!   ticks in a row (0.5 s) discards the oldest frame.
//! - A new SSRC, or a sequence jump of more than 3000 (RFC 3550 `MAX_DROPOUT`),
//!   restarts the stream. A packet just beyond the window (playout stalled) slides
//!   the window forward, discarding the oldest frames.
//! - Storage is a fixed ring of slots allocated at construction; nothing allocates
//!   per packet. Payloads larger than `max_payload` are rejected and counted.

mod adapt;
mod stats;

use std::time::Instant;

pub use stats::JitterStats;

use crate::rtcp::JitterEstimator;
use crate::rtp::{PayloadType, RtpPacket, RtpTimestamp, SeqNo, SeqUnwrapper, Ssrc};
use adapt::Adapt;

/// Jitter buffer configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
    /// Media duration of one packet, in ms (the negotiated ptime).
    pub frame_ms: u32,
    /// Smallest target depth, ms.
    pub min_depth_ms: u32,
    /// Largest target depth, ms.
    pub max_depth_ms: u32,
    /// Depth to reach before playout starts, ms.
    pub start_depth_ms: u32,
    /// Packets the ring can hold; the reorder window (a power of two is not required).
    pub slots: usize,
    /// Largest payload accepted, bytes.
    pub max_payload: usize,
    /// The RFC 4733 telephone-event payload type, if negotiated. Events share the
    /// stream's sequence numbers, so they are buffered like audio (a key press is not
    /// a loss) and played out with their payload type, but their timestamps (fixed
    /// for the length of an event) stay out of the jitter estimate.
    pub event_payload_type: Option<PayloadType>,
}

impl Default for JitterConfig {
    fn default() -> JitterConfig {
        JitterConfig {
            clock_rate: 8000,
            frame_ms: 20,
            min_depth_ms: 20,
            max_depth_ms: 60,
            start_depth_ms: 40,
            slots: 32,
            max_payload: 1280,
            event_payload_type: None,
        }
    }
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Accepted,
    /// Already stored (or already played): ignored.
    Duplicate,
    /// Its playout time has passed: dropped.
    Late,
    /// Payload over `max_payload`: dropped.
    TooLarge,
    /// Started a new stream (new SSRC or sequence jump); stored as its first packet.
    Restarted,
}

/// What to play at this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The packet due now.
    Frame {
        /// Its payload.
        payload: &'a [u8],
        /// Its payload type (audio, or the telephone-event type).
        payload_type: PayloadType,
        /// Its sequence number.
        seq: SeqNo,
        /// Its media timestamp.
        timestamp: RtpTimestamp,
        /// Its marker bit.
        marker: bool,
    },
    /// Nothing to play: conceal one frame.
    Lost {
        /// The packet that should have played (`None` during an underrun).
        seq: Option<SeqNo>,
        /// The next packet, when already buffered: Opus can recover the lost frame
        /// from its in-band FEC data.
        fec_source: Option<&'a [u8]>,
    },
    /// Not playing yet (buffering at start or after a long gap): play silence.
    Waiting,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    ext_seq: u64,
    timestamp: RtpTimestamp,
    payload_type: PayloadType,
    marker: bool,
    len: usize,
}

const EMPTY: u64 = u64::MAX;

/// A sequence jump larger than this restarts the stream (RFC 3550 A.1).
const MAX_DROPOUT: u64 = 3000;

/// A sans-IO jitter buffer for one RTP audio stream.
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    slots: Box<[Slot]>,
    payloads: Box<[u8]>,
    ssrc: Option<Ssrc>,
    unwrapper: SeqUnwrapper,
    /// Extended sequence number due at the next tick.
    next: Option<u64>,
    highest: Option<u64>,
    playing: bool,
    underrun_run: u32,
    adapt: Adapt,
    jitter: JitterEstimator,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(cfg: JitterConfig) -> JitterBuffer {
        let slots = cfg.slots.max(4);
        let cfg = JitterConfig { slots, ..cfg };
        JitterBuffer {
            slots: vec![
                Slot {
                    ext_seq: EMPTY,
                    timestamp: RtpTimestamp(0),
                    payload_type: PayloadType::PCMU,
                    marker: false,
                    len: 0,
                };
                slots
            ]
            .into_boxed_slice(),
            payloads: vec![0u8; slots * cfg.max_payload].into_boxed_slice(),
            ssrc: None,
            unwrapper: SeqUnwrapper::default(),
            next: None,
            highest: None,
            playing: false,
            underrun_run: 0,
            adapt: Adapt::new(
                cfg.frame_ms,
                cfg.min_depth_ms,
                cfg.max_depth_ms,
                cfg.start_depth_ms,
            ),
            jitter: JitterEstimator::new(cfg.clock_rate),
            stats: JitterStats::default(),
            cfg,
        }
    }

    /// Counters since the stream started.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// RFC 3550 interarrival jitter, in timestamp units.
    pub fn jitter_ts(&self) -> u32 {
        self.jitter.jitter()
    }

    /// Current target depth in ms.
    pub fn target_depth_ms(&self) -> u32 {
        self.adapt.target_ms()
    }

    /// Frames between the next one due and the highest received, inclusive.
    pub fn depth_frames(&self) -> u32 {
        match (self.next, self.highest) {
            (Some(n), Some(h)) if h >= n => (h - n + 1).min(u64::from(u32::MAX)) as u32,
            _ => 0,
        }
    }

    /// Whether playout has started.
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// The stream's SSRC, once a packet has arrived.
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.ssrc
    }

    /// Offers one received packet.
    pub fn push(&mut self, now: Instant, pkt: &RtpPacket<'_>) -> PushOutcome {
        if pkt.payload.len() > self.cfg.max_payload {
            self.stats.rejected += 1;
            return PushOutcome::TooLarge;
        }
        let mut restarted = false;
        if self.ssrc != Some(pkt.ssrc) {
            restarted = self.ssrc.is_some();
            self.restart(pkt.ssrc);
        }
        let mut ext = self.unwrapper.unwrap(pkt.seq);
        if let (Some(next), Some(highest)) = (self.next, self.highest)
            && ext >= next + self.slots.len() as u64
        {
            if ext > highest + MAX_DROPOUT {
                // The sender jumped (RFC 3550 A.1): start over from this packet.
                self.restart(pkt.ssrc);
                ext = self.unwrapper.unwrap(pkt.seq);
                restarted = true;
            } else {
                // Playout fell behind the window: slide it, discarding the oldest.
                let new_next = ext + 1 - self.slots.len() as u64;
                for old in next..new_next {
                    if self.clear_slot(old) {
                        self.stats.discarded += 1;
                    }
                }
                self.next = Some(new_next);
            }
        }
        if restarted {
            self.stats.resets += 1;
        }
        if let Some(next) = self.next
            && ext < next
        {
            let slot = &self.slots[(ext % self.slots.len() as u64) as usize];
            if ext + (self.slots.len() as u64) < next || slot.ext_seq != ext {
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        let index = (ext % self.slots.len() as u64) as usize;
        if self.slots[index].ext_seq == ext {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        if self.playing && self.underrun_run > 0 && self.next == Some(ext) {
            // The packet we have been concealing for turned up: it was late, not
            // absent. Only this (not a pause in the stream) deepens the buffer.
            self.adapt.on_underrun();
            self.underrun_run = 0;
        }
        if Some(pkt.payload_type) != self.cfg.event_payload_type {
            self.jitter.on_packet(pkt.timestamp, now);
            self.adapt.on_jitter(self.jitter_duration());
        }
        let at = index * self.cfg.max_payload;
        self.payloads[at..at + pkt.payload.len()].copy_from_slice(pkt.payload);
        self.slots[index] = Slot {
            ext_seq: ext,
            timestamp: pkt.timestamp,
            payload_type: pkt.payload_type,
            marker: pkt.marker,
            len: pkt.payload.len(),
        };
        if self.stats.received == 0 {
            self.stats.base_seq = ext;
        }
        self.stats.received += 1;
        match self.highest {
            Some(h) if ext < h => self.stats.reordered += 1,
            _ => self.highest = Some(ext),
        }
        self.stats.highest_seq = self.highest.unwrap_or(ext);
        self.stats.base_seq = self.stats.base_seq.min(ext);
        if self.next.is_none_or(|n| ext < n && !self.playing) {
            self.next = Some(ext);
        }
        if restarted {
            PushOutcome::Restarted
        } else {
            PushOutcome::Accepted
        }
    }

    /// Plays one tick. Call exactly once every `frame_ms`.
    pub fn pop(&mut self, _now: Instant) -> Playout<'_> {
        let (Some(next), Some(highest)) = (self.next, self.highest) else {
            return Playout::Waiting;
        };
        if !self.playing {
            if self.depth_frames() < self.adapt.target() {
                return Playout::Waiting;
            }
            self.playing = true;
        }
        if highest < next {
            return self.underrun();
        }
        self.underrun_run = 0;
        let mut next = next;
        if self.adapt.on_tick(self.depth_frames()) {
            if self.clear_slot(next) {
                self.stats.discarded += 1;
            }
            next += 1;
        }
        self.next = Some(next + 1);
        let index = self.index(next);
        let slot = self.slots[index];
        if slot.ext_seq == next {
            self.slots[index].ext_seq = EMPTY;
            let at = index * self.cfg.max_payload;
            return Playout::Frame {
                payload: &self.payloads[at..at + slot.len],
                payload_type: slot.payload_type,
                seq: SeqNo(next as u16),
                timestamp: slot.timestamp,
                marker: slot.marker,
            };
        }
        self.stats.lost += 1;
        self.stats.concealed += 1;
        let following = self.slots[self.index(next + 1)];
        let fec_source = (following.ext_seq == next + 1).then(|| {
            let at = self.index(next + 1) * self.cfg.max_payload;
            &self.payloads[at..at + following.len]
        });
        Playout::Lost {
            seq: Some(SeqNo(next as u16)),
            fec_source,
        }
    }

    fn underrun(&mut self) -> Playout<'_> {
        self.underrun_run += 1;
        let limit = self.cfg.max_depth_ms.div_ceil(self.cfg.frame_ms).max(1);
        if self.underrun_run > limit {
            // A long gap, not jitter: stop and re-buffer when packets come back.
            self.playing = false;
            return Playout::Waiting;
        }
        self.stats.underruns += 1;
        self.stats.concealed += 1;
        Playout::Lost {
            seq: None,
            fec_source: None,
        }
    }

    fn index(&self, ext: u64) -> usize {
        (ext % self.slots.len() as u64) as usize
    }

    /// Empties the slot holding `ext`; returns whether it held it.
    fn clear_slot(&mut self, ext: u64) -> bool {
        let i = self.index(ext);
        let held = self.slots[i].ext_seq == ext;
        if held {
            self.slots[i].ext_seq = EMPTY;
        }
        held
    }

    fn jitter_duration(&self) -> std::time::Duration {
        std::time::Duration::from_micros(
            u64::from(self.jitter.jitter()) * 1_000_000 / u64::from(self.cfg.clock_rate.max(1)),
        )
    }

    fn restart(&mut self, ssrc: Ssrc) {
        for s in self.slots.iter_mut() {
            s.ext_seq = EMPTY;
        }
        self.ssrc = Some(ssrc);
        self.unwrapper = SeqUnwrapper::default();
        self.next = None;
        self.highest = None;
        self.playing = false;
        self.underrun_run = 0;
        self.jitter = JitterEstimator::new(self.cfg.clock_rate);
        let resets = self.stats.resets;
        self.stats = JitterStats {
            resets,
            ..JitterStats::default()
        };
    }
}
