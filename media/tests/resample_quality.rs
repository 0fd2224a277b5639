//! Resampler quality: round-trip SNR and anti-aliasing, measured on whole
//! streams processed 20 ms at a time, aligned using the reported delay.

use std::f64::consts::PI;

use tenex_media::SampleRate;
use tenex_media::resample::Resampler;

fn tone(rate: SampleRate, freq: f64, amplitude: f64, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| (amplitude * (2.0 * PI * freq * n as f64 / rate.hz() as f64).sin()).round() as i16)
        .collect()
}

fn run(r: &mut Resampler, input: &[i16]) -> Vec<i16> {
    let (fi, fo) = (r.from_rate().frame_samples(), r.to_rate().frame_samples());
    let mut out = Vec::with_capacity(input.len() * fo / fi);
    let mut frame = vec![0i16; fo];
    for chunk in input.chunks_exact(fi) {
        assert_eq!(r.process(chunk, &mut frame).expect("process"), fo);
        out.extend_from_slice(&frame);
    }
    out
}

fn energy(x: &[i16]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum()
}

fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

#[test]
fn tone_8k_to_24k_to_8k_keeps_snr_above_50_db() {
    let secs = 2;
    let input = tone(SampleRate::Hz8000, 1000.0, 16000.0, 8000 * secs);
    let mut up = Resampler::new(SampleRate::Hz8000, SampleRate::Hz24000);
    let mut down = Resampler::new(SampleRate::Hz24000, SampleRate::Hz8000);
    let mid = run(&mut up, &input);
    let out = run(&mut down, &mid);
    assert_eq!(out.len(), input.len());

    // Total delay in 8 kHz samples: up's delay (at 24 kHz) / 3 + down's delay.
    let delay = up.delay_samples() / 3 + down.delay_samples();
    assert!(delay <= 80, "at most 5 ms + 5 ms at 8 kHz");
    // Skip the first 100 ms (filter start-up) and compare the aligned rest.
    let skip = 800;
    let aligned_in = &input[skip..input.len() - delay];
    let aligned_out = &out[skip + delay..];
    let noise: Vec<i16> = aligned_in
        .iter()
        .zip(aligned_out)
        .map(|(&a, &b)| (i32::from(a) - i32::from(b)) as i16)
        .collect();
    let snr = db(energy(aligned_in) / energy(&noise));
    assert!(snr >= 50.0, "round-trip SNR {snr:.1} dB");
}

/// Energy of `out` relative to `input`'s, in dB, after the start-up transient.
fn gain_db(from: SampleRate, to: SampleRate, freq: f64) -> f64 {
    let input = tone(from, freq, 16000.0, from.hz() as usize);
    let mut r = Resampler::new(from, to);
    let out = run(&mut r, &input);
    let skip_in = from.frame_samples() * 5;
    let skip_out = to.frame_samples() * 5;
    let e_in = energy(&input[skip_in..]) / (input.len() - skip_in) as f64;
    let e_out = energy(&out[skip_out..]) / (out.len() - skip_out) as f64;
    db(e_out.max(1e-12) / e_in)
}

#[test]
fn downsampling_attenuates_energy_above_output_nyquist_by_50_db() {
    let pairs = [
        (SampleRate::Hz24000, SampleRate::Hz8000),
        (SampleRate::Hz48000, SampleRate::Hz24000),
        (SampleRate::Hz48000, SampleRate::Hz8000),
        (SampleRate::Hz16000, SampleRate::Hz8000),
        (SampleRate::Hz48000, SampleRate::Hz16000),
        (SampleRate::Hz24000, SampleRate::Hz16000),
    ];
    for (from, to) in pairs {
        let nyq = f64::from(to.hz()) / 2.0;
        let top = f64::from(from.hz()) / 2.0;
        // Tones from 10% above the output Nyquist up to just below the input Nyquist.
        let mut f = nyq * 1.1;
        while f < top * 0.98 {
            let g = gain_db(from, to, f);
            assert!(g <= -50.0, "{from} -> {to}: {f:.0} Hz only {g:.1} dB");
            f += (top - nyq) / 7.0;
        }
    }
}

#[test]
fn passband_tones_pass_at_unity_gain() {
    for from in SampleRate::ALL {
        for to in SampleRate::ALL {
            let g = gain_db(from, to, 1000.0);
            assert!(g.abs() < 0.1, "{from} -> {to}: 1 kHz gain {g:.3} dB");
        }
    }
}

#[test]
fn first_frame_already_carries_signal_after_the_delay() {
    // A DC step into 8k -> 24k: the first output frame holds signal after 5 ms.
    let mut r = Resampler::new(SampleRate::Hz8000, SampleRate::Hz24000);
    let mut out = [0i16; 480];
    r.process(&[8000; 160], &mut out).expect("process");
    let delay = r.delay_samples();
    assert!(
        out[..delay / 2].iter().all(|&s| s.abs() < 400),
        "nothing before the delay"
    );
    assert!(
        out[delay + 60..].iter().all(|&s| (s - 8000).abs() < 400),
        "step after the delay"
    );
}

/// Cross-check against an independent implementation: rubato's FFT resampler
/// (20 ms blocks) on a speech-band multi-tone, both aligned by their reported delays.
#[test]
fn agrees_with_rubato_fft_resampler_on_passband_signal() {
    use rubato::audioadapter_buffers::direct::SequentialSlice;
    use rubato::{Fft, FixedSync, Resampler as _};

    let pairs = [
        (SampleRate::Hz8000, SampleRate::Hz24000),
        (SampleRate::Hz24000, SampleRate::Hz8000),
        (SampleRate::Hz48000, SampleRate::Hz24000),
        (SampleRate::Hz16000, SampleRate::Hz24000),
    ];
    for (from, to) in pairs {
        let n = from.hz() as usize;
        let input: Vec<i16> = (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(from.hz());
                let s = 6000.0 * (2.0 * PI * 440.0 * t).sin()
                    + 5000.0 * (2.0 * PI * 1270.0 * t).sin()
                    + 4000.0 * (2.0 * PI * 2900.0 * t).sin();
                s.round() as i16
            })
            .collect();
        let mut ours = Resampler::new(from, to);
        let out_ours = run(&mut ours, &input);

        let (fi, fo) = (from.frame_samples(), to.frame_samples());
        let mut reference = Fft::<f32>::new(
            from.hz() as usize,
            to.hz() as usize,
            fi,
            1,
            FixedSync::Input,
        )
        .expect("rubato");
        let input_f: Vec<f32> = input.iter().map(|&s| f32::from(s)).collect();
        let mut out_ref = Vec::new();
        let mut frame = vec![0f32; fo];
        for chunk in input_f.chunks_exact(fi) {
            let a = SequentialSlice::new(chunk, 1, fi).expect("adapter");
            let mut b = SequentialSlice::new_mut(&mut frame[..], 1, fo).expect("adapter");
            let (_, produced) = reference
                .process_into_buffer(&a, &mut b, None)
                .expect("process");
            assert_eq!(produced, fo);
            out_ref.extend_from_slice(&frame);
        }

        let d_ours = ours.delay_samples();
        let d_ref = reference.output_delay();
        let skip = to.frame_samples() * 10;
        let len = out_ours.len() - skip - d_ours.max(d_ref);
        let a = &out_ours[skip + d_ours..skip + d_ours + len];
        let b = &out_ref[skip + d_ref..skip + d_ref + len];
        let signal: f64 = b.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let diff: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum();
        let agreement = db(signal / diff);
        assert!(
            agreement >= 50.0,
            "{from} -> {to}: agreement {agreement:.1} dB"
        );
    }
}
