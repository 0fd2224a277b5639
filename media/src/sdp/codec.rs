//! The codecs we negotiate and the configurable preference between them.

use std::fmt;

use super::SdpError;
use super::session::{RtpFormat, RtpMap};
use crate::SampleRate;
use crate::rtp::PayloadType;

/// An audio codec the media leg can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, `PCMU/8000`, static payload type 0.
    Pcmu,
    /// G.711 A-law, `PCMA/8000`, static payload type 8.
    Pcma,
    /// Opus, always signalled as `opus/48000/2` (RFC 7587 §7).
    Opus,
}

/// Dynamic payload type we use for Opus in our own offers.
pub const OPUS_PT: PayloadType = dynamic_pt(111);
/// Payload type we use for `telephone-event/8000` in our own offers.
pub const TELEPHONE_EVENT_8K_PT: PayloadType = dynamic_pt(101);
/// Payload type we use for `telephone-event/48000` in our own offers.
pub const TELEPHONE_EVENT_48K_PT: PayloadType = dynamic_pt(110);

const fn dynamic_pt(pt: u8) -> PayloadType {
    match PayloadType::new(pt) {
        Some(pt) => pt,
        None => PayloadType::PCMU,
    }
}

impl Codec {
    /// Every codec, in the default preference order.
    pub const ALL: [Codec; 3] = [Codec::Pcmu, Codec::Pcma, Codec::Opus];

    /// The encoding name as written in `a=rtpmap`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
        }
    }

    /// The RTP clock rate (timestamp units per second).
    pub const fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8_000,
            Codec::Opus => 48_000,
        }
    }

    /// The sample rate the decoder produces and the encoder expects.
    pub const fn sample_rate(self) -> SampleRate {
        match self {
            Codec::Pcmu | Codec::Pcma => SampleRate::Hz8000,
            Codec::Opus => SampleRate::Hz48000,
        }
    }

    /// The channel count written in `a=rtpmap`, if any (Opus always says 2).
    pub const fn rtpmap_channels(self) -> Option<u8> {
        match self {
            Codec::Pcmu | Codec::Pcma => None,
            Codec::Opus => Some(2),
        }
    }

    /// The payload type we use for this codec in our own offers.
    pub const fn offer_payload_type(self) -> PayloadType {
        match self {
            Codec::Pcmu => PayloadType::PCMU,
            Codec::Pcma => PayloadType::PCMA,
            Codec::Opus => OPUS_PT,
        }
    }

    /// The `a=fmtp` parameters we send with this codec.
    pub const fn local_fmtp(self) -> Option<&'static str> {
        match self {
            Codec::Pcmu | Codec::Pcma => None,
            Codec::Opus => Some("minptime=10;useinbandfec=1"),
        }
    }

    /// Whether a remote format is this codec. Encoding names compare ASCII
    /// case-insensitively; G.711 must be mono; Opus may omit its channel count
    /// (RFC 7587 requires `/2`, some endpoints leave it out).
    pub fn matches(self, format: &RtpFormat) -> bool {
        format
            .rtpmap
            .as_ref()
            .is_some_and(|m| self.matches_rtpmap(m))
    }

    fn matches_rtpmap(self, map: &RtpMap) -> bool {
        map.encoding.eq_ignore_ascii_case(self.encoding_name())
            && map.clock_rate == self.clock_rate()
            && match self {
                Codec::Pcmu | Codec::Pcma => matches!(map.channels, None | Some(1)),
                Codec::Opus => matches!(map.channels, None | Some(2)),
            }
    }

    /// The codec a remote format carries, if it is one of ours.
    pub fn identify(format: &RtpFormat) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.matches(format))
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.encoding_name();
        match self.rtpmap_channels() {
            Some(ch) => write!(f, "{name}/{}/{ch}", self.clock_rate()),
            None => write!(f, "{name}/{}", self.clock_rate()),
        }
    }
}

/// Whose codec order decides when an offer contains several acceptable codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PreferenceOrder {
    /// Our [`CodecPrefs`] list decides (the default). A trunk-facing media server
    /// normally does this: the codec decides our cost (G.711 passes straight
    /// through to the Realtime API's `audio/pcmu`/`audio/pcma`, Opus has to be
    /// transcoded), and RFC 3264 lets the answerer choose any offered format.
    #[default]
    Ours,
    /// The offer's `m=` line order decides (RFC 3264 §5.1: formats are listed in
    /// the offerer's order of preference); our list only filters.
    Offerer,
}

