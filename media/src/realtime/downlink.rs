//! Downlink framing: `response.output_audio.delta` text → 20 ms frames.
//!
//! The event's top level is scanned (field order and whitespace are free) to
//! find `type`, `response_id`, `item_id` and `delta`; the base64 in `delta` is
//! decoded in place, in one streaming pass, into a [`FrameAssembler`] that hands
//! out whole 20 ms frames and carries the remainder to the next delta. Deltas of
//! any length work, including ones that split a PCM16 sample. Only the JSON
//! escape `\/` can legitimately occur inside base64 and it is honoured.

use thiserror::Error;

use super::base64::{self, Base64Error};
use super::scan::{self, RawStr, ScanError, Value};

/// The event type this module decodes.
pub const AUDIO_DELTA_TYPE: &str = "response.output_audio.delta";

/// Largest frame the assembler holds: 20 ms of 24 kHz PCM16.
pub const MAX_FRAME_BYTES: usize = 960;

/// Why a delta event could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// The text is not a JSON object.
    #[error("malformed event: {0}")]
    Json(#[from] ScanError),
    /// The event is not a `response.output_audio.delta`.
    #[error("not an audio delta event")]
    NotAudioDelta,
    /// No `delta` string member.
    #[error("audio delta event has no delta string")]
    MissingDelta,
    /// The delta is not valid base64.
    #[error("invalid base64 in delta: {0}")]
    Base64(#[from] Base64Error),
    /// A JSON escape other than `\/` inside the base64.
    #[error("unexpected escape in delta at offset {0}")]
    Escape(usize),
}

/// The identifying fields of a decoded audio delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioDelta<'a> {
    /// The response the audio belongs to (cancelled responses' deltas are dropped by
    /// the bridge).
    pub response_id: Option<&'a str>,
    /// The assistant item the audio belongs to (needed to truncate it on barge-in).
    pub item_id: Option<&'a str>,
    /// Decoded audio bytes in this delta.
    pub bytes: usize,
}

/// The `type` of an event, found without parsing the rest.
pub fn event_type(text: &str) -> Result<Option<&str>, ScanError> {
    let mut ty = None;
    scan::scan_object(text, |k, v| {
        if k.raw == "type" {
            ty = v.plain_str();
        }
    })?;
    Ok(ty)
}

/// Collects bytes into fixed-size frames, carrying the remainder.
#[derive(Debug, Clone)]
pub struct FrameAssembler {
    buf: [u8; MAX_FRAME_BYTES],
    fill: usize,
    frame_bytes: usize,
}

impl FrameAssembler {
    /// An assembler of `frame_bytes`-byte frames (clamped to 1..=[`MAX_FRAME_BYTES`]):
    /// 960 for 24 kHz PCM16, 160 for G.711.
    pub fn new(frame_bytes: usize) -> FrameAssembler {
        FrameAssembler {
            buf: [0; MAX_FRAME_BYTES],
            fill: 0,
            frame_bytes: frame_bytes.clamp(1, MAX_FRAME_BYTES),
        }
    }

    /// Frame size in bytes.
    pub fn frame_bytes(&self) -> usize {
        self.frame_bytes
    }

    /// Bytes waiting for the rest of their frame.
    pub fn pending(&self) -> usize {
        self.fill
    }

    /// Appends bytes, calling `on_frame` for every frame completed.
    #[inline]
    pub fn push(&mut self, mut bytes: &[u8], on_frame: &mut impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            let take = (self.frame_bytes - self.fill).min(bytes.len());
            self.buf[self.fill..self.fill + take].copy_from_slice(&bytes[..take]);
            self.fill += take;
            bytes = &bytes[take..];
            if self.fill == self.frame_bytes {
                on_frame(&self.buf[..self.frame_bytes]);
                self.fill = 0;
            }
        }
    }

    /// Pads a partial frame with `silence` and emits it (end of a response's audio).
    /// Returns whether a frame was emitted.
    pub fn flush_padded(&mut self, silence: u8, on_frame: &mut impl FnMut(&[u8])) -> bool {
        if self.fill == 0 {
            return false;
        }
        self.buf[self.fill..self.frame_bytes].fill(silence);
        self.fill = 0;
        on_frame(&self.buf[..self.frame_bytes]);
        true
    }

    /// Drops a partial frame (barge-in, or realignment after a malformed delta).
    pub fn clear(&mut self) {
        self.fill = 0;
    }
}

