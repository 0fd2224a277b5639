//! Packet loss concealment for codecs without their own (G.711): repeat the last
//! good frame, fading it out linearly over `fade_frames` frames, then silence.
//! (Opus conceals itself: see [`crate::opus::OpusDecoder::conceal`].)

/// Largest frame remembered (20 ms at 48 kHz).
const MAX_FRAME: usize = 960;

/// Repeat-and-fade concealment state for one stream.
#[derive(Debug, Clone)]
pub struct RepeatFade {
    last: [i16; MAX_FRAME],
    len: usize,
    run: u32,
    fade_frames: u32,
}

impl Default for RepeatFade {
    fn default() -> RepeatFade {
        RepeatFade::new(3)
    }
}

impl RepeatFade {
    /// Concealment that fades to silence over `fade_frames` lost frames (default 3,
    /// 60 ms: longer repetition of a voiced frame sounds robotic).
    pub fn new(fade_frames: u32) -> RepeatFade {
        RepeatFade {
            last: [0; MAX_FRAME],
            len: 0,
            run: 0,
            fade_frames: fade_frames.max(1),
        }
    }

    /// Remembers a frame that was decoded from a real packet.
    pub fn on_good(&mut self, frame: &[i16]) {
        self.len = frame.len().min(MAX_FRAME);
        self.last[..self.len].copy_from_slice(&frame[..self.len]);
        self.run = 0;
    }

    /// Fills `out` for one lost frame.
    pub fn conceal(&mut self, out: &mut [i16]) {
        let n = out.len();
        self.run = self.run.saturating_add(1);
        if self.len == 0 || self.run > self.fade_frames {
            out.fill(0);
            return;
        }
        // Gain falls linearly from (run-1)/F to run/F of the way down across the frame.
        let total = (self.fade_frames as usize * n) as i64;
        let start = ((self.run - 1) as usize * n) as i64;
        for (i, o) in out.iter_mut().enumerate() {
            let src = i64::from(self.last[i % self.len]);
            let remaining = total - (start + i as i64);
            *o = (src * remaining / total) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_then_fades_to_silence() {
        let mut c = RepeatFade::new(2);
        c.on_good(&[1000; 4]);
        let mut out = [0i16; 4];
        c.conceal(&mut out);
        assert_eq!(out, [1000, 875, 750, 625]);
        c.conceal(&mut out);
        assert_eq!(out, [500, 375, 250, 125]);
        c.conceal(&mut out);
        assert_eq!(out, [0; 4]);
        c.on_good(&[-800; 4]);
        c.conceal(&mut out);
        assert_eq!(out, [-800, -700, -600, -500]);
    }

    #[test]
    fn nothing_heard_yet_conceals_as_silence() {
        let mut c = RepeatFade::default();
        let mut out = [7i16; 160];
        c.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }
}
