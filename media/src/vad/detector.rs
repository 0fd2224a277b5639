//! The detector's state machine: onset, run, hangover, and the event queue.

use super::level::{MIN_DBFS, NoiseFloor, frame_dbfs, threshold_to_dbfs};
use super::{SpeechRun, VadConfig, VadError, VadEvent};
use crate::audio::{FRAME_MS, SampleRate};

/// Queued events: one frame produces at most two (start and confirmation).
const EVENT_QUEUE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Silence,
    /// `frames` consecutive active frames starting at `start`, not yet a run.
    Onset {
        start: u64,
        frames: u32,
    },
    /// A run from frame `start`; `end` is one past its last active frame.
    Speech {
        start: u64,
        end: u64,
        voiced: u64,
        silent: u32,
        confirmed: bool,
    },
}

/// A sans-IO energy detector for one mono stream. See the module docs.
#[derive(Debug, Clone)]
pub struct EnergyVad {
    rate: SampleRate,
    config: VadConfig,
    gate_db: f32,
    onset_frames: u32,
    hangover_frames: u32,
    frames: u64,
    floor: NoiseFloor,
    last_db: f32,
    state: State,
    committed_ms: u64,
    queue: [Option<VadEvent>; EVENT_QUEUE],
    queue_head: usize,
    queue_len: usize,
    dropped_events: u64,
}

impl EnergyVad {
    /// A detector for frames at `rate`.
    pub fn new(rate: SampleRate, config: VadConfig) -> Result<EnergyVad, VadError> {
        let mut vad = EnergyVad {
            rate,
            config,
            gate_db: 0.0,
            onset_frames: 1,
            hangover_frames: 1,
            frames: 0,
            floor: NoiseFloor::default(),
            last_db: MIN_DBFS,
            state: State::Silence,
            committed_ms: 0,
            queue: [None; EVENT_QUEUE],
            queue_head: 0,
            queue_len: 0,
            dropped_events: 0,
        };
        vad.set_config(config)?;
        Ok(vad)
    }

    /// Replaces the settings (e.g. on `session.update`), keeping the timeline,
    /// the floor and any run in progress. On error nothing changes.
    pub fn set_config(&mut self, config: VadConfig) -> Result<(), VadError> {
        config.validate()?;
        self.config = config;
        self.gate_db = threshold_to_dbfs(config.threshold);
        self.onset_frames = ms_to_frames(config.onset_ms);
        self.hangover_frames = ms_to_frames(config.silence_duration_ms);
        Ok(())
    }

    /// Feeds the next 20 ms frame. Queues 0–2 events; drain them with [`poll_event`](Self::poll_event).
    pub fn handle_frame(&mut self, frame: &[i16]) -> Result<(), VadError> {
        let want = self.rate.frame_samples();
        if frame.len() != want {
            return Err(VadError::FrameLength {
                got: frame.len(),
                want,
            });
        }
        let db = frame_dbfs(frame);
        self.last_db = db;
        let active = self
            .floor
            .classify(db, self.gate_db, self.config.noise_floor);
        let k = self.frames;
        self.frames += 1;
        self.step(k, active);
        Ok(())
    }

    /// The next queued event, oldest first.
    pub fn poll_event(&mut self) -> Option<VadEvent> {
        if self.queue_len == 0 {
            return None;
        }
        let ev = self.queue[self.queue_head].take();
        self.queue_head = (self.queue_head + 1) % EVENT_QUEUE;
        self.queue_len -= 1;
        ev
    }

    /// The stream's sample rate.
    pub fn sample_rate(&self) -> SampleRate {
        self.rate
    }

    /// The current settings.
    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    /// Audio fed so far, in ms (the end of the last frame).
    pub fn position_ms(&self) -> u64 {
        self.frames * FRAME_MS as u64
    }

