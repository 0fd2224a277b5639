//! Downlink: `response.output_audio.delta` text → paced RTP payloads.

use std::time::Instant;

use thiserror::Error;

use super::codec_law;
use crate::audio::SampleRate;
use crate::g711::G711Law;
use crate::opus::{MAX_PACKET, OpusEncoder, OpusError, OpusSettings};
use crate::pacer::{Flushed, ItemTag, Pacer, PacerConfig, PacerStats};
use crate::realtime::{AudioDelta, AudioFormat, DeltaDecoder, DeltaError, pcm16_from_le};
use crate::resample::Resampler;
use crate::sdp::Codec;

const G711_FRAME: usize = 160;

/// Why a downlink tick could not be produced.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DownlinkError {
    /// The Opus encoder failed.
    #[error(transparent)]
    Opus(#[from] OpusError),
}

/// One RTP payload to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownTick<'a> {
    /// The payload (160 bytes of G.711, or one Opus packet).
    pub payload: &'a [u8],
    /// Set the RTP marker bit (start of a talk spurt).
    pub marker: bool,
    /// Frames skipped before this one (advance the RTP timestamp by as many frames).
    pub skipped: u32,
    /// The assistant item the audio belongs to; `None` for filler silence.
    pub item: Option<ItemTag>,
}

/// Turns session-format frames into pacer frames for the leg's codec.
#[derive(Debug)]
struct FrameSink {
    format: AudioFormat,
    pacer: LegPacer,
    resampler: Option<Resampler>,
    pcm_in: [i16; 480],
    pcm_leg: [i16; 480],
    g711: [u8; G711_FRAME],
}

#[derive(Debug)]
enum LegPacer {
    /// G.711 legs queue finished payloads.
    G711(G711Law, Pacer<u8>),
    /// Opus legs queue PCM at the session rate and encode at each tick.
    Opus(Pacer<i16>, Box<OpusEncoder>),
}

impl FrameSink {
    fn accept(&mut self, item: ItemTag, frame: &[u8], audio_us: u32) {
        match (&mut self.pacer, self.format.law()) {
            (LegPacer::G711(leg, pacer), Some(law)) if *leg == law => {
                pacer.push(item, frame, audio_us);
            }
            (LegPacer::G711(leg, pacer), Some(law)) => {
                law.decode(frame, &mut self.pcm_in[..G711_FRAME]);
                leg.encode(&self.pcm_in[..G711_FRAME], &mut self.g711);
                pacer.push(item, &self.g711, audio_us);
            }
            (LegPacer::G711(leg, pacer), None) => {
                pcm16_from_le(frame, &mut self.pcm_in);
                let pcm = match self.resampler.as_mut() {
                    Some(r) => match r.process(&self.pcm_in, &mut self.pcm_leg) {
                        Ok(n) => &self.pcm_leg[..n],
                        Err(_) => return,
                    },
                    None => &self.pcm_in[..G711_FRAME],
                };
                leg.encode(pcm, &mut self.g711);
                pacer.push(item, &self.g711, audio_us);
            }
            (LegPacer::Opus(pacer, _), Some(law)) => {
                law.decode(frame, &mut self.pcm_in[..G711_FRAME]);
                pacer.push(item, &self.pcm_in[..G711_FRAME], audio_us);
            }
            (LegPacer::Opus(pacer, _), None) => {
                pcm16_from_le(frame, &mut self.pcm_in);
                pacer.push(item, &self.pcm_in, audio_us);
            }
        }
    }
}

/// The downlink half of a call leg's hot path.
#[derive(Debug)]
pub struct Downlink {
    deltas: DeltaDecoder,
    sink: FrameSink,
    packet: [u8; MAX_PACKET],
}

impl Downlink {
    /// The downlink for a session whose output format is `format` into a leg using `codec`.
    pub fn new(codec: Codec, format: AudioFormat) -> Result<Downlink, DownlinkError> {
        let rate = format.sample_rate();
        let (pacer, resampler) = match codec_law(codec) {
            Some(law) => {
                let resampler =
                    (rate != SampleRate::Hz8000).then(|| Resampler::new(rate, SampleRate::Hz8000));
                (
                    LegPacer::G711(law, Pacer::new(PacerConfig::g711(law.silence()))),
                    resampler,
                )
            }
            None => (
                LegPacer::Opus(
                    Pacer::new(PacerConfig::pcm(rate.frame_samples())),
                    Box::new(OpusEncoder::new(rate, OpusSettings::default())?),
                ),
                None,
            ),
        };
        Ok(Downlink {
            deltas: DeltaDecoder::new(format.frame_bytes()),
            sink: FrameSink {
                format,
                pacer,
                resampler,
                pcm_in: [0; 480],
                pcm_leg: [0; 480],
                g711: [0; G711_FRAME],
            },
            packet: [0; MAX_PACKET],
        })
    }

    /// Decodes one audio delta of `item` into queued frames.
    pub fn push_delta<'a>(
        &mut self,
        item: ItemTag,
        text: &'a str,
    ) -> Result<AudioDelta<'a>, DeltaError> {
        let sink = &mut self.sink;
        self.deltas
            .decode(text, &mut |frame| sink.accept(item, frame, 20_000))
    }

    /// The item's audio is complete (`response.output_audio.done`): queue the last
    /// partial frame, padded with silence, counting only its real audio.
    pub fn end_item(&mut self, item: ItemTag) {
        let pending = self.deltas.frames().pending();
        let audio_us = self.sink.format.duration_us(pending);
        let silence = match self.sink.format.law() {
            Some(law) => law.silence(),
            None => 0,
        };
        let sink = &mut self.sink;
        self.deltas
            .frames()
            .flush_padded(silence, &mut |frame| sink.accept(item, frame, audio_us));
    }

    /// Barge-in: stop playout now and report what the caller heard.
    pub fn barge_in(&mut self) -> Flushed {
        self.deltas.frames().clear();
        match &mut self.sink.pacer {
            LegPacer::G711(_, p) => p.flush(),
            LegPacer::Opus(p, _) => p.flush(),
        }
    }

    /// When the next payload is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.sink.pacer {
            LegPacer::G711(_, p) => p.next_deadline(),
            LegPacer::Opus(p, _) => p.next_deadline(),
        }
    }

    /// Pacer counters.
    pub fn stats(&self) -> PacerStats {
        match &self.sink.pacer {
            LegPacer::G711(_, p) => p.stats(),
            LegPacer::Opus(p, _) => p.stats(),
        }
    }

    /// Frames queued for playout.
    pub fn queued_frames(&self) -> usize {
        match &self.sink.pacer {
            LegPacer::G711(_, p) => p.queued_frames(),
            LegPacer::Opus(p, _) => p.queued_frames(),
        }
    }

    /// The payload due at or before `now`, if any; call until `None`.
    pub fn poll(&mut self, now: Instant) -> Result<Option<DownTick<'_>>, DownlinkError> {
        match &mut self.sink.pacer {
            LegPacer::G711(_, pacer) => Ok(pacer.poll(now).map(|t| DownTick {
                payload: t.frame,
                marker: t.talkspurt_start,
                skipped: t.skipped,
                item: t.item,
            })),
            LegPacer::Opus(pacer, encoder) => {
                let Some(t) = pacer.poll(now) else {
                    return Ok(None);
                };
                let n = encoder.encode(t.frame, &mut self.packet)?;
                Ok(Some(DownTick {
                    payload: &self.packet[..n],
                    marker: t.talkspurt_start,
                    skipped: t.skipped,
                    item: t.item,
                }))
            }
        }
    }
}
