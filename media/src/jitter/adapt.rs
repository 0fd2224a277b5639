//! How deep the buffer should be: derived from the jitter estimate, raised by
//! underruns, and only ever between the configured minimum and maximum.

use std::time::Duration;

/// Frames the depth may stay above target before one is discarded.
const SHRINK_AFTER_TICKS: u32 = 25;
/// Ticks without an underrun before the underrun floor relaxes by one frame.
const FLOOR_DECAY_TICKS: u32 = 500;
/// Packets to observe before the jitter estimate may move the target away from the
/// start depth (the RFC 3550 estimator has a time constant of 16 packets).
const WARMUP_PACKETS: u32 = 50;

/// Target-depth controller, in frames.
#[derive(Debug, Clone)]
pub(crate) struct Adapt {
    frame_ms: u32,
    min: u32,
    max: u32,
    target: u32,
    underrun_floor: u32,
    since_underrun: u32,
    over_target: u32,
    observed: u32,
}

impl Adapt {
    pub(crate) fn new(frame_ms: u32, min_ms: u32, max_ms: u32, start_ms: u32) -> Adapt {
        let frames = |ms: u32| ms.div_ceil(frame_ms).max(1);
        let (min, max) = (frames(min_ms), frames(max_ms).max(frames(min_ms)));
        Adapt {
            frame_ms,
            min,
            max,
            target: frames(start_ms).clamp(min, max),
            underrun_floor: min,
            since_underrun: 0,
            over_target: 0,
            observed: 0,
        }
    }

    /// Target depth in frames.
    pub(crate) fn target(&self) -> u32 {
        self.target
    }

    pub(crate) fn target_ms(&self) -> u32 {
        self.target * self.frame_ms
    }

    /// Recomputes the target from the jitter estimate: one frame plus three times the
    /// mean jitter, rounded to the nearest frame, never below the underrun floor.
    /// (Rounding down small jitter is safe: the frame being played already leaves up
    /// to one frame of slack, and packets that do arrive late raise the floor.)
    /// Until [`WARMUP_PACKETS`] estimates have been seen the start depth stands.
    pub(crate) fn on_jitter(&mut self, jitter: Duration) {
        self.observed = self.observed.saturating_add(1);
        if self.observed < WARMUP_PACKETS {
            return;
        }
        let spread_ms = jitter.as_secs_f64() * 1000.0 * 3.0;
        let from_jitter = 1 + (spread_ms / f64::from(self.frame_ms)).round() as u32;
        self.target = from_jitter
            .max(self.underrun_floor)
            .clamp(self.min, self.max);
    }

    /// The buffer ran dry while playing: wait one more frame from now on.
    pub(crate) fn on_underrun(&mut self) {
        self.underrun_floor = (self.underrun_floor + 1).min(self.max);
        self.target = self.target.max(self.underrun_floor);
        self.since_underrun = 0;
    }

    /// Called once per played tick with the current depth; returns true when the depth
    /// has stayed above target for [`SHRINK_AFTER_TICKS`] ticks and one frame should be
    /// discarded to bring latency back down.
    pub(crate) fn on_tick(&mut self, depth: u32) -> bool {
        self.since_underrun = self.since_underrun.saturating_add(1);
        if self.since_underrun >= FLOOR_DECAY_TICKS && self.underrun_floor > self.min {
            self.underrun_floor -= 1;
            self.since_underrun = 0;
        }
        if depth > self.target {
            self.over_target += 1;
        } else {
            self.over_target = 0;
        }
        if self.over_target >= SHRINK_AFTER_TICKS {
            self.over_target = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warm(a: &mut Adapt) {
        for _ in 0..WARMUP_PACKETS {
            a.on_jitter(Duration::ZERO);
        }
    }

    #[test]
    fn start_depth_holds_until_the_estimate_has_warmed_up() {
        let mut a = Adapt::new(20, 20, 60, 40);
        for _ in 1..WARMUP_PACKETS {
            a.on_jitter(Duration::ZERO);
            assert_eq!(a.target_ms(), 40);
        }
        a.on_jitter(Duration::ZERO);
        assert_eq!(a.target_ms(), 20);
    }

    #[test]
    fn target_follows_jitter_within_bounds() {
        let mut a = Adapt::new(20, 20, 60, 40);
        assert_eq!(a.target_ms(), 40);
        warm(&mut a);
        assert_eq!(a.target_ms(), 20);
        a.on_jitter(Duration::from_millis(2)); // 6 ms spread rounds to no extra frame
        assert_eq!(a.target_ms(), 20);
        a.on_jitter(Duration::from_millis(5)); // 15 ms spread -> one extra frame
        assert_eq!(a.target_ms(), 40);
        a.on_jitter(Duration::from_millis(100));
        assert_eq!(a.target_ms(), 60);
    }

    #[test]
    fn underruns_raise_a_floor_that_decays() {
        let mut a = Adapt::new(20, 20, 60, 20);
        warm(&mut a);
        a.on_underrun();
        assert_eq!(a.target_ms(), 40);
        a.on_jitter(Duration::ZERO);
        assert_eq!(
            a.target_ms(),
            40,
            "floor holds against a low jitter estimate"
        );
        for _ in 0..FLOOR_DECAY_TICKS {
            a.on_tick(2);
        }
        a.on_jitter(Duration::ZERO);
        assert_eq!(a.target_ms(), 20);
    }

    #[test]
    fn persistent_excess_depth_discards_one_frame() {
        let mut a = Adapt::new(20, 20, 60, 20);
        warm(&mut a);
        let discards: Vec<bool> = (0..SHRINK_AFTER_TICKS).map(|_| a.on_tick(4)).collect();
        assert_eq!(discards.iter().filter(|&&d| d).count(), 1);
        assert!(discards[SHRINK_AFTER_TICKS as usize - 1]);
        assert!(!a.on_tick(1), "depth at target is fine");
    }
}
