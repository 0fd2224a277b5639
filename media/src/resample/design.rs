//! Low-pass prototype design for the polyphase converter: a Kaiser-windowed sinc.

use std::f64::consts::PI;

/// Stop-band attenuation the prototype is designed for, in dB.
pub(crate) const STOPBAND_DB: f64 = 62.0;

/// The pass band ends at this fraction of the lower Nyquist frequency; the stop band
/// starts exactly at the lower Nyquist frequency, so everything the output cannot
/// represent is attenuated by [`STOPBAND_DB`]. 0.82 keeps 3.28 kHz of an 8 kHz leg
/// (about where Speex's VoIP qualities put it) with 48 taps per branch.
pub(crate) const PASSBAND_FRACTION: f64 = 0.82;

/// A designed prototype at the intermediate rate `from * up`.
#[derive(Debug)]
pub(crate) struct Prototype {
    /// Filter taps, length `2 * half + 1`, DC gain 1.
    pub(crate) taps: Vec<f64>,
    /// Half length: the group delay in intermediate-rate samples.
    pub(crate) half: usize,
}

/// Designs the prototype for conversion by `up / down` where the intermediate rate is
/// `intermediate_hz` and the lower of the two Nyquist frequencies is `nyquist_hz`.
/// The half length is rounded up to a multiple of `multiple` (`up * down`) so that the
/// delay is a whole number of samples at both the input and the output rate.
pub(crate) fn prototype(intermediate_hz: f64, nyquist_hz: f64, multiple: usize) -> Prototype {
    let pass = nyquist_hz * PASSBAND_FRACTION;
    let stop = nyquist_hz;
    let transition = 2.0 * PI * (stop - pass) / intermediate_hz;
    // Kaiser's length estimate.
    let length = ((STOPBAND_DB - 7.95) / (2.285 * transition)).ceil() as usize + 1;
    let half = (length / 2).div_ceil(multiple) * multiple;
    let n = 2 * half + 1;
    let beta = kaiser_beta(STOPBAND_DB);
    let cutoff = (pass + stop) / 2.0 / intermediate_hz; // cycles per sample
    let i0_beta = bessel_i0(beta);
    let mut taps: Vec<f64> = (0..n)
        .map(|j| {
            let x = j as f64 - half as f64;
            let ratio = x / half as f64;
            let window = bessel_i0(beta * (1.0 - ratio * ratio).max(0.0).sqrt()) / i0_beta;
            2.0 * cutoff * sinc(2.0 * cutoff * x) * window
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    for t in &mut taps {
        *t /= sum;
    }
    Prototype { taps, half }
}

fn kaiser_beta(attenuation_db: f64) -> f64 {
    if attenuation_db > 50.0 {
        0.1102 * (attenuation_db - 8.7)
    } else if attenuation_db >= 21.0 {
        0.5842 * (attenuation_db - 21.0).powf(0.4) + 0.07886 * (attenuation_db - 21.0)
    } else {
        0.0
    }
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

/// Modified Bessel function of the first kind, order 0, by its power series.
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half_x = x / 2.0;
    for k in 1..64 {
        term *= half_x / k as f64;
        let t2 = term * term;
        sum += t2;
        if t2 < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_matches_known_values() {
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-12);
        assert!((bessel_i0(5.0) - 27.239_871_823_604_45).abs() < 1e-9);
    }

    #[test]
    fn prototype_is_symmetric_with_unit_dc_gain() {
        let p = prototype(24_000.0, 4_000.0, 3);
        assert_eq!(p.taps.len(), 2 * p.half + 1);
        assert_eq!(p.half % 3, 0);
        let sum: f64 = p.taps.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
        for j in 0..p.half {
            assert!((p.taps[j] - p.taps[p.taps.len() - 1 - j]).abs() < 1e-15);
        }
    }
}
