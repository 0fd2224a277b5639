//! Uplink framing: one 20 ms frame → the complete `input_audio_buffer.append`
//! event text, written into a buffer owned by the writer and reused.

use super::base64;

const PREFIX: &[u8] = br#"{"type":"input_audio_buffer.append","audio":""#;
const SUFFIX: &[u8] = br#""}"#;

/// Builds `input_audio_buffer.append` events in one reused buffer.
///
/// The buffer is sized at construction for the largest frame expected (20 ms of
/// 24 kHz PCM16), so steady-state framing never allocates.
#[derive(Debug)]
pub struct AppendWriter {
    buf: Vec<u8>,
}

impl Default for AppendWriter {
    fn default() -> AppendWriter {
        AppendWriter::new()
    }
}

impl AppendWriter {
    /// A writer with room for 20 ms of 24 kHz PCM16 (960 bytes of audio).
    pub fn new() -> AppendWriter {
        AppendWriter::with_audio_capacity(960)
    }

    /// A writer with room for `audio_bytes` of audio per event without reallocating.
    pub fn with_audio_capacity(audio_bytes: usize) -> AppendWriter {
        let mut buf =
            Vec::with_capacity(PREFIX.len() + base64::encoded_len(audio_bytes) + SUFFIX.len());
        buf.extend_from_slice(PREFIX);
        AppendWriter { buf }
    }

    /// The event for PCM16 samples (`audio/pcm`, little-endian, 24 kHz for the Realtime API).
    pub fn pcm16(&mut self, samples: &[i16]) -> &str {
        // The prefix never changes: keep it and rewrite only the audio and suffix.
        self.buf.truncate(PREFIX.len());
        base64::encode_pcm16_into(samples, &mut self.buf);
        self.buf.extend_from_slice(SUFFIX);
        self.text()
    }

    /// The event for G.711 bytes as they came off the wire (`audio/pcmu` or `audio/pcma`).
    pub fn g711(&mut self, payload: &[u8]) -> &str {
        self.buf.truncate(PREFIX.len());
        base64::encode_into(payload, &mut self.buf);
        self.buf.extend_from_slice(SUFFIX);
        self.text()
    }

    fn text(&self) -> &str {
        debug_assert!(self.buf.is_ascii());
        // SAFETY: the buffer holds only the ASCII constants above and base64 alphabet
        // characters written by `base64`, so it is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.buf) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm16_event_text_is_exact() {
        let mut w = AppendWriter::new();
        assert_eq!(
            w.pcm16(&[0x0102, -2]),
            r#"{"type":"input_audio_buffer.append","audio":"AgH+/w=="}"#
        );
    }

    #[test]
    fn g711_event_text_is_exact() {
        let mut w = AppendWriter::new();
        assert_eq!(
            w.g711(&[0xFF, 0xFF, 0xFF]),
            r#"{"type":"input_audio_buffer.append","audio":"////"}"#
        );
    }

    #[test]
    fn buffer_is_reused_without_growing() {
        let mut w = AppendWriter::new();
        let cap = w.buf.capacity();
        for i in 0..100 {
            let frame = [i as i16; 480];
            let text = w.pcm16(&frame);
            assert_eq!(text.len(), PREFIX.len() + 1280 + SUFFIX.len());
        }
        assert_eq!(w.buf.capacity(), cap);
    }
}
