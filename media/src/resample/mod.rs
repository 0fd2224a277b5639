//! Streaming sample-rate conversion between 8, 16, 24 and 48 kHz.
//!
//! One 20 ms frame in gives exactly one 20 ms frame out, from the very first
//! call: never an empty frame, never a burst. Every pair of supported rates is a
//! small rational ratio `up / down`, so conversion is an exact polyphase FIR:
//! a Kaiser-windowed sinc prototype (62 dB stop band starting at the lower
//! Nyquist frequency, pass band to 82% of it) split into `up` branches of Q14
//! taps and run in 16-bit fixed point. Because
//! a 20 ms frame is a whole number of periods of the phase pattern, the same
//! precomputed plan serves every frame and the output count is fixed by integer
//! arithmetic. Filter history is carried across frames; processing never
//! allocates. The algorithmic delay (half the prototype) is reported by
//! [`Resampler::delay`] and is under 5 ms for every pair.
//!
//! rubato's FFT resampler was measured first (see the README's benchmark
//! table): with blocks small enough for a 5 ms delay it costs more per frame than
//! the whole uplink budget. The tests use it as an independent reference.

mod design;
mod kernel;

use std::time::Duration;

use thiserror::Error;

use crate::audio::SampleRate;
use kernel::{Bank, Step};

/// Why a conversion could not run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ResampleError {
    /// The input is not exactly one 20 ms frame at the input rate.
    #[error("input has {got} samples, expected one 20 ms frame of {want}")]
    InputLength {
        /// Samples supplied.
        got: usize,
        /// Samples in one frame.
        want: usize,
    },
    /// The output buffer cannot hold one 20 ms frame at the output rate.
    #[error("output holds {got} samples, need {want}")]
    OutputLength {
        /// Capacity supplied.
        got: usize,
        /// Samples in one frame.
        want: usize,
    },
}

/// A streaming mono converter from one [`SampleRate`] to another.
#[derive(Debug)]
pub struct Resampler {
    from: SampleRate,
    to: SampleRate,
    engine: Option<Polyphase>,
}

#[derive(Debug)]
struct Polyphase {
    /// Taps per branch, a multiple of [`kernel::LANES`].
    taps: usize,
    /// `up` branches of Q14 coefficients and the per-output plan.
    bank: Bank,
    /// `taps - 1` samples of history followed by the current frame.
    history: Box<[i16]>,
    delay_samples: usize,
}

impl Polyphase {
    fn new(from: SampleRate, to: SampleRate) -> Polyphase {
        let (f, t) = (from.hz() as usize, to.hz() as usize);
        let g = gcd(f, t);
        let (up, down) = (t / g, f / g);
        let intermediate = (f * up) as f64;
        let nyquist = f.min(t) as f64 / 2.0;
        let proto = design::prototype(intermediate, nyquist, up * down);
        let n = proto.taps.len();
        let taps = n.div_ceil(up).next_multiple_of(kernel::LANES);

        // Branch p, coefficient j (oldest first) = up * h[p + (taps - 1 - j) * up].
        let scale = f64::from(1u32 << kernel::TAP_SHIFT);
        let mut branches = vec![0i16; up * taps];
        for p in 0..up {
            for j in 0..taps {
                let idx = p + (taps - 1 - j) * up;
                if idx < n {
                    branches[p * taps + j] = (up as f64 * proto.taps[idx] * scale).round() as i16;
                }
            }
        }
        // Output n sits at intermediate index n * down: branch (n*down) % up, newest
        // input (n*down) / up, whose history index is that + taps - 1.
        let frame_out = to.frame_samples();
        let plan: Box<[Step]> = (0..frame_out)
            .map(|n| {
                let pos = n * down;
                Step {
                    branch: ((pos % up) * taps) as u32,
                    start: (pos / up) as u32,
                }
            })
            .collect();
        let history_len = taps - 1 + from.frame_samples();
        // The plan is derived from the same sizes, so it always fits; `Bank` checks it.
        let bank = Bank::new(branches.into_boxed_slice(), taps, plan, history_len)
            .expect("polyphase plan fits its own branches and history");
        Polyphase {
            taps,
            bank,
            history: vec![0; history_len].into_boxed_slice(),
            delay_samples: proto.half / down,
        }
    }