    /// Whether a run is in progress (started and not stopped; includes the hangover).
    pub fn is_speaking(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// The run in progress, if any: the bridge's "how long has the caller been talking".
    pub fn current_run(&self) -> Option<SpeechRun> {
        match self.state {
            State::Speech {
                start,
                end,
                voiced,
                confirmed,
                ..
            } => Some(SpeechRun {
                start_ms: frames_to_ms(start),
                end_ms: frames_to_ms(end),
                voiced_ms: frames_to_ms(voiced),
                confirmed,
            }),
            _ => None,
        }
    }

    /// The adaptive noise floor in dBFS (`None` before the first frame or when disabled).
    pub fn noise_floor_dbfs(&self) -> Option<f32> {
        self.config.noise_floor.and(self.floor.level())
    }

    /// The last frame's energy in dBFS.
    pub fn last_frame_dbfs(&self) -> f32 {
        self.last_db
    }

    /// The absolute gate derived from `threshold`, in dBFS.
    pub fn threshold_dbfs(&self) -> f32 {
        self.gate_db
    }

    /// Events lost because the queue was not drained (oldest dropped first).
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Advances the state machine by frame `k`.
    fn step(&mut self, k: u64, active: bool) {
        self.state = match (self.state, active) {
            (State::Silence | State::Onset { .. }, false) => State::Silence,
            (State::Silence, true) => self.onset(k, 1),
            (State::Onset { start, frames }, true) => self.onset(start, frames + 1),
            (
                State::Speech {
                    start,
                    voiced,
                    confirmed,
                    ..
                },
                true,
            ) => self.voiced(start, voiced + 1, confirmed, k + 1),
            (
                State::Speech {
                    start,
                    end,
                    voiced,
                    silent,
                    confirmed,
                },
                false,
            ) => {
                let silent = silent + 1;
                if silent < self.hangover_frames {
                    State::Speech {
                        start,
                        end,
                        voiced,
                        silent,
                        confirmed,
                    }
                } else {
                    let audio_end_ms = frames_to_ms(k + 1);
                    self.committed_ms = audio_end_ms;
                    self.push(VadEvent::SpeechStopped {
                        speech_start_ms: frames_to_ms(start),
                        speech_end_ms: frames_to_ms(end),
                        audio_end_ms,
                        voiced_ms: frames_to_ms(voiced),
                        confirmed,
                    });
                    State::Silence
                }
            }
        };
    }

    /// `frames` consecutive active frames from `start`: promote to a run once the onset is met.
    fn onset(&mut self, start: u64, frames: u32) -> State {
        if frames < self.onset_frames {
            return State::Onset { start, frames };
        }
        let speech_start_ms = frames_to_ms(start);
        let padded = speech_start_ms.saturating_sub(self.config.prefix_padding_ms as u64);
        self.push(VadEvent::SpeechStarted {
            speech_start_ms,
            audio_start_ms: padded.max(self.committed_ms),
        });
        let end = start + frames as u64;
        self.voiced(start, frames as u64, false, end)
    }

    /// A run whose latest active frame ends at frame `end`; confirms it once long enough.
    fn voiced(&mut self, start: u64, voiced: u64, confirmed: bool, end: u64) -> State {
        let confirm = !confirmed && frames_to_ms(voiced) >= self.config.min_speech_ms as u64;
        if confirm {
            self.push(VadEvent::SpeechConfirmed {
                speech_start_ms: frames_to_ms(start),
                at_ms: frames_to_ms(end),
            });
        }
        State::Speech {
            start,
            end,
            voiced,
            silent: 0,
            confirmed: confirmed || confirm,
        }
    }

    /// Queues an event; when full, the oldest is dropped and counted.
    fn push(&mut self, event: VadEvent) {
        if self.queue_len == EVENT_QUEUE {
            self.queue_head = (self.queue_head + 1) % EVENT_QUEUE;
            self.queue_len -= 1;
            self.dropped_events += 1;
        }
        let tail = (self.queue_head + self.queue_len) % EVENT_QUEUE;
        self.queue[tail] = Some(event);
        self.queue_len += 1;
    }
}

/// Whole frames covering `ms`, at least one.
fn ms_to_frames(ms: u32) -> u32 {
    ms.div_ceil(FRAME_MS).max(1)
}

fn frames_to_ms(frames: u64) -> u64 {
    frames * FRAME_MS as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rounding() {
        assert_eq!(ms_to_frames(0), 1);
        assert_eq!(ms_to_frames(40), 2);
        assert_eq!(ms_to_frames(41), 3);
        assert_eq!(ms_to_frames(500), 25);
    }

    #[test]
    fn queue_drops_oldest_when_not_drained() {
        let config = VadConfig {
            onset_ms: 20,
            min_speech_ms: 0,
            silence_duration_ms: 20,
            noise_floor: None,
            ..VadConfig::default()
        };
        let mut vad = EnergyVad::new(SampleRate::Hz8000, config).expect("vad");
        let loud = [8000i16; 160];
        let quiet = [0i16; 160];
        // start+confirm, stop, start+confirm: five events into a queue of four.
        for f in [&loud, &quiet, &loud] {
            vad.handle_frame(f).expect("frame");
        }
        assert_eq!(vad.dropped_events(), 1);
        assert!(matches!(
            vad.poll_event(),
            Some(VadEvent::SpeechConfirmed { at_ms: 20, .. })
        ));
        let rest: Vec<_> = std::iter::from_fn(|| vad.poll_event()).collect();
        assert_eq!(rest.len(), 3);
    }
}