/// The codecs we accept, most preferred first, and whose order wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecPrefs {
    codecs: Vec<Codec>,
    order: PreferenceOrder,
}

impl CodecPrefs {
    /// A preference list, most preferred first; duplicates are dropped.
    /// Fails with [`SdpError::EmptyCodecList`] if `codecs` is empty.
    pub fn new(codecs: &[Codec]) -> Result<CodecPrefs, SdpError> {
        let mut list = Vec::with_capacity(codecs.len().min(Codec::ALL.len()));
        for &c in codecs {
            if !list.contains(&c) {
                list.push(c);
            }
        }
        if list.is_empty() {
            return Err(SdpError::EmptyCodecList);
        }
        Ok(CodecPrefs {
            codecs: list,
            order: PreferenceOrder::default(),
        })
    }

    /// The same list with a different [`PreferenceOrder`].
    pub fn with_order(mut self, order: PreferenceOrder) -> CodecPrefs {
        self.order = order;
        self
    }

    /// The codecs, most preferred first.
    pub fn codecs(&self) -> &[Codec] {
        &self.codecs
    }

    /// Whose order wins.
    pub fn order(&self) -> PreferenceOrder {
        self.order
    }

    /// Position of `codec` in our list, if we accept it at all.
    pub fn rank(&self, codec: Codec) -> Option<usize> {
        self.codecs.iter().position(|&c| c == codec)
    }
}

impl Default for CodecPrefs {
    /// PCMU, PCMA, Opus with [`PreferenceOrder::Ours`]: G.711 first because it
    /// passes through to the Realtime API without transcoding.
    fn default() -> CodecPrefs {
        CodecPrefs {
            codecs: Codec::ALL.to_vec(),
            order: PreferenceOrder::Ours,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(pt: u8, enc: &str, rate: u32, ch: Option<u8>) -> RtpFormat {
        RtpFormat {
            payload_type: PayloadType::new(pt).expect("pt"),
            rtpmap: Some(RtpMap {
                encoding: enc.to_owned(),
                clock_rate: rate,
                channels: ch,
            }),
            fmtp: None,
        }
    }

    #[test]
    fn identifies_by_rtpmap_not_number() {
        assert_eq!(
            Codec::identify(&fmt(96, "pcmu", 8000, None)),
            Some(Codec::Pcmu)
        );
        assert_eq!(
            Codec::identify(&fmt(0, "PCMA", 8000, Some(1))),
            Some(Codec::Pcma)
        );
        assert_eq!(
            Codec::identify(&fmt(102, "OPUS", 48000, Some(2))),
            Some(Codec::Opus)
        );
        assert_eq!(
            Codec::identify(&fmt(102, "opus", 48000, None)),
            Some(Codec::Opus)
        );
        assert_eq!(Codec::identify(&fmt(102, "opus", 48000, Some(1))), None);
        assert_eq!(Codec::identify(&fmt(0, "PCMU", 16000, None)), None);
        assert_eq!(Codec::identify(&fmt(0, "PCMU", 8000, Some(2))), None);
        assert_eq!(Codec::identify(&fmt(18, "G729", 8000, None)), None);
    }

    #[test]
    fn prefs_dedupe_and_reject_empty() {
        let p = CodecPrefs::new(&[Codec::Opus, Codec::Pcmu, Codec::Opus]).expect("prefs");
        assert_eq!(p.codecs(), &[Codec::Opus, Codec::Pcmu]);
        assert_eq!(p.rank(Codec::Pcmu), Some(1));
        assert_eq!(p.rank(Codec::Pcma), None);
        assert_eq!(p.order(), PreferenceOrder::Ours);
        assert_eq!(CodecPrefs::new(&[]), Err(SdpError::EmptyCodecList));
    }

    #[test]
    fn display_is_the_rtpmap_text() {
        assert_eq!(Codec::Opus.to_string(), "opus/48000/2");
        assert_eq!(Codec::Pcma.to_string(), "PCMA/8000");
        assert_eq!(OPUS_PT.get(), 111);
        assert_eq!(TELEPHONE_EVENT_8K_PT.get(), 101);
        assert_eq!(TELEPHONE_EVENT_48K_PT.get(), 110);
    }
}