/// Decodes audio delta events into 20 ms frames.
#[derive(Debug, Clone)]
pub struct DeltaDecoder {
    frames: FrameAssembler,
}

impl DeltaDecoder {
    /// A decoder producing `frame_bytes`-byte frames (960 for 24 kHz PCM16, 160 for G.711).
    pub fn new(frame_bytes: usize) -> DeltaDecoder {
        DeltaDecoder {
            frames: FrameAssembler::new(frame_bytes),
        }
    }

    /// The frame assembler (for padding out the last frame or clearing on barge-in).
    pub fn frames(&mut self) -> &mut FrameAssembler {
        &mut self.frames
    }

    /// Decodes one event, calling `on_frame` for each 20 ms frame it completes.
    ///
    /// On error nothing of this event is kept: a partial frame is dropped so the
    /// stream realigns on a frame (and so a sample) boundary; frames already handed
    /// out stay handed out.
    pub fn decode<'a>(
        &mut self,
        text: &'a str,
        on_frame: &mut impl FnMut(&[u8]),
    ) -> Result<AudioDelta<'a>, DeltaError> {
        let result = self.decode_event(text, on_frame);
        if result.is_err() {
            self.frames.clear();
        }
        result
    }

    fn decode_event<'a>(
        &mut self,
        text: &'a str,
        on_frame: &mut impl FnMut(&[u8]),
    ) -> Result<AudioDelta<'a>, DeltaError> {
        let mut event = AudioDelta::default();
        let mut ty = None;
        let mut delta = None;
        scan::scan_object(text, |k, v| match (k.raw, v) {
            ("type", v) => ty = v.plain_str(),
            ("response_id", v) => event.response_id = v.plain_str(),
            ("item_id", v) => event.item_id = v.plain_str(),
            ("delta", Value::Str(s)) => delta = Some(s),
            _ => {}
        })?;
        if ty != Some(AUDIO_DELTA_TYPE) {
            return Err(DeltaError::NotAudioDelta);
        }
        let delta = delta.ok_or(DeltaError::MissingDelta)?;
        event.bytes = self.decode_base64(delta, on_frame)?;
        Ok(event)
    }

    fn decode_base64(
        &mut self,
        delta: RawStr<'_>,
        on_frame: &mut impl FnMut(&[u8]),
    ) -> Result<usize, DeltaError> {
        let frames = &mut self.frames;
        let mut total = 0usize;
        let mut sink = |b: &[u8]| {
            total += b.len();
            frames.push(b, on_frame);
        };
        let raw = delta.raw.as_bytes();
        if !delta.escaped {
            base64::decode(raw, &mut sink)?;
            return Ok(total);
        }
        // Only `\/` may appear; feed the pieces between escapes to a streaming decoder.
        let mut dec = base64::Decoder::new();
        let mut rest = raw;
        let mut offset = 0;
        while let Some(i) = memchr::memchr(b'\\', rest) {
            dec.push(&rest[..i], &mut sink)?;
            if rest.get(i + 1) != Some(&b'/') {
                return Err(DeltaError::Escape(offset + i));
            }
            dec.push(b"/", &mut sink)?;
            rest = &rest[i + 2..];
            offset += i + 2;
        }
        dec.push(rest, &mut sink)?;
        dec.finish()?;
        Ok(total)
    }
}

