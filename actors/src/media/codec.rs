//! The leg's codec: decode what the jitter buffer plays out (concealing losses)
//! and encode what the pacer hands out, at the leg's PCM rate.

use tenex_media::SampleRate;
use tenex_media::conceal::RepeatFade;
use tenex_media::g711::G711Law;
use tenex_media::jitter::Playout;
use tenex_media::opus::{OpusDecoder, OpusEncoder, OpusError, OpusSettings};
use tenex_media::rtp::PayloadType;
use tenex_media::sdp::Codec;

enum Inner {
    G711(G711Law),
    Opus(Box<OpusDecoder>, Box<OpusEncoder>),
}

/// Decoder and encoder for one leg.
pub(crate) struct LegCodec {
    inner: Inner,
    rate: SampleRate,
    conceal: RepeatFade,
    event_pt: Option<PayloadType>,
    /// Payloads that failed to decode (concealed instead).
    pub(crate) decode_errors: u64,
}

impl std::fmt::Debug for LegCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegCodec")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl LegCodec {
    /// A codec at `rate` (G.711 is always 8 kHz; Opus at any supported rate).
    pub(crate) fn new(
        codec: Codec,
        rate: SampleRate,
        event_pt: Option<PayloadType>,
    ) -> Result<LegCodec, OpusError> {
        let (inner, rate) = match codec {
            Codec::Pcmu => (Inner::G711(G711Law::Ulaw), SampleRate::Hz8000),
            Codec::Pcma => (Inner::G711(G711Law::Alaw), SampleRate::Hz8000),
            Codec::Opus => (
                Inner::Opus(
                    Box::new(OpusDecoder::new(rate)?),
                    Box::new(OpusEncoder::new(rate, OpusSettings::default())?),
                ),
                rate,
            ),
        };
        Ok(LegCodec {
            inner,
            rate,
            conceal: RepeatFade::default(),
            event_pt,
            decode_errors: 0,
        })
    }

    /// The PCM rate of this leg.
    pub(crate) fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Decodes (or conceals) one tick of playout into `out`; `None` while waiting.
    pub(crate) fn decode(&mut self, playout: Playout<'_>, out: &mut [i16]) -> Option<usize> {
        let n = self.rate.frame_samples().min(out.len());
        let out = &mut out[..n];
        match playout {
            Playout::Waiting => return None,
            Playout::Frame { payload_type, .. } if Some(payload_type) == self.event_pt => {
                out.fill(0);
            }
            Playout::Frame { payload, .. } => {
                let ok = match &mut self.inner {
                    Inner::G711(law) if payload.len() == n => {
                        law.decode(payload, out);
                        true
                    }
                    Inner::G711(_) => false,
                    Inner::Opus(dec, _) => dec.decode(payload, out).is_ok_and(|got| got == n),
                };
                if ok {
                    self.conceal.on_good(out);
                } else {
                    self.decode_errors += 1;
                    self.conceal_into(None, out);
                }
            }
            Playout::Lost { fec_source, .. } => self.conceal_into(fec_source, out),
        }
        Some(n)
    }

    fn conceal_into(&mut self, fec_source: Option<&[u8]>, out: &mut [i16]) {
        match &mut self.inner {
            Inner::G711(_) => self.conceal.conceal(out),
            Inner::Opus(dec, _) => {
                let recovered = match fec_source {
                    Some(next) => dec.decode_fec(next, out),
                    None => dec.conceal(out),
                };
                if recovered.is_err() {
                    out.fill(0);
                }
            }
        }
    }

    /// Encodes one frame of PCM into `out`; returns the payload length (0 on an
    /// encoder failure, which sends nothing for that tick).
    pub(crate) fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match &mut self.inner {
            Inner::G711(law) => {
                let n = pcm.len().min(out.len());
                law.encode(&pcm[..n], &mut out[..n]);
                n
            }
            Inner::Opus(_, enc) => enc.encode(pcm, out).unwrap_or(0),
        }
    }
}
