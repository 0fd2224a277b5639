//! Energy VAD on synthetic signals: exact event positions for 1 kHz tone bursts
//! in noise, at every supported rate.

use proptest::prelude::*;
use tenex_media::SampleRate;
use tenex_media::vad::{EnergyVad, SpeechRun, VadConfig, VadError, VadEvent};

/// Deterministic uniform noise (xorshift64*).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        x as f64 / (1u64 << 52) as f64 - 1.0 // [-1, 1)
    }
}

/// Linear RMS for a level in dBFS (full-scale square = 0 dBFS, as the VAD measures).
fn rms(dbfs: f64) -> f64 {
    32768.0 * 10f64.powf(dbfs / 20.0)
}

/// `total_ms` of uniform noise at `noise_db` (None: digital silence) plus a
/// 1 kHz tone at `tone_db` during each `(start_ms, len_ms)` burst.
fn signal(
    rate: SampleRate,
    total_ms: u64,
    noise_db: Option<f64>,
    tone_db: f64,
    bursts: &[(u64, u64)],
) -> Vec<i16> {
    let per_ms = rate.samples_per_ms() as u64;
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let noise_amp = noise_db.map_or(0.0, |db| rms(db) * 3f64.sqrt());
    let tone_amp = rms(tone_db) * 2f64.sqrt();
    (0..total_ms * per_ms)
        .map(|n| {
            let mut v = noise_amp * noise.next();
            if bursts
                .iter()
                .any(|&(s, l)| (s * per_ms..(s + l) * per_ms).contains(&n))
            {
                let phase = 2.0 * std::f64::consts::PI * 1000.0 * n as f64 / rate.hz() as f64;
                v += tone_amp * phase.sin();
            }
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Feeds `samples` frame by frame; returns `(position when emitted, event)`.
fn run(rate: SampleRate, config: VadConfig, samples: &[i16]) -> Vec<(u64, VadEvent)> {
    let mut vad = EnergyVad::new(rate, config).expect("vad");
    let mut events = Vec::new();
    for frame in samples.chunks_exact(rate.frame_samples()) {
        vad.handle_frame(frame).expect("frame");
        while let Some(ev) = vad.poll_event() {
            events.push((vad.position_ms(), ev));
        }
    }
    assert_eq!(vad.dropped_events(), 0);
    events
}

fn started(speech_start_ms: u64, audio_start_ms: u64) -> VadEvent {
    VadEvent::SpeechStarted {
        speech_start_ms,
        audio_start_ms,
    }
}

fn confirmed(speech_start_ms: u64, at_ms: u64) -> VadEvent {
    VadEvent::SpeechConfirmed {
        speech_start_ms,
        at_ms,
    }
}

fn stopped(start: u64, end: u64, audio_end: u64, voiced: u64, confirmed: bool) -> VadEvent {
    VadEvent::SpeechStopped {
        speech_start_ms: start,
        speech_end_ms: end,
        audio_end_ms: audio_end,
        voiced_ms: voiced,
        confirmed,
    }
}

#[test]
fn silence_and_line_noise_give_no_events() {
    for rate in SampleRate::ALL {
        let zeros = signal(rate, 3000, None, -20.0, &[]);
        assert_eq!(run(rate, VadConfig::default(), &zeros), vec![], "{rate}");
        let noise = signal(rate, 3000, Some(-60.0), -20.0, &[]);
        assert_eq!(run(rate, VadConfig::default(), &noise), vec![], "{rate}");
    }
}

#[test]
fn tone_bursts_start_and_stop_at_exact_positions() {
    for rate in SampleRate::ALL {
        let s = signal(rate, 5000, Some(-60.0), -20.0, &[(1000, 800), (3500, 400)]);
        assert_eq!(
            run(rate, VadConfig::default(), &s),
            vec![
                // Onset of 2 frames: emitted at 1040, backdated to 1000, padded by 300.
                (1040, started(1000, 700)),
                (1300, confirmed(1000, 1300)),
                // Hangover of 500 ms after the last speech frame ending at 1800.
                (2300, stopped(1000, 1800, 2300, 800, true)),
                (3540, started(3500, 3200)),
                (3800, confirmed(3500, 3800)),
                (4400, stopped(3500, 3900, 4400, 400, true)),
            ],
            "{rate}"
        );
    }
}

#[test]
fn short_burst_never_reaches_confirmation() {
    for rate in SampleRate::ALL {
        let s = signal(rate, 3000, Some(-60.0), -20.0, &[(1000, 200)]);
        let mut vad = EnergyVad::new(rate, VadConfig::default()).expect("vad");
        let mut events = Vec::new();
        let mut longest_run = 0;
        for frame in s.chunks_exact(rate.frame_samples()) {
            vad.handle_frame(frame).expect("frame");
            events.extend(std::iter::from_fn(|| vad.poll_event()));
            if let Some(run) = vad.current_run() {
                longest_run = longest_run.max(run.voiced_ms);
            }
        }
        assert_eq!(longest_run, 200, "{rate}");
        assert_eq!(
            events,
            vec![started(1000, 700), stopped(1000, 1200, 1700, 200, false)],
            "{rate}"
        );
    }
}

#[test]
fn hangover_bridges_a_short_pause_inside_speech() {
    for rate in SampleRate::ALL {
        let s = signal(rate, 3000, Some(-60.0), -20.0, &[(1000, 400), (1600, 400)]);
        let mut vad = EnergyVad::new(rate, VadConfig::default()).expect("vad");
        let mut events = Vec::new();
        for frame in s.chunks_exact(rate.frame_samples()) {
            vad.handle_frame(frame).expect("frame");
            events.extend(std::iter::from_fn(|| vad.poll_event()));
            if vad.position_ms() == 1500 {
                // Mid-pause: the run is still open, its end is the last speech frame.
                let run = SpeechRun {
                    start_ms: 1000,
                    end_ms: 1400,
                    voiced_ms: 400,
                    confirmed: true,
                };
                assert_eq!(vad.current_run(), Some(run));
                assert_eq!(run.extent_ms(), 400);
                assert!(vad.is_speaking());
            }
        }
        assert_eq!(
            events,
            vec![
                started(1000, 700),
                confirmed(1000, 1300),
                // voiced_ms excludes the bridged 200 ms pause.
                stopped(1000, 2000, 2500, 800, true),
            ],
            "{rate}"
        );
        assert!(!vad.is_speaking());
    }
}

#[test]
fn pause_of_silence_duration_splits_the_turn() {
    let rate = SampleRate::Hz16000;
    // 480 ms pause: bridged (24 silent frames < 25).
    let s = signal(rate, 3000, Some(-60.0), -20.0, &[(1000, 400), (1880, 400)]);
    let events: Vec<_> = run(rate, VadConfig::default(), &s);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], (2780, stopped(1000, 2280, 2780, 800, true)));
    // 600 ms pause: two turns; the second's padding stops at the first's audio_end_ms.
    let s = signal(rate, 3500, Some(-60.0), -20.0, &[(1000, 400), (2000, 400)]);
    assert_eq!(
        run(rate, VadConfig::default(), &s),
        vec![
            (1040, started(1000, 700)),
            (1300, confirmed(1000, 1300)),
            (1900, stopped(1000, 1400, 1900, 400, true)),
            (2040, started(2000, 1900)),
            (2300, confirmed(2000, 2300)),
            (2900, stopped(2000, 2400, 2900, 400, true)),
        ]
    );
}

#[test]
fn adaptive_floor_ignores_steady_noise_at_minus_40() {
    for rate in SampleRate::ALL {
        let noise = signal(rate, 5000, Some(-40.0), -20.0, &[]);
        assert_eq!(run(rate, VadConfig::default(), &noise), vec![], "{rate}");
        // The absolute gate alone (−45 dBFS) would call the noise speech from the start.
        let gate_only = VadConfig {
            noise_floor: None,
            ..VadConfig::default()
        };
        assert_eq!(
            run(rate, gate_only, &noise).first(),
            Some(&(40, started(0, 0))),
            "{rate}"
        );
        // Speech 20 dB above that noise is still found at the exact positions.
        let s = signal(rate, 3000, Some(-40.0), -20.0, &[(1000, 800)]);
        assert_eq!(
            run(rate, VadConfig::default(), &s),
            vec![
                (1040, started(1000, 700)),
                (1300, confirmed(1000, 1300)),
                (2300, stopped(1000, 1800, 2300, 800, true)),
            ],
            "{rate}"
        );
    }
}

#[test]
fn floor_absorbs_a_noise_step_within_its_rise_time() {
    let rate = SampleRate::Hz8000;
    let mut s = signal(rate, 2000, Some(-60.0), -20.0, &[]);
    s.extend(signal(rate, 8000, Some(-40.0), -20.0, &[]));
    let mut vad = EnergyVad::new(rate, VadConfig::default()).expect("vad");
    let mut events = Vec::new();
    for frame in s.chunks_exact(rate.frame_samples()) {
        vad.handle_frame(frame).expect("frame");
        events.extend(std::iter::from_fn(|| vad.poll_event()));
    }
    // The step reads as speech until the floor climbs 10 dB at 5 dB/s (~2 s).
    assert_eq!(events.first(), Some(&started(2000, 1700)));
    let Some(&VadEvent::SpeechStopped { speech_end_ms, .. }) = events.last() else {
        panic!("no stop: {events:?}");
    };
    assert!((3900..=4200).contains(&speech_end_ms), "{speech_end_ms}");
    assert_eq!(events.len(), 3);
    let floor = vad.noise_floor_dbfs().expect("floor");
    assert!((-41.0..=-40.0).contains(&floor), "{floor}");
}

#[test]
fn threshold_maps_to_an_absolute_level() {
    let rate = SampleRate::Hz24000;
    // A −50 dBFS tone in −80 dBFS noise: under the default −45 dBFS gate.
    let s = signal(rate, 3000, Some(-80.0), -50.0, &[(1000, 800)]);
    assert_eq!(run(rate, VadConfig::default(), &s), vec![]);
    // threshold 0.2 → −63 dBFS: now it is speech.
    let sensitive = VadConfig {
        threshold: 0.2,
        ..VadConfig::default()
    };
    let vad = EnergyVad::new(rate, sensitive).expect("vad");
    assert!((vad.threshold_dbfs() - -63.0).abs() < 1e-4);
    assert_eq!(
        run(rate, sensitive, &s).first(),
        Some(&(1040, started(1000, 700)))
    );
}

#[test]
fn unaligned_burst_is_rounded_out_to_whole_frames() {
    // 1010..1810 ms: the half-filled frames at both ends are loud enough to count.
    let rate = SampleRate::Hz48000;
    let s = signal(rate, 3000, Some(-60.0), -20.0, &[(1010, 800)]);
    assert_eq!(
        run(rate, VadConfig::default(), &s),
        vec![
            (1040, started(1000, 700)),
            (1300, confirmed(1000, 1300)),
            (2320, stopped(1000, 1820, 2320, 820, true)),
        ]
    );
}

#[test]
fn zero_min_speech_confirms_with_the_start_and_padding_clamps_at_zero() {
    let rate = SampleRate::Hz8000;
    let config = VadConfig {
        min_speech_ms: 0,
        ..VadConfig::default()
    };
    let s = signal(rate, 1500, Some(-60.0), -20.0, &[(100, 400)]);
    assert_eq!(
        run(rate, config, &s),
        vec![
            (140, started(100, 0)),
            (140, confirmed(100, 140)),
            (1000, stopped(100, 500, 1000, 400, true)),
        ]
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut vad = EnergyVad::new(SampleRate::Hz16000, VadConfig::default()).expect("vad");
    assert_eq!(
        vad.handle_frame(&[0; 160]),
        Err(VadError::FrameLength {
            got: 160,
            want: 320
        })
    );
    assert_eq!(vad.position_ms(), 0);
    for threshold in [f32::NAN, -0.1, 1.5] {
        let config = VadConfig {
            threshold,
            ..VadConfig::default()
        };
        assert!(matches!(
            EnergyVad::new(SampleRate::Hz8000, config),
            Err(VadError::InvalidConfig(_))
        ));
        assert!(vad.set_config(config).is_err());
    }
    assert_eq!(vad.config(), &VadConfig::default());
}

proptest! {
    /// Whatever the input, events come in order Started, [Confirmed], Stopped
    /// with consistent positions, and nothing panics.
    #[test]
    fn event_sequence_is_well_formed(runs in prop::collection::vec((0u8..4, 1usize..40), 1..30)) {
        let rate = SampleRate::Hz8000;
        let mut vad = EnergyVad::new(rate, VadConfig::default()).expect("vad");
        let mut frame = vec![0i16; rate.frame_samples()];
        let mut open: Option<u64> = None;
        let mut last_end = 0;
        let mut stops = 0;
        let levels = runs.iter().flat_map(|&(level, n)| std::iter::repeat_n(level, n));
        for (k, level) in levels.enumerate() {
            let amp = [0i16, 30, 3000, 30000][level as usize];
            for (i, s) in frame.iter_mut().enumerate() {
                *s = if (i + k).is_multiple_of(2) { amp } else { -amp };
            }
            vad.handle_frame(&frame).expect("frame");
            while let Some(ev) = vad.poll_event() {
                match ev {
                    VadEvent::SpeechStarted { speech_start_ms, audio_start_ms } => {
                        prop_assert!(open.is_none());
                        prop_assert!(audio_start_ms <= speech_start_ms);
                        prop_assert!(audio_start_ms >= last_end);
                        open = Some(speech_start_ms);
                    }
                    VadEvent::SpeechConfirmed { speech_start_ms, at_ms } => {
                        prop_assert_eq!(open, Some(speech_start_ms));
                        prop_assert!(at_ms - speech_start_ms >= 300);
                    }
                    VadEvent::SpeechStopped { speech_start_ms, speech_end_ms, audio_end_ms, voiced_ms, .. } => {
                        prop_assert_eq!(open.take(), Some(speech_start_ms));
                        prop_assert!(voiced_ms <= speech_end_ms - speech_start_ms);
                        prop_assert_eq!(audio_end_ms, speech_end_ms + 500);
                        prop_assert_eq!(audio_end_ms, vad.position_ms());
                        last_end = audio_end_ms;
                        stops += 1;
                    }
                }
            }
        }
        prop_assert!(stops <= runs.len());
    }
}
