//! Bounded audio rings between a call's legs. Audio never travels through actor
//! mailboxes: each direction is a fixed-capacity queue of 20 ms frames.
//! Overflow policy: drop the oldest frame and count it (a consumer that fell
//! behind hears the newest audio, and the count shows up in the metrics).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Instant;

use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;

/// Largest frame: 20 ms at 48 kHz.
pub const MAX_FRAME: usize = 960;

/// One 20 ms frame of mono PCM16 at the leg's rate.
#[derive(Debug, Clone, Copy)]
pub struct AudioFrame {
    samples: [i16; MAX_FRAME],
    len: u16,
    /// For agent audio: the assistant item it belongs to (0 = none).
    pub item: u32,
    /// Microseconds of real audio in the frame (less than 20 000 for a padded end).
    pub audio_us: u32,
    /// When the frame left its producer (caller audio: the jitter buffer), for latency.
    pub at: Option<Instant>,
}

impl AudioFrame {
    /// A frame holding `pcm` (cut to [`MAX_FRAME`] samples).
    pub fn new(pcm: &[i16], item: u32, audio_us: u32) -> AudioFrame {
        let len = pcm.len().min(MAX_FRAME);
        let mut samples = [0i16; MAX_FRAME];
        samples[..len].copy_from_slice(&pcm[..len]);
        AudioFrame {
            samples,
            len: len as u16,
            item,
            audio_us,
            at: None,
        }
    }

    /// The same frame stamped with the time it was produced.
    pub fn stamped(mut self, at: Instant) -> AudioFrame {
        self.at = Some(at);
        self
    }

    /// The samples.
    pub fn pcm(&self) -> &[i16] {
        &self.samples[..self.len as usize]
    }
}

/// A bounded single-direction audio queue, drop-oldest on overflow.
#[derive(Debug, Clone)]
pub struct AudioRing {
    queue: Arc<ArrayQueue<AudioFrame>>,
    dropped: Arc<AtomicU64>,
    ready: Arc<Notify>,
}

impl AudioRing {
    /// A ring of `frames` capacity (at least 1).
    pub fn new(frames: usize) -> AudioRing {
        AudioRing {
            queue: Arc::new(ArrayQueue::new(frames.max(1))),
            dropped: Arc::new(AtomicU64::new(0)),
            ready: Arc::new(Notify::new()),
        }
    }

    /// Adds a frame; when full, the oldest frame is dropped and counted.
    pub fn push(&self, frame: AudioFrame) {
        if self.queue.force_push(frame).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.ready.notify_one();
    }

    /// Resolves once a frame has been pushed since the last wake-up (a push while
    /// nobody waits is remembered, so no wake-up is lost).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Takes the oldest frame.
    pub fn pop(&self) -> Option<AudioFrame> {
        self.queue.pop()
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Discards everything waiting (barge-in); returns how many frames.
    pub fn clear(&self) -> usize {
        let mut n = 0;
        while self.queue.pop().is_some() {
            n += 1;
        }
        n
    }

    /// Frames dropped on overflow so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_drops_the_oldest_and_counts() {
        let ring = AudioRing::new(3);
        for i in 0..5 {
            ring.push(AudioFrame::new(&[i; 160], 0, 20_000));
        }
        assert_eq!(ring.dropped(), 2);
        let got: Vec<i16> = std::iter::from_fn(|| ring.pop())
            .map(|f| f.pcm()[0])
            .collect();
        assert_eq!(got, [2, 3, 4]);
    }

    #[test]
    fn clear_empties_and_reports() {
        let ring = AudioRing::new(8);
        ring.push(AudioFrame::new(&[1; 960], 7, 20_000));
        ring.push(AudioFrame::new(&[2; 960], 7, 20_000));
        assert_eq!(ring.clear(), 2);
        assert!(ring.is_empty());
    }
}
