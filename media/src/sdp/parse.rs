//! A bounded, lenient line scanner for SDP bodies from the network.
//!
//! Strict about structure (`v=0` first, `<type>=<value>` lines, well-formed
//! `o=`, `c=` and `m=` lines), lenient about attribute values: a malformed or
//! oversized attribute value is ignored as if absent, so one odd attribute in a
//! stream we do not use cannot fail the call. Nothing is kept that is not
//! needed for offer/answer, and everything kept has a fixed bound.

use super::fields::{
    is_token, parse_connection, parse_fmtp, parse_ms, parse_origin, parse_rtcp, parse_rtpmap,
    static_rtpmap,
};
use super::session::{
    AudioStream, ConnectionAddress, MediaLine, Origin, RtcpAttr, RtpFormat, RtpMap,
    SessionDescription, Transport,
};
use super::{Direction, MAX_FORMATS, MAX_MEDIA, MAX_SDP_LEN, SdpError};
use crate::rtp::PayloadType;

pub(crate) fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
    if input.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge {
            len: input.len(),
            max: MAX_SDP_LEN,
        });
    }
    let mut parser = Parser::default();
    let mut seen_version = false;
    for (index, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = trim_end(raw);
        if raw.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(raw);
        let (kind, value) = split_type(&text).ok_or(SdpError::Malformed {
            line,
            reason: "expected <type>=<value>",
        })?;
        if !seen_version {
            if kind == b'v' && value.trim() == "0" {
                seen_version = true;
                continue;
            }
            return Err(SdpError::Malformed {
                line,
                reason: "SDP must start with v=0",
            });
        }
        parser.line(kind, value).map_err(|err| err.at_line(line))?;
    }
    if !seen_version {
        return Err(SdpError::Missing("v="));
    }
    parser.finish()
}

fn trim_end(mut raw: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b' ' | b'\t'] = raw {
        raw = rest;
    }
    raw
}

fn split_type(text: &str) -> Option<(u8, &str)> {
    let bytes = text.as_bytes();
    match bytes {
        [kind, b'=', ..] if kind.is_ascii_lowercase() => Some((*kind, text.get(2..)?)),
        _ => None,
    }
}

/// A failure inside one line, before its line number is known.
enum LineError {
    Malformed(&'static str),
    Sdp(SdpError),
}

impl LineError {
    fn at_line(self, line: usize) -> SdpError {
        match self {
            LineError::Malformed(reason) => SdpError::Malformed { line, reason },
            LineError::Sdp(err) => err,
        }
    }
}

/// Where media-level lines currently go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Target {
    /// Before the first `m=` line.
    #[default]
    Session,
    /// The audio stream we keep.
    Audio,
    /// A media section we only mirror.
    Skip,
}

#[derive(Default)]
struct Parser {
    origin: Option<Origin>,
    connection: Option<ConnectionAddress>,
    direction: Option<Direction>,
    ptime: Option<u32>,
    media: Vec<MediaLine>,
    audio: Option<AudioBuilder>,
    target: Target,
}

impl Parser {
    fn line(&mut self, kind: u8, value: &str) -> Result<(), LineError> {
        match kind {
            b'o' if self.origin.is_none() => {
                self.origin = Some(parse_origin(value).ok_or(LineError::Malformed("bad o= line"))?);
            }
            b'c' => {
                let addr = parse_connection(value).ok_or(LineError::Malformed("bad c= line"))?;
                match (self.target, self.audio.as_mut()) {
                    (Target::Session, _) => self.connection = Some(addr),
                    (Target::Audio, Some(audio)) => audio.connection = Some(addr),
                    _ => {}
                }
            }
            b'm' => self.media_line(value)?,
            b'a' => self.attribute(value),
            _ => {}
        }
        Ok(())
    }

    fn media_line(&mut self, value: &str) -> Result<(), LineError> {
        let mut tokens = value.split_ascii_whitespace();
        let (Some(media), Some(port), Some(proto), Some(first)) =
            (tokens.next(), tokens.next(), tokens.next(), tokens.next())
        else {
            return Err(LineError::Malformed(
                "m= needs media, port, transport and a format",
            ));
        };
        if ![media, proto, first].iter().all(|t| is_token(t)) {
            return Err(LineError::Malformed("m= token is too long or not ASCII"));
        }
        let port = port
            .split('/')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or(LineError::Malformed("bad m= port"))?;
        if self.media.len() >= MAX_MEDIA {
            return Err(LineError::Sdp(SdpError::TooManyMedia { max: MAX_MEDIA }));
        }
        let transport = Transport::from_token(proto);
        let index = self.media.len();
        self.media.push(MediaLine {
            media: media.to_owned(),
            port,
            transport: transport.clone(),
            first_format: first.to_owned(),
        });
        self.target = Target::Skip;
        if media.eq_ignore_ascii_case("audio") {
            let usable = port != 0 && transport.is_plain_rtp();
            let replace = match &self.audio {
                None => true,
                Some(kept) => usable && !kept.usable(),
            };
            if replace {
                let formats = std::iter::once(first).chain(tokens);
                self.audio = Some(AudioBuilder::new(index, port, transport, formats));
                self.target = Target::Audio;
            }
        }
        Ok(())
    }

