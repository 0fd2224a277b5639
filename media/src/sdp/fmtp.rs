//! The two `a=fmtp` grammars we interpret: Opus parameters (RFC 7587 §6.1) and
//! telephone-event lists (RFC 4733 §7.1.1).

/// Opus parameters the remote declared for what it receives from us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OpusParams {
    /// `useinbandfec=1`: the remote can decode in-band FEC, so we may send it.
    pub use_inband_fec: bool,
    /// `usedtx=1`: the remote prefers discontinuous transmission.
    pub use_dtx: bool,
    /// `stereo=1`: the remote prefers stereo.
    pub stereo: bool,
    /// `maxaveragebitrate`: bits per second we should not exceed on average.
    pub max_average_bitrate: Option<u32>,
    /// `maxplaybackrate`: the highest audio bandwidth worth sending, in Hz.
    pub max_playback_rate: Option<u32>,
}

impl OpusParams {
    /// Reads `key=value` pairs separated by `;` (whitespace tolerated); unknown
    /// keys and bad values are ignored, defaults per RFC 7587.
    pub fn parse(fmtp: &str) -> OpusParams {
        let mut params = OpusParams::default();
        for pair in fmtp.split(';') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            let flag = value == "1";
            if key.eq_ignore_ascii_case("useinbandfec") {
                params.use_inband_fec = flag;
            } else if key.eq_ignore_ascii_case("usedtx") {
                params.use_dtx = flag;
            } else if key.eq_ignore_ascii_case("stereo") {
                params.stereo = flag;
            } else if key.eq_ignore_ascii_case("maxaveragebitrate") {
                params.max_average_bitrate = value.parse().ok();
            } else if key.eq_ignore_ascii_case("maxplaybackrate") {
                params.max_playback_rate = value.parse().ok();
            }
        }
        params
    }
}

/// Longest telephone-event list we echo.
const MAX_EVENTS_LEN: usize = 64;

/// A telephone-event `fmtp` (e.g. `0-16` or `0-15,66,70`) in canonical form
/// (spaces removed), or `None` if it is not an event list. We echo it in our
/// answer; without it RFC 4733 implies events 0-15.
pub(crate) fn telephone_events(fmtp: &str) -> Option<String> {
    let events: String = fmtp.chars().filter(|c| *c != ' ').collect();
    let valid = !events.is_empty()
        && events.len() <= MAX_EVENTS_LEN
        && events.split(',').all(|range| {
            let mut ends = range.splitn(2, '-');
            ends.all(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        });
    valid.then_some(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_params_from_freeswitch_fmtp() {
        let p = OpusParams::parse(
            "useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; ptime=20; minptime=10",
        );
        assert_eq!(
            p,
            OpusParams {
                use_inband_fec: true,
                use_dtx: false,
                stereo: false,
                max_average_bitrate: Some(30000),
                max_playback_rate: Some(48000),
            }
        );
        assert_eq!(
            OpusParams::parse("garbage;;=;stereo=1"),
            OpusParams {
                stereo: true,
                ..OpusParams::default()
            }
        );
    }

    #[test]
    fn telephone_event_lists() {
        assert_eq!(telephone_events("0-16").as_deref(), Some("0-16"));
        assert_eq!(
            telephone_events("0-15, 66,70").as_deref(),
            Some("0-15,66,70")
        );
        assert_eq!(telephone_events("0-"), None);
        assert_eq!(telephone_events("events=0-15"), None);
        assert_eq!(telephone_events("0--15"), None);
        assert_eq!(telephone_events(""), None);
    }
}
