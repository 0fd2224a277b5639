//! Opus (RFC 6716) over libopus via `audiopus`: mono, 20 ms frames, with packet
//! loss concealment and in-band FEC recovery.
//!
//! On the wire Opus always runs on a 48 kHz RTP clock (RFC 7587), but libopus
//! decodes to and encodes from any of 8, 16, 24 or 48 kHz natively, so a leg can
//! hand the Realtime API's 24 kHz PCM straight to the codec and skip a
//! resampling step. Neither direction allocates per frame.

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Bitrate, Channels};
use thiserror::Error;

use crate::audio::SampleRate;

/// The largest Opus packet we produce for one 20 ms mono frame.
pub const MAX_PACKET: usize = 1275;

/// Why an Opus operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpusError {
    /// libopus rejected the packet or the call.
    #[error("opus: {0}")]
    Codec(#[from] audiopus::Error),
    /// The packet decodes to more than one 20 ms frame (a longer ptime than negotiated).
    #[error("opus packet holds {samples} samples, more than the {capacity} output buffer")]
    TooLong {
        /// Samples per channel in the packet.
        samples: usize,
        /// Output capacity.
        capacity: usize,
    },
    /// The PCM input is not exactly one 20 ms frame.
    #[error("opus input has {got} samples, expected {want}")]
    FrameLength {
        /// Samples supplied.
        got: usize,
        /// Samples in one 20 ms frame.
        want: usize,
    },
}

fn codec_rate(rate: SampleRate) -> audiopus::SampleRate {
    match rate {
        SampleRate::Hz8000 => audiopus::SampleRate::Hz8000,
        SampleRate::Hz16000 => audiopus::SampleRate::Hz16000,
        SampleRate::Hz24000 => audiopus::SampleRate::Hz24000,
        SampleRate::Hz48000 => audiopus::SampleRate::Hz48000,
    }
}

/// An Opus decoder producing mono PCM16 at a chosen rate.
#[derive(Debug)]
pub struct OpusDecoder {
    inner: Decoder,
    rate: SampleRate,
}

impl OpusDecoder {
    /// A decoder whose output is at `rate` (48 kHz is Opus's native rate).
    pub fn new(rate: SampleRate) -> Result<OpusDecoder, OpusError> {
        Ok(OpusDecoder {
            inner: Decoder::new(codec_rate(rate), Channels::Mono)?,
            rate,
        })
    }

    /// Output rate.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Decodes one packet into `out`; returns the samples written.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        self.check_fits(packet, out.len())?;
        self.run(Some(packet), out, false)
    }

    /// Packet loss concealment: synthesises one 20 ms frame for a packet that never
    /// arrived, continuing the signal from the decoder's state.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        let n = self.rate.frame_samples().min(out.len());
        self.run(None, &mut out[..n], false)
    }

    /// Recovers a lost frame from the in-band FEC data carried in the *next* packet.
    /// When that packet carries no FEC data libopus falls back to concealment.
    /// Decode `next` itself normally afterwards.
    pub fn decode_fec(&mut self, next: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        let n = self.rate.frame_samples().min(out.len());
        self.run(Some(next), &mut out[..n], true)
    }

    fn check_fits(&self, packet: &[u8], capacity: usize) -> Result<(), OpusError> {
        let samples = audiopus::packet::nb_samples(packet, codec_rate(self.rate))?;
        if samples > capacity {
            return Err(OpusError::TooLong { samples, capacity });
        }
        Ok(())
    }

    fn run(
        &mut self,
        packet: Option<&[u8]>,
        out: &mut [i16],
        fec: bool,
    ) -> Result<usize, OpusError> {
        Ok(self.inner.decode(packet, out, fec)?)
    }
}

/// Encoder settings. Defaults suit a phone call: VoIP mode, 32 kbit/s, in-band
/// FEC on, tuned for 10% expected loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusSettings {
    /// Target bitrate in bit/s.
    pub bitrate: i32,
    /// Carry in-band FEC (LBRR) data for the previous frame.
    pub inband_fec: bool,
    /// Expected packet loss in percent (0–100); drives how much FEC is sent.
    pub expected_loss_percent: u8,
}

impl Default for OpusSettings {
    fn default() -> OpusSettings {
        OpusSettings {
            bitrate: 32_000,
            inband_fec: true,
            expected_loss_percent: 10,
        }
    }
}

/// An Opus encoder taking mono PCM16 at a chosen rate, one 20 ms frame at a time.
#[derive(Debug)]
pub struct OpusEncoder {
    inner: Encoder,
    rate: SampleRate,
}

impl OpusEncoder {
    /// An encoder whose input is at `rate`.
    pub fn new(rate: SampleRate, settings: OpusSettings) -> Result<OpusEncoder, OpusError> {
        let mut inner = Encoder::new(codec_rate(rate), Channels::Mono, Application::Voip)?;
        inner.set_bitrate(Bitrate::BitsPerSecond(settings.bitrate))?;
        inner.set_inband_fec(settings.inband_fec)?;
        inner.set_packet_loss_perc(settings.expected_loss_percent.min(100))?;
        Ok(OpusEncoder { inner, rate })
    }

    /// Input rate.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Encodes one 20 ms frame into `out`; returns the packet length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        let want = self.rate.frame_samples();
        if pcm.len() != want {
            return Err(OpusError::FrameLength {
                got: pcm.len(),
                want,
            });
        }
        Ok(self.inner.encode(pcm, out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_frame_length_and_garbage_packets() {
        let mut enc = OpusEncoder::new(SampleRate::Hz48000, OpusSettings::default()).expect("enc");
        let mut pkt = [0u8; MAX_PACKET];
        assert!(matches!(
            enc.encode(&[0; 100], &mut pkt),
            Err(OpusError::FrameLength {
                got: 100,
                want: 960
            })
        ));
        let mut dec = OpusDecoder::new(SampleRate::Hz48000).expect("dec");
        let mut out = [0i16; 960];
        assert!(dec.decode(&[], &mut out).is_err());
        // TOC byte claiming code 3 with an impossible frame count.
        assert!(dec.decode(&[0xFF, 0xFF], &mut out).is_err());
    }

    #[test]
    fn a_longer_packet_than_the_buffer_is_a_typed_error() {
        let mut enc = OpusEncoder::new(SampleRate::Hz48000, OpusSettings::default()).expect("enc");
        let mut pkt = [0u8; MAX_PACKET];
        let n = enc.encode(&[0; 960], &mut pkt).expect("encode");
        let mut dec = OpusDecoder::new(SampleRate::Hz48000).expect("dec");
        let mut small = [0i16; 480];
        assert!(matches!(
            dec.decode(&pkt[..n], &mut small),
            Err(OpusError::TooLong {
                samples: 960,
                capacity: 480
            })
        ));
    }
}
