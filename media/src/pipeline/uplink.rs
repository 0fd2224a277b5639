//! Uplink: jitter-buffer playout → `input_audio_buffer.append` text.

use thiserror::Error;

use super::codec_law;
use crate::audio::SampleRate;
use crate::conceal::RepeatFade;
use crate::g711::G711Law;
use crate::jitter::Playout;
use crate::opus::{OpusDecoder, OpusError};
use crate::realtime::{AppendWriter, AudioFormat};
use crate::resample::Resampler;
use crate::rtp::PayloadType;
use crate::sdp::Codec;

const G711_FRAME: usize = 160;

/// Why an uplink frame could not be framed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UplinkError {
    /// A G.711 payload that is not 20 ms (160 bytes).
    #[error("G.711 payload of {0} bytes is not one 20 ms frame")]
    FrameSize(usize),
    /// The Opus decoder rejected the packet.
    #[error(transparent)]
    Opus(#[from] OpusError),
}

enum Decode {
    G711(G711Law),
    Opus(Box<OpusDecoder>),
}

impl std::fmt::Debug for Decode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decode::G711(law) => write!(f, "G711({law:?})"),
            Decode::Opus(_) => f.write_str("Opus"),
        }
    }
}

/// The uplink half of a call leg's hot path.
#[derive(Debug)]
pub struct Uplink {
    format: AudioFormat,
    decode: Decode,
    /// Same G.711 law on both sides: payloads go out untouched.
    passthrough: bool,
    conceal: RepeatFade,
    resampler: Option<Resampler>,
    writer: AppendWriter,
    leg_pcm: [i16; 480],
    out_pcm: [i16; 480],
    g711: [u8; G711_FRAME],
    event_pt: Option<PayloadType>,
}

impl Uplink {
    /// The uplink for a leg using `codec` into a session whose input format is `format`.
    pub fn new(codec: Codec, format: AudioFormat) -> Result<Uplink, UplinkError> {
        let (decode, leg_rate) = match codec_law(codec) {
            Some(law) => (Decode::G711(law), SampleRate::Hz8000),
            // libopus decodes straight to the session's rate.
            None => (
                Decode::Opus(Box::new(OpusDecoder::new(format.sample_rate())?)),
                format.sample_rate(),
            ),
        };
        let resampler = (leg_rate != format.sample_rate())
            .then(|| Resampler::new(leg_rate, format.sample_rate()));
        Ok(Uplink {
            format,
            passthrough: codec_law(codec).is_some() && codec_law(codec) == format.law(),
            decode,
            conceal: RepeatFade::default(),
            resampler,
            writer: AppendWriter::with_audio_capacity(format.frame_bytes()),
            leg_pcm: [0; 480],
            out_pcm: [0; 480],
            g711: [0; G711_FRAME],
            event_pt: None,
        })
    }

    /// Frames carrying this RFC 4733 telephone-event payload type are played as
    /// silence (the sender mutes audio while a key is pressed).
    pub fn with_event_payload_type(mut self, pt: Option<PayloadType>) -> Uplink {
        self.event_pt = pt;
        self
    }

    /// The session input format.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Whether G.711 passes through untouched.
    pub fn is_passthrough(&self) -> bool {
        self.passthrough
    }

    /// Frames one tick of playout. `Waiting` (nothing received yet) sends nothing.
    pub fn process(&mut self, playout: Playout<'_>) -> Result<Option<&str>, UplinkError> {
        if let Playout::Frame { payload_type, .. } = playout
            && Some(payload_type) == self.event_pt
        {
            let n = self.format.sample_rate().frame_samples();
            self.out_pcm[..n].fill(0);
            return Ok(Some(match self.format.law() {
                None => self.writer.pcm16(&self.out_pcm[..n]),
                Some(law) => {
                    self.g711.fill(law.silence());
                    self.writer.g711(&self.g711)
                }
            }));
        }
        if let (true, Playout::Frame { payload, .. }) = (self.passthrough, playout) {
            if payload.len() != G711_FRAME {
                return Err(UplinkError::FrameSize(payload.len()));
            }
            if let Decode::G711(law) = self.decode {
                // Keep the concealer primed in case the next packet is lost.
                law.decode(payload, &mut self.leg_pcm[..G711_FRAME]);
                self.conceal.on_good(&self.leg_pcm[..G711_FRAME]);
            }
            return Ok(Some(self.writer.g711(payload)));
        }
        let leg_len = match playout {
            Playout::Waiting => return Ok(None),
            _ => self.decode(playout)?,
        };
        let pcm: &[i16] = match self.resampler.as_mut() {
            Some(r) => {
                let n = r
                    .process(&self.leg_pcm[..leg_len], &mut self.out_pcm)
                    .map_err(|_| UplinkError::FrameSize(leg_len))?;
                &self.out_pcm[..n]
            }
            None => &self.leg_pcm[..leg_len],
        };
        Ok(Some(match self.format.law() {
            None => self.writer.pcm16(pcm),
            Some(law) => {
                let n = pcm.len().min(G711_FRAME);
                law.encode(&pcm[..n], &mut self.g711[..n]);
                self.writer.g711(&self.g711[..n])
            }
        }))
    }

    /// Decodes (or conceals) one frame into `leg_pcm`; returns its length.
    fn decode(&mut self, playout: Playout<'_>) -> Result<usize, UplinkError> {
        match (&mut self.decode, playout) {
            (Decode::G711(law), Playout::Frame { payload, .. }) => {
                if payload.len() != G711_FRAME {
                    return Err(UplinkError::FrameSize(payload.len()));
                }
                law.decode(payload, &mut self.leg_pcm[..G711_FRAME]);
                self.conceal.on_good(&self.leg_pcm[..G711_FRAME]);
                Ok(G711_FRAME)
            }
            (Decode::G711(_), _) => {
                self.conceal.conceal(&mut self.leg_pcm[..G711_FRAME]);
                Ok(G711_FRAME)
            }
            (Decode::Opus(dec), Playout::Frame { payload, .. }) => {
                Ok(dec.decode(payload, &mut self.leg_pcm)?)
            }
            (
                Decode::Opus(dec),
                Playout::Lost {
                    fec_source: Some(next),
                    ..
                },
            ) => Ok(dec.decode_fec(next, &mut self.leg_pcm)?),
            (Decode::Opus(dec), _) => Ok(dec.conceal(&mut self.leg_pcm)?),
        }
    }
}
