//! Frame energy, the threshold mapping and the adaptive noise floor.

use super::NoiseFloorConfig;
use crate::audio::FRAME_MS;

/// The energy reported for digital silence, instead of −∞.
pub const MIN_DBFS: f32 = -100.0;

/// The absolute gate in dBFS for a 0–1 threshold: `−75 + 60·threshold`.
pub fn threshold_to_dbfs(threshold: f32) -> f32 {
    -75.0 + 60.0 * threshold
}

/// RMS energy of `samples` in dBFS (full-scale square = 0), floored at [`MIN_DBFS`].
pub fn frame_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return MIN_DBFS;
    }
    let sum: u64 = samples
        .iter()
        .map(|&s| {
            let s = s as i64;
            (s * s) as u64
        })
        .sum();
    if sum == 0 {
        return MIN_DBFS;
    }
    let mean = sum as f64 / samples.len() as f64;
    let db = 10.0 * (mean / (32768.0 * 32768.0)).log10();
    (db as f32).max(MIN_DBFS)
}

/// The adaptive noise floor: starts at the first frame, drops at once to any
/// quieter frame, climbs at most `rise_db_per_s`, never above `ceiling_dbfs`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NoiseFloor {
    level: Option<f32>,
}

impl NoiseFloor {
    /// Decides whether a frame at `db` is active against the absolute gate and
    /// (if configured) the floor left by earlier frames, then updates the floor.
    pub(super) fn classify(&mut self, db: f32, gate_db: f32, nf: Option<NoiseFloorConfig>) -> bool {
        let Some(nf) = nf else {
            return db > gate_db;
        };
        let floor = *self.level.get_or_insert(db.min(nf.ceiling_dbfs));
        let active = db > gate_db && db > floor + nf.margin_db;
        let rise = nf.rise_db_per_s * FRAME_MS as f32 / 1000.0;
        let next = if db < floor {
            db
        } else {
            (floor + rise).min(db)
        };
        self.level = Some(next.min(nf.ceiling_dbfs));
        active
    }

    /// The floor in dBFS, once a frame was seen.
    pub(super) fn level(&self) -> Option<f32> {
        self.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbfs_reference_levels() {
        assert_eq!(frame_dbfs(&[0; 160]), MIN_DBFS);
        assert_eq!(frame_dbfs(&[]), MIN_DBFS);
        let square: Vec<i16> = (0..160)
            .map(|i: u32| {
                if i.is_multiple_of(2) {
                    i16::MIN
                } else {
                    i16::MIN + 1
                }
            })
            .collect();
        assert!(frame_dbfs(&square).abs() < 0.01);
        assert!((frame_dbfs(&[3277; 160]) - -20.0).abs() < 0.01);
    }

    #[test]
    fn threshold_mapping_is_linear() {
        assert_eq!(threshold_to_dbfs(0.0), -75.0);
        assert_eq!(threshold_to_dbfs(0.5), -45.0);
        assert_eq!(threshold_to_dbfs(1.0), -15.0);
    }

    #[test]
    fn floor_drops_at_once_rises_slowly_and_stops_at_the_ceiling() {
        let nf = Some(NoiseFloorConfig::default()); // 10 dB margin, 5 dB/s, ceiling -40
        let mut f = NoiseFloor::default();
        assert!(!f.classify(-60.0, -45.0, nf));
        assert_eq!(f.level(), Some(-60.0));
        assert!(f.classify(-20.0, -45.0, nf));
        assert!((f.level().unwrap_or(0.0) - -59.9).abs() < 1e-4); // +0.1 dB per frame
        assert!(!f.classify(-70.0, -45.0, nf));
        assert_eq!(f.level(), Some(-70.0));
        let mut g = NoiseFloor::default();
        g.classify(-10.0, -45.0, nf);
        assert_eq!(g.level(), Some(-40.0));
        assert!(g.classify(-20.0, -45.0, nf)); // louder than ceiling + margin
    }
}