/// Reinterprets little-endian PCM16 bytes as samples (up to the shorter length).
#[inline]
pub fn pcm16_from_le(bytes: &[u8], out: &mut [i16]) {
    let (pairs, _) = bytes.as_chunks::<2>();
    for (o, p) in out.iter_mut().zip(pairs) {
        *o = i16::from_le_bytes(*p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(
        dec: &mut DeltaDecoder,
        text: &str,
    ) -> (Result<AudioDelta<'static>, DeltaError>, Vec<Vec<u8>>) {
        let mut out = Vec::new();
        let text: &'static str = Box::leak(text.to_string().into_boxed_str());
        let r = dec.decode(text, &mut |f| out.push(f.to_vec()));
        (r, out)
    }

    #[test]
    fn decodes_fields_in_any_order() {
        let mut d = DeltaDecoder::new(3);
        let (r, frames) = frames_of(
            &mut d,
            r#"{ "delta" : "AQIDBAUG", "item_id":"item_1","type":"response.output_audio.delta","response_id":"resp_9","output_index":0,"content_index":0 }"#,
        );
        let r = r.expect("decode");
        assert_eq!(r.response_id, Some("resp_9"));
        assert_eq!(r.item_id, Some("item_1"));
        assert_eq!(r.bytes, 6);
        assert_eq!(frames, vec![vec![1, 2, 3], vec![4, 5, 6]]);
    }

    #[test]
    fn remainder_carries_across_deltas_even_mid_sample() {
        let mut d = DeltaDecoder::new(4);
        let ev = |b64: &str| format!(r#"{{"type":"response.output_audio.delta","delta":"{b64}"}}"#);
        let (_, f1) = frames_of(&mut d, &ev("AQID")); // 1 2 3
        assert!(f1.is_empty());
        assert_eq!(d.frames().pending(), 3);
        let (_, f2) = frames_of(&mut d, &ev("BAUGBwgJ")); // 4..9
        assert_eq!(f2, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
        let mut last = Vec::new();
        assert!(d.frames().flush_padded(0xFF, &mut |f| last = f.to_vec()));
        assert_eq!(last, vec![9, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn escaped_slash_is_honoured() {
        let mut d = DeltaDecoder::new(3);
        let (r, frames) = frames_of(
            &mut d,
            r#"{"type":"response.output_audio.delta","delta":"\/\/\/\/"}"#,
        );
        assert_eq!(r.expect("decode").bytes, 3);
        assert_eq!(frames, vec![vec![0xFF, 0xFF, 0xFF]]);
    }

    #[test]
    fn malformed_events_are_errors_and_realign() {
        let mut d = DeltaDecoder::new(4);
        let (_, _) = frames_of(
            &mut d,
            r#"{"type":"response.output_audio.delta","delta":"AQID"}"#,
        );
        assert_eq!(d.frames().pending(), 3);
        // A truncated event drops the partial frame too, not only a bad base64 one.
        let (r, _) = frames_of(
            &mut d,
            r#"{"type":"response.output_audio.delta","delta":"AQ"#,
        );
        assert_eq!(r, Err(DeltaError::Json(ScanError::Truncated)));
        assert_eq!(d.frames().pending(), 0);
        let (_, _) = frames_of(
            &mut d,
            r#"{"type":"response.output_audio.delta","delta":"AQID"}"#,
        );
        assert_eq!(d.frames().pending(), 3);
        let cases = [
            (
                r#"{"type":"response.output_audio.delta","delta":"AQ!D"}"#,
                DeltaError::Base64(Base64Error::InvalidByte(2)),
            ),
            (
                r#"{"type":"response.output_audio.delta","delta":"AQI"}"#,
                DeltaError::Base64(Base64Error::BadLength(3)),
            ),
            (
                r#"{"type":"response.output_audio.delta","delta":"\nAQI"}"#,
                DeltaError::Escape(0),
            ),
            (
                r#"{"type":"response.output_audio.delta"}"#,
                DeltaError::MissingDelta,
            ),
            (
                r#"{"type":"response.output_audio.delta","delta":7}"#,
                DeltaError::MissingDelta,
            ),
            (
                r#"{"type":"response.done","delta":"AQID"}"#,
                DeltaError::NotAudioDelta,
            ),
            (
                r#"{"type":"response.output_audio.delta","delta":"AQID""#,
                DeltaError::Json(ScanError::Truncated),
            ),
        ];
        for (text, want) in cases {
            let (r, _) = frames_of(&mut d, text);
            assert_eq!(r, Err(want), "{text}");
        }
        assert_eq!(
            d.frames().pending(),
            0,
            "partial frame dropped after an error"
        );
    }

    #[test]
    fn event_type_is_found_anywhere() {
        assert_eq!(
            event_type(r#"{"a":[1],"type":"session.created"}"#),
            Ok(Some("session.created"))
        );
        assert_eq!(event_type(r#"{"a":1}"#), Ok(None));
        assert!(event_type("nope").is_err());
    }
}