    fn attribute(&mut self, value: &str) {
        let (name, val) = match value.split_once(':') {
            Some((name, val)) => (name.trim(), Some(val.trim())),
            None => (value.trim(), None),
        };
        match (self.target, self.audio.as_mut()) {
            (Target::Session, _) => match val {
                None => {
                    if let Some(d) = Direction::from_attribute(name) {
                        self.direction = Some(d);
                    }
                }
                Some(v) if name.eq_ignore_ascii_case("ptime") => {
                    self.ptime = parse_ms(v).or(self.ptime);
                }
                Some(_) => {}
            },
            (Target::Audio, Some(audio)) => audio.attribute(name, val),
            _ => {}
        }
    }

    fn finish(self) -> Result<SessionDescription, SdpError> {
        let origin = self.origin.ok_or(SdpError::Missing("o="))?;
        let audio = self.audio.map(|builder| {
            builder.finish(
                self.connection.as_ref(),
                self.direction.unwrap_or_default(),
                self.ptime,
            )
        });
        Ok(SessionDescription {
            origin,
            connection: self.connection,
            direction: self.direction,
            media: self.media,
            audio,
        })
    }
}

struct AudioBuilder {
    index: usize,
    port: u16,
    transport: Transport,
    connection: Option<ConnectionAddress>,
    formats: Vec<RtpFormat>,
    /// Bit `pt` set once an explicit `a=rtpmap` for `pt` was seen.
    explicit_rtpmap: u128,
    ptime: Option<u32>,
    maxptime: Option<u32>,
    direction: Option<Direction>,
    rtcp_mux: bool,
    rtcp_mux_only: bool,
    rtcp: Option<RtcpAttr>,
}

impl AudioBuilder {
    fn new<'a>(
        index: usize,
        port: u16,
        transport: Transport,
        tokens: impl Iterator<Item = &'a str>,
    ) -> AudioBuilder {
        let mut formats: Vec<RtpFormat> = Vec::new();
        for token in tokens {
            if formats.len() >= MAX_FORMATS {
                break;
            }
            let Some(pt) = token.parse::<u8>().ok().and_then(PayloadType::new) else {
                continue;
            };
            if formats.iter().any(|f| f.payload_type == pt) {
                continue;
            }
            formats.push(RtpFormat {
                payload_type: pt,
                rtpmap: static_rtpmap(pt),
                fmtp: None,
            });
        }
        AudioBuilder {
            index,
            port,
            transport,
            connection: None,
            formats,
            explicit_rtpmap: 0,
            ptime: None,
            maxptime: None,
            direction: None,
            rtcp_mux: false,
            rtcp_mux_only: false,
            rtcp: None,
        }
    }

    fn usable(&self) -> bool {
        self.port != 0 && self.transport.is_plain_rtp()
    }

    fn attribute(&mut self, name: &str, val: Option<&str>) {
        let Some(val) = val else {
            if let Some(d) = Direction::from_attribute(name) {
                self.direction = Some(d);
            } else if name.eq_ignore_ascii_case("rtcp-mux") {
                self.rtcp_mux = true;
            } else if name.eq_ignore_ascii_case("rtcp-mux-only") {
                self.rtcp_mux_only = true;
            }
            return;
        };
        if name.eq_ignore_ascii_case("rtpmap") {
            if let Some((pt, map)) = parse_rtpmap(val) {
                self.set_rtpmap(pt, map);
            }
        } else if name.eq_ignore_ascii_case("fmtp") {
            if let Some((pt, params)) = parse_fmtp(val)
                && let Some(format) = self.formats.iter_mut().find(|f| f.payload_type == pt)
                && format.fmtp.is_none()
            {
                format.fmtp = Some(params.to_owned());
            }
        } else if name.eq_ignore_ascii_case("ptime") {
            self.ptime = parse_ms(val).or(self.ptime);
        } else if name.eq_ignore_ascii_case("maxptime") {
            self.maxptime = parse_ms(val).or(self.maxptime);
        } else if name.eq_ignore_ascii_case("rtcp") {
            self.rtcp = parse_rtcp(val).or(self.rtcp.take());
        }
    }

    /// The first explicit rtpmap for an offered payload type wins; it replaces
    /// the RFC 3551 default of a static type.
    fn set_rtpmap(&mut self, pt: PayloadType, map: RtpMap) {
        let bit = 1u128 << pt.get();
        if self.explicit_rtpmap & bit != 0 {
            return;
        }
        if let Some(format) = self.formats.iter_mut().find(|f| f.payload_type == pt) {
            format.rtpmap = Some(map);
            self.explicit_rtpmap |= bit;
        }
    }

    fn finish(
        self,
        session_connection: Option<&ConnectionAddress>,
        session_direction: Direction,
        session_ptime: Option<u32>,
    ) -> AudioStream {
        AudioStream {
            index: self.index,
            port: self.port,
            transport: self.transport,
            connection: self.connection.or_else(|| session_connection.cloned()),
            formats: self.formats,
            ptime: self.ptime.or(session_ptime),
            maxptime: self.maxptime,
            direction: self.direction.unwrap_or(session_direction),
            rtcp_mux: self.rtcp_mux || self.rtcp_mux_only,
            rtcp_mux_only: self.rtcp_mux_only,
            rtcp: self.rtcp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_end_strips_cr_and_blanks() {
        assert_eq!(trim_end(b"a=x \r"), b"a=x");
        assert_eq!(trim_end(b"\r\r"), b"");
    }
}
