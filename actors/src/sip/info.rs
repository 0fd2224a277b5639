//! DTMF in SIP INFO bodies: `application/dtmf-relay` (`Signal=5\r\nDuration=160`)
//! and `application/dtmf` (just the key).

use tenex_media::dtmf::DtmfDigit;

/// The key in an INFO body of the given content type, if it carries one.
pub fn parse_info_dtmf(content_type: &str, body: &[u8]) -> Option<DtmfDigit> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let text = std::str::from_utf8(body).ok()?;
    match ct.as_str() {
        "application/dtmf-relay" => text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| single_key(value))?
        }),
        "application/dtmf" => single_key(text),
        _ => None,
    }
}

fn single_key(s: &str) -> Option<DtmfDigit> {
    let s = s.trim();
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => DtmfDigit::from_char(c),
        // Some gateways send the event number (10 = '*', 11 = '#').
        _ => s.parse::<u8>().ok().and_then(DtmfDigit::from_event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_and_dtmf_bodies() {
        assert_eq!(
            parse_info_dtmf("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Some(DtmfDigit::D5)
        );
        assert_eq!(
            parse_info_dtmf("Application/DTMF-Relay", b"signal= #\nDuration=100"),
            Some(DtmfDigit::Pound)
        );
        assert_eq!(
            parse_info_dtmf("application/dtmf", b"9"),
            Some(DtmfDigit::D9)
        );
        assert_eq!(
            parse_info_dtmf("application/dtmf", b"10\r\n"),
            Some(DtmfDigit::Star)
        );
        assert_eq!(
            parse_info_dtmf("application/dtmf-relay", b"Duration=160"),
            None
        );
        assert_eq!(parse_info_dtmf("application/dtmf", b"x"), None);
        assert_eq!(parse_info_dtmf("text/plain", b"5"), None);
        assert_eq!(parse_info_dtmf("application/dtmf", &[0xFF, 0xFE]), None);
    }
}