    fn process(&mut self, input: &[i16], output: &mut [i16]) {
        let keep = self.taps - 1;
        self.history[keep..].copy_from_slice(input);
        self.bank.run(&self.history, output);
        let len = self.history.len();
        self.history.copy_within(len - keep.., 0);
    }

    fn reset(&mut self) {
        self.history.fill(0);
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Resampler {
    /// A converter from `from` to `to`. Equal rates give a copying pass-through.
    pub fn new(from: SampleRate, to: SampleRate) -> Resampler {
        let engine = (from != to).then(|| Polyphase::new(from, to));
        Resampler { from, to, engine }
    }

    /// Input rate.
    pub fn from_rate(&self) -> SampleRate {
        self.from
    }

    /// Output rate.
    pub fn to_rate(&self) -> SampleRate {
        self.to
    }

    /// Algorithmic delay, in output samples: how far the output lags the input.
    pub fn delay_samples(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.delay_samples)
    }

    /// Algorithmic delay as a duration (0 for pass-through).
    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_samples() as u64 * 1_000_000 / u64::from(self.to.hz()))
    }

    /// Converts one 20 ms frame. `output` must hold at least one output frame;
    /// exactly `to.frame_samples()` samples are written and that count returned.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> Result<usize, ResampleError> {
        let want_in = self.from.frame_samples();
        let want_out = self.to.frame_samples();
        if input.len() != want_in {
            return Err(ResampleError::InputLength {
                got: input.len(),
                want: want_in,
            });
        }
        if output.len() < want_out {
            return Err(ResampleError::OutputLength {
                got: output.len(),
                want: want_out,
            });
        }
        match self.engine.as_mut() {
            Some(engine) => engine.process(input, &mut output[..want_out]),
            None => output[..want_out].copy_from_slice(input),
        }
        Ok(want_out)
    }

    /// Clears the carried filter history (e.g. after a stream restart).
    pub fn reset(&mut self) {
        if let Some(e) = self.engine.as_mut() {
            e.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_gives_one_frame_per_frame_within_5_ms() {
        for from in SampleRate::ALL {
            for to in SampleRate::ALL {
                let mut r = Resampler::new(from, to);
                let input = vec![1000i16; from.frame_samples()];
                let mut out = vec![0i16; to.frame_samples()];
                for _ in 0..5 {
                    assert_eq!(r.process(&input, &mut out), Ok(to.frame_samples()));
                }
                assert!(
                    r.delay() <= Duration::from_millis(5),
                    "{from} -> {to}: {:?}",
                    r.delay()
                );
                if from == to {
                    assert_eq!(r.delay(), Duration::ZERO);
                    assert_eq!(out, input);
                } else {
                    assert!(r.delay() > Duration::ZERO);
                }
            }
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let mut r = Resampler::new(SampleRate::Hz8000, SampleRate::Hz24000);
        let mut out = [0i16; 480];
        assert_eq!(
            r.process(&[0; 100], &mut out),
            Err(ResampleError::InputLength {
                got: 100,
                want: 160
            })
        );
        assert_eq!(
            r.process(&[0; 160], &mut out[..10]),
            Err(ResampleError::OutputLength { got: 10, want: 480 })
        );
    }

    #[test]
    fn reset_forgets_history() {
        let mut r = Resampler::new(SampleRate::Hz24000, SampleRate::Hz8000);
        let mut out = [0i16; 160];
        r.process(&[20000; 480], &mut out).expect("process");
        r.reset();
        r.process(&[0; 480], &mut out).expect("process");
        assert!(out.iter().all(|&s| s == 0));
    }
}
