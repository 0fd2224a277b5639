//! SDP offer/answer against offers as real trunks and PBXes send them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tenex_media::rtp::PayloadType;
use tenex_media::sdp::{
    self, Codec, CodecPrefs, ConnectionAddress, Direction, DtmfFormat, LocalMedia, OpusParams,
    PreferenceOrder, SdpError, SdpErrorKind, SessionDescription, Transport,
};

fn crlf(text: &str) -> String {
    text.lines()
        .map(|l| format!("{}\r\n", l.trim_start()))
        .collect()
}

fn parse(text: &str) -> SessionDescription {
    SessionDescription::parse(crlf(text).as_bytes()).expect("parses")
}

fn local() -> LocalMedia {
    LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40_000, 7, 1)
}

fn pt(n: u8) -> PayloadType {
    PayloadType::new(n).expect("pt")
}

fn addr(s: &str) -> Option<SocketAddr> {
    Some(s.parse().expect("socket addr"))
}

const TWILIO: &str = "v=0
    o=root 1504347287 1504347287 IN IP4 54.172.60.1
    s=Twilio Media Gateway
    c=IN IP4 54.172.60.1
    t=0 0
    m=audio 17788 RTP/AVP 0 8 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    a=maxptime:150
    a=sendrecv";

const ASTERISK: &str = "v=0
    o=- 1686917 1686917 IN IP4 203.0.113.5
    s=Asterisk
    c=IN IP4 203.0.113.5
    t=0 0
    m=audio 10000 RTP/AVP 9 3 8 0 101
    a=rtpmap:9 G722/8000
    a=rtpmap:3 GSM/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    a=maxptime:150
    a=sendrecv";

const FREESWITCH_OPUS: &str = "v=0
    o=FreeSWITCH 1700000000 1700000001 IN IP4 198.51.100.7
    s=FreeSWITCH
    c=IN IP4 198.51.100.7
    t=0 0
    m=audio 24690 RTP/AVP 102 9 0 8 103 101
    a=rtpmap:102 opus/48000/2
    a=fmtp:102 useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; ptime=20; minptime=10; maxptime=40
    a=rtpmap:9 G722/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:103 telephone-event/48000
    a=fmtp:103 0-16
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    a=sendrecv
    a=rtcp:24691 IN IP4 198.51.100.7";

#[test]
fn twilio_offer_parses_into_the_view() {
    let offer = parse(TWILIO);
    assert_eq!(offer.origin.session_id, 1504347287);
    assert_eq!(offer.origin.session_version, 1504347287);
    assert_eq!(offer.media.len(), 1);
    let audio = offer.audio.as_ref().expect("audio");
    assert_eq!(audio.port, 17788);
    assert_eq!(audio.transport, Transport::RtpAvp);
    assert_eq!(
        audio.connection,
        Some(ConnectionAddress::Ip(IpAddr::V4(Ipv4Addr::new(
            54, 172, 60, 1
        ))))
    );
    let pts: Vec<u8> = audio.formats.iter().map(|f| f.payload_type.get()).collect();
    assert_eq!(pts, [0, 8, 101]);
    let te = audio.format(pt(101)).expect("te");
    assert_eq!(
        te.rtpmap.as_ref().map(|m| m.encoding.as_str()),
        Some("telephone-event")
    );
    assert_eq!(te.fmtp.as_deref(), Some("0-16"));
    assert_eq!((audio.ptime, audio.maxptime), (Some(20), Some(150)));
    assert_eq!(audio.direction, Direction::SendRecv);
    assert!(!audio.rtcp_mux);
    assert_eq!(audio.rtp_addr(), addr("54.172.60.1:17788"));
    assert_eq!(audio.rtcp_addr(), addr("54.172.60.1:17789"));
}

#[test]
fn twilio_offer_answer_is_exact() {
    let reply = sdp::answer(&parse(TWILIO), &local(), &CodecPrefs::default()).expect("answer");
    assert_eq!(
        reply.sdp,
        "v=0\r\n\
         o=- 7 1 IN IP4 192.0.2.10\r\n\
         s=-\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 40000 RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=rtcp:40001\r\n\
         a=sendrecv\r\n"
    );
    let n = reply.negotiated;
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(
        (n.send_pt, n.recv_pt),
        (PayloadType::PCMU, PayloadType::PCMU)
    );
    assert_eq!(
        n.dtmf,
        Some(DtmfFormat {
            send_pt: pt(101),
            recv_pt: pt(101),
            clock_rate: 8000
        })
    );
    assert_eq!(n.ptime_ms, 20);
    assert_eq!(n.ticks_per_packet(), 160);
    assert_eq!(n.remote_rtp, addr("54.172.60.1:17788"));
    assert_eq!(n.remote_rtcp, addr("54.172.60.1:17789"));
    assert!(!n.rtcp_mux);
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.opus, None);
}

#[test]
fn asterisk_offer_our_order_picks_pcmu_skipping_unknown_codecs() {
    let offer = parse(ASTERISK);
    let audio = offer.audio.as_ref().expect("audio");
    let names: Vec<&str> = audio
        .formats
        .iter()
        .map(|f| f.rtpmap.as_ref().map_or("?", |m| m.encoding.as_str()))
        .collect();
    assert_eq!(names, ["G722", "GSM", "PCMA", "PCMU", "telephone-event"]);

    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    assert_eq!(reply.negotiated.codec, Codec::Pcmu);
    assert_eq!(reply.negotiated.send_pt, PayloadType::PCMU);
    assert!(reply.sdp.contains("m=audio 40000 RTP/AVP 0 101\r\n"));
}

#[test]
fn asterisk_offer_offerer_order_picks_first_known_codec() {
    let prefs = CodecPrefs::default().with_order(PreferenceOrder::Offerer);
    let reply = sdp::answer(&parse(ASTERISK), &local(), &prefs).expect("answer");
    assert_eq!(reply.negotiated.codec, Codec::Pcma);
    assert_eq!(reply.negotiated.send_pt, PayloadType::PCMA);
    assert!(
        reply
            .sdp
            .contains("m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n")
    );
}

#[test]
fn our_order_wins_over_the_offerers_both_ways() {
    // Offer lists PCMA before PCMU.
    let offer = parse(ASTERISK);
    let pcma_first = CodecPrefs::new(&[Codec::Pcma, Codec::Pcmu]).expect("prefs");
    let pcmu_first = CodecPrefs::new(&[Codec::Pcmu, Codec::Pcma]).expect("prefs");
    let pick = |p: &CodecPrefs| sdp::answer(&offer, &local(), p).map(|a| a.negotiated.codec);
    assert_eq!(pick(&pcma_first), Ok(Codec::Pcma));
    assert_eq!(pick(&pcmu_first), Ok(Codec::Pcmu));
    let offerer = |p: CodecPrefs| p.with_order(PreferenceOrder::Offerer);
    assert_eq!(pick(&offerer(pcma_first)), Ok(Codec::Pcma));
    assert_eq!(pick(&offerer(pcmu_first)), Ok(Codec::Pcma));
}

#[test]
fn freeswitch_opus_offer_answers_opus_with_fmtp_and_48k_events() {
    let prefs = CodecPrefs::new(&[Codec::Opus, Codec::Pcmu]).expect("prefs");
    let reply = sdp::answer(&parse(FREESWITCH_OPUS), &local(), &prefs).expect("answer");
    assert_eq!(
        reply.sdp,
        "v=0\r\n\
         o=- 7 1 IN IP4 192.0.2.10\r\n\
         s=-\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 40000 RTP/AVP 102 103\r\n\
         a=rtpmap:102 opus/48000/2\r\n\
         a=fmtp:102 minptime=10;useinbandfec=1\r\n\
         a=rtpmap:103 telephone-event/48000\r\n\
         a=fmtp:103 0-16\r\n\
         a=ptime:20\r\n\
         a=rtcp:40001\r\n\
         a=sendrecv\r\n"
    );
    let n = reply.negotiated;
    assert_eq!(n.codec, Codec::Opus);
    assert_eq!(n.send_pt, pt(102));
    assert_eq!(
        n.dtmf,
        Some(DtmfFormat {
            send_pt: pt(103),
            recv_pt: pt(103),
            clock_rate: 48000
        })
    );
    assert_eq!(n.ticks_per_packet(), 960);
    assert_eq!(
        n.opus,
        Some(OpusParams {
            use_inband_fec: true,
            use_dtx: false,
            stereo: false,
            max_average_bitrate: Some(30000),
            max_playback_rate: Some(48000),
        })
    );
    // a=rtcp:24691 IN IP4 ... gives the RTCP destination.
    assert_eq!(n.remote_rtcp, addr("198.51.100.7:24691"));
}

#[test]
fn telephone_event_rate_follows_the_chosen_codec() {
    // Same Opus-capable offer, but we prefer G.711: events must be /8000 (PT 101).
    let reply =
        sdp::answer(&parse(FREESWITCH_OPUS), &local(), &CodecPrefs::default()).expect("answer");
    assert_eq!(reply.negotiated.codec, Codec::Pcmu);
    assert_eq!(
        reply
            .negotiated
            .dtmf
            .map(|d| (d.send_pt.get(), d.clock_rate)),
        Some((101, 8000))
    );
    assert!(reply.sdp.contains("m=audio 40000 RTP/AVP 0 101\r\n"));
    assert!(!reply.sdp.contains("telephone-event/48000"));

    // Opus offered with only telephone-event/8000: no DTMF format at all.
    let offer = parse(
        "v=0
        o=- 1 1 IN IP4 198.51.100.7
        s=-
        c=IN IP4 198.51.100.7
        t=0 0
        m=audio 5000 RTP/AVP 111 101
        a=rtpmap:111 opus/48000/2
        a=rtpmap:101 telephone-event/8000",
    );
    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    assert_eq!(reply.negotiated.codec, Codec::Opus);
    assert_eq!(reply.negotiated.dtmf, None);
    assert!(reply.sdp.contains("m=audio 40000 RTP/AVP 111\r\n"));
}

#[test]
fn rtcp_mux_offer_is_accepted() {
    let offer = parse(
        "v=0
        o=- 5 5 IN IP4 198.51.100.9
        s=-
        c=IN IP4 198.51.100.9
        t=0 0
        m=audio 30000 RTP/AVP 0
        a=rtcp-mux
        a=rtcp:30000",
    );
    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    assert!(
        reply
            .sdp
            .ends_with("a=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n")
    );
    assert!(!reply.sdp.contains("a=rtcp:"));
    let n = reply.negotiated;
    assert!(n.rtcp_mux);
    assert_eq!(n.remote_rtp, addr("198.51.100.9:30000"));
    assert_eq!(n.remote_rtcp, addr("198.51.100.9:30000"));

    // We may refuse to multiplex.
    let no_mux = local().with_rtcp_mux(false);
    let reply = sdp::answer(&offer, &no_mux, &CodecPrefs::default()).expect("answer");
    assert!(!reply.negotiated.rtcp_mux);
    assert!(!reply.sdp.contains("a=rtcp-mux"));
    assert_eq!(reply.negotiated.remote_rtcp, addr("198.51.100.9:30000"));
}

#[test]
fn rtcp_mux_only_requires_mux() {
    let offer = parse(
        "v=0
        o=- 5 5 IN IP4 198.51.100.9
        s=-
        c=IN IP4 198.51.100.9
        t=0 0
        m=audio 30000 RTP/AVP 0
        a=rtcp-mux-only
        a=rtcp-mux",
    );
    let no_mux = local().with_rtcp_mux(false);
    assert_eq!(
        sdp::answer(&offer, &no_mux, &CodecPrefs::default()).map(|a| a.negotiated),
        Err(SdpError::RtcpMuxRequired)
    );
    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    assert!(reply.negotiated.rtcp_mux);
}

#[test]
fn rtcp_attribute_port_without_address() {
    let offer = parse(
        "v=0
        o=- 5 5 IN IP4 198.51.100.9
        s=-
        c=IN IP4 198.51.100.9
        t=0 0
        m=audio 30000 RTP/AVP 8
        a=rtcp:31000",
    );
    let n = sdp::answer(&offer, &local(), &CodecPrefs::default())
        .expect("answer")
        .negotiated;
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.remote_rtcp, addr("198.51.100.9:31000"));
}

#[test]
fn session_level_direction_and_media_level_connection() {
    let offer = parse(
        "v=0
        o=- 5 6 IN IP4 10.0.0.1
        s=-
        c=IN IP4 10.0.0.1
        t=0 0
        a=sendonly
        m=audio 30000 RTP/AVP 0
        c=IN IP4 198.51.100.9",
    );
    assert_eq!(offer.direction, Some(Direction::SendOnly));
    let audio = offer.audio.as_ref().expect("audio");
    assert_eq!(audio.direction, Direction::SendOnly);
    assert!(audio.is_hold());
    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    assert!(reply.sdp.ends_with("a=recvonly\r\n"));
    assert_eq!(reply.negotiated.direction, Direction::RecvOnly);
    assert_eq!(reply.negotiated.remote_rtp, addr("198.51.100.9:30000"));
}

#[test]
fn media_level_direction_overrides_session_level() {
    let offer = parse(
        "v=0
        o=- 5 6 IN IP4 10.0.0.1
        s=-
        c=IN IP4 10.0.0.1
        t=0 0
        a=inactive
        m=audio 30000 RTP/AVP 0
        a=sendrecv",
    );
    let n = sdp::answer(&offer, &local(), &CodecPrefs::default())
        .expect("answer")
        .negotiated;
    assert_eq!(n.direction, Direction::SendRecv);
}

#[test]
fn old_style_hold_with_null_address() {
    let offer = parse(
        "v=0
        o=- 5 7 IN IP4 198.51.100.9
        s=-
        c=IN IP4 0.0.0.0
        t=0 0
        m=audio 30000 RTP/AVP 0 101
        a=rtpmap:101 telephone-event/8000",
    );
    let audio = offer.audio.as_ref().expect("audio");
    assert!(audio.has_null_address());
    assert_eq!(audio.direction, Direction::SendRecv);
    assert_eq!(audio.effective_direction(), Direction::SendOnly);
    assert!(audio.is_hold());
    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    // Our own address stays in c=; we only stop sending.
    assert!(reply.sdp.contains("c=IN IP4 192.0.2.10\r\n"));
    assert!(reply.sdp.ends_with("a=recvonly\r\n"));
    let n = reply.negotiated;
    assert_eq!(n.direction, Direction::RecvOnly);
    assert_eq!(n.remote_rtp, None);
    assert_eq!(n.remote_rtcp, None);
}

#[test]
fn hold_mapping_is_the_rfc3264_reverse() {
    let cases = [
        ("sendrecv", Direction::SendRecv),
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
    ];
    for (offered, answered) in cases {
        let offer = parse(&format!(
            "v=0
            o=- 5 7 IN IP4 198.51.100.9
            s=-
            c=IN IP4 198.51.100.9
            t=0 0
            m=audio 30000 RTP/AVP 0
            a={offered}"
        ));
        let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
        assert_eq!(reply.negotiated.direction, answered, "offer {offered}");
        assert!(
            reply.sdp.ends_with(&format!("a={}\r\n", answered.as_str())),
            "offer {offered}"
        );
    }
}

#[test]
fn our_own_hold_restricts_the_answer() {
    let offer = parse(TWILIO);
    let holding = local().with_direction(Direction::SendOnly);
    let n = sdp::answer(&offer, &holding, &CodecPrefs::default())
        .expect("answer")
        .negotiated;
    assert_eq!(n.direction, Direction::SendOnly);
    let offer = parse(&TWILIO.replace("a=sendrecv", "a=sendonly"));
    let n = sdp::answer(&offer, &holding, &CodecPrefs::default())
        .expect("answer")
        .negotiated;
    assert_eq!(n.direction, Direction::Inactive);
}

#[test]
fn only_g729_offered_is_488() {
    let offer = parse(
        "v=0
        o=- 5 5 IN IP4 198.51.100.9
        s=-
        c=IN IP4 198.51.100.9
        t=0 0
        m=audio 30000 RTP/AVP 18 101
        a=rtpmap:18 G729/8000
        a=fmtp:18 annexb=no
        a=rtpmap:101 telephone-event/8000",
    );
    let err = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect_err("no codec");
    assert_eq!(err, SdpError::NoCommonCodec);
    assert_eq!(err.kind(), SdpErrorKind::Incompatible);
}

#[test]
fn prefs_filter_out_offered_codecs() {
    let opus_only = CodecPrefs::new(&[Codec::Opus]).expect("prefs");
    assert_eq!(
        sdp::answer(&parse(TWILIO), &local(), &opus_only).map(|a| a.negotiated),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn static_payload_types_without_rtpmap() {
    let offer = parse(
        "v=0
        o=- 5 5 IN IP4 198.51.100.9
        s=-
        c=IN IP4 198.51.100.9
        t=0 0
        m=audio 30000 RTP/AVP 8 0",
    );
    let audio = offer.audio.as_ref().expect("audio");
    let map = audio.formats[0].rtpmap.as_ref().expect("static map");
    assert_eq!((map.encoding.as_str(), map.clock_rate), ("PCMA", 8000));
    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    assert_eq!(reply.negotiated.codec, Codec::Pcmu);
    assert_eq!(reply.negotiated.dtmf, None);
    assert!(
        reply
            .sdp
            .contains("m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    );
}

#[test]
fn other_media_lines_are_mirrored_with_port_zero() {
    let offer = parse(
        "v=0
        o=- 5 5 IN IP4 198.51.100.9
        s=-
        c=IN IP4 198.51.100.9
        t=0 0
        m=video 30002 RTP/AVP 96
        a=rtpmap:96 H264/90000
        m=audio 30000 RTP/AVP 0
        m=image 30004 udptl t38
        a=T38FaxVersion:0",
    );
    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    let m_lines: Vec<&str> = reply.sdp.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        m_lines,
        [
            "m=video 0 RTP/AVP 96",
            "m=audio 40000 RTP/AVP 0",
            "m=image 0 udptl t38"
        ]
    );
    assert_eq!(reply.negotiated.remote_rtp, addr("198.51.100.9:30000"));
}

#[test]
fn disabled_first_audio_line_falls_back_to_the_next() {
    let offer = parse(
        "v=0
        o=- 5 5 IN IP4 198.51.100.9
        s=-
        c=IN IP4 198.51.100.9
        t=0 0
        m=audio 0 RTP/SAVP 0
        m=audio 30000 RTP/AVP 8",
    );
    let reply = sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer");
    assert_eq!(reply.negotiated.codec, Codec::Pcma);
    let m_lines: Vec<&str> = reply.sdp.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(m_lines, ["m=audio 0 RTP/SAVP 0", "m=audio 40000 RTP/AVP 8"]);
}

#[test]
fn incompatible_streams_have_typed_errors() {
    let base = "v=0\r\no=- 5 5 IN IP4 198.51.100.9\r\ns=-\r\nt=0 0\r\n";
    let answer = |body: &str| {
        let offer = SessionDescription::parse(format!("{base}{body}").as_bytes())?;
        sdp::answer(&offer, &local(), &CodecPrefs::default()).map(|a| a.negotiated)
    };
    assert_eq!(
        answer("c=IN IP4 198.51.100.9\r\nm=video 1 RTP/AVP 96\r\n"),
        Err(SdpError::NoAudio)
    );
    assert_eq!(
        answer("c=IN IP4 198.51.100.9\r\nm=audio 0 RTP/AVP 0\r\n"),
        Err(SdpError::AudioRejected)
    );
    assert_eq!(
        answer("c=IN IP4 198.51.100.9\r\nm=audio 1 RTP/SAVP 0\r\n"),
        Err(SdpError::UnsupportedTransport("RTP/SAVP".into()))
    );
    assert_eq!(
        answer("c=IN IP4 sbc.example.com\r\nm=audio 1 RTP/AVP 0\r\n"),
        Err(SdpError::UnsupportedAddress)
    );
    assert_eq!(
        answer("m=audio 1 RTP/AVP 0\r\n"),
        Err(SdpError::Missing("c="))
    );
    assert_eq!(
        answer("c=IN IP4\r\nm=audio 1 RTP/AVP 0\r\n"),
        Err(SdpError::Malformed {
            line: 5,
            reason: "bad c= line"
        })
    );
}

#[test]
fn ptime_is_mirrored_and_bounded() {
    let with = |attrs: &str| {
        let offer = parse(&format!(
            "v=0
            o=- 5 5 IN IP4 198.51.100.9
            s=-
            c=IN IP4 198.51.100.9
            t=0 0
            m=audio 30000 RTP/AVP 0
            {attrs}"
        ));
        sdp::answer(&offer, &local(), &CodecPrefs::default()).expect("answer")
    };
    let a = with("a=ptime:30");
    assert_eq!(a.negotiated.ptime_ms, 30);
    assert!(a.sdp.contains("a=ptime:30\r\n"));
    assert_eq!(with("a=ptime:40\r\na=maxptime:30").negotiated.ptime_ms, 30);
    assert_eq!(with("a=ptime:7").negotiated.ptime_ms, 20);
    assert_eq!(with("a=ptime:999").negotiated.ptime_ms, 20);
    assert_eq!(with("a=x-nothing").negotiated.ptime_ms, 20);
}

#[test]
fn oversized_body_is_rejected_before_parsing() {
    let mut body = crlf(TWILIO).into_bytes();
    body.resize(sdp::MAX_SDP_LEN + 1, b' ');
    assert_eq!(
        SessionDescription::parse(&body),
        Err(SdpError::TooLarge {
            len: sdp::MAX_SDP_LEN + 1,
            max: sdp::MAX_SDP_LEN
        })
    );
}

#[test]
fn lf_only_line_endings_and_trailing_space_are_tolerated() {
    let text = crlf(TWILIO).replace("\r\n", " \n");
    let offer = SessionDescription::parse(text.as_bytes()).expect("parses");
    assert_eq!(offer.audio.as_ref().map(|a| a.formats.len()), Some(3));
}

// ---- UAC side: our offer, their answer, hold/resume -----------------------

const OUR_DEFAULT_OFFER: &str = "v=0\r\n\
    o=- 7 1 IN IP4 192.0.2.10\r\n\
    s=-\r\n\
    c=IN IP4 192.0.2.10\r\n\
    t=0 0\r\n\
    m=audio 40000 RTP/AVP 0 8 111 101 110\r\n\
    a=rtpmap:0 PCMU/8000\r\n\
    a=rtpmap:8 PCMA/8000\r\n\
    a=rtpmap:111 opus/48000/2\r\n\
    a=fmtp:111 minptime=10;useinbandfec=1\r\n\
    a=rtpmap:101 telephone-event/8000\r\n\
    a=fmtp:101 0-16\r\n\
    a=rtpmap:110 telephone-event/48000\r\n\
    a=fmtp:110 0-16\r\n\
    a=ptime:20\r\n\
    a=rtcp:40001\r\n\
    a=rtcp-mux\r\n\
    a=sendrecv\r\n";

#[test]
fn default_offer_is_exact() {
    let offer = sdp::create_offer(&local(), &CodecPrefs::default());
    assert_eq!(offer.sdp(), OUR_DEFAULT_OFFER);
    let codecs: Vec<(Codec, u8)> = offer.codecs().map(|(c, p)| (c, p.get())).collect();
    assert_eq!(
        codecs,
        [(Codec::Pcmu, 0), (Codec::Pcma, 8), (Codec::Opus, 111)]
    );
}

#[test]
fn g711_only_offer_has_no_48k_events() {
    let prefs = CodecPrefs::new(&[Codec::Pcma]).expect("prefs");
    let offer = sdp::create_offer(&local().with_rtcp_mux(false), &prefs);
    assert!(offer.sdp().contains("m=audio 40000 RTP/AVP 8 101\r\n"));
    assert!(!offer.sdp().contains("48000"));
    assert!(!offer.sdp().contains("a=rtcp-mux"));
}

#[test]
fn our_offer_parses_back_into_the_same_view() {
    let offer = SessionDescription::parse(OUR_DEFAULT_OFFER.as_bytes()).expect("parses");
    assert_eq!(
        (offer.origin.session_id, offer.origin.session_version),
        (7, 1)
    );
    let audio = offer.audio.as_ref().expect("audio");
    assert_eq!(audio.port, 40000);
    // (payload type, encoding, clock rate, channels, fmtp)
    type Row = (u8, String, u32, Option<u8>, Option<String>);
    let formats: Vec<Row> = audio
        .formats
        .iter()
        .map(|f| {
            let m = f.rtpmap.as_ref().expect("rtpmap");
            (
                f.payload_type.get(),
                m.encoding.clone(),
                m.clock_rate,
                m.channels,
                f.fmtp.clone(),
            )
        })
        .collect();
    let events = Some("0-16".to_owned());
    assert_eq!(
        formats,
        [
            (0, "PCMU".into(), 8000, None, None),
            (8, "PCMA".into(), 8000, None, None),
            (
                111,
                "opus".into(),
                48000,
                Some(2),
                Some("minptime=10;useinbandfec=1".into())
            ),
            (101, "telephone-event".into(), 8000, None, events.clone()),
            (110, "telephone-event".into(), 48000, None, events),
        ]
    );
    assert_eq!(audio.ptime, Some(20));
    assert_eq!(audio.direction, Direction::SendRecv);
    assert!(audio.rtcp_mux);
    assert_eq!(audio.rtp_addr(), addr("192.0.2.10:40000"));
    assert_eq!(audio.rtcp_addr(), addr("192.0.2.10:40001"));
}

#[test]
fn ezk_sdp_types_reads_what_we_render() {
    let offer = sdp::create_offer(&local(), &CodecPrefs::default());
    let reply =
        sdp::answer(&parse(FREESWITCH_OPUS), &local(), &CodecPrefs::default()).expect("answer");
    for text in [offer.sdp().to_owned(), reply.sdp] {
        let ezk = ezk_sdp_types::SessionDescription::parse(&text.clone().into())
            .unwrap_or_else(|e| panic!("ezk rejects {text:?}: {e}"));
        assert_eq!(ezk.media_descriptions.len(), 1);
        let m = &ezk.media_descriptions[0];
        assert_eq!(m.media.port, 40000);
        assert_eq!(m.rtpmap.len(), m.media.fmts.len());
        assert_eq!(m.direction, ezk_sdp_types::Direction::SendRecv);
        assert_eq!(ezk.to_string().lines().next(), Some("v=0"));
    }
}

#[test]
fn answer_to_our_offer_negotiates_on_both_sides() {
    let offer = sdp::create_offer(&local(), &CodecPrefs::default());
    let them = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)), 30_000, 99, 4);
    let opus_first = CodecPrefs::new(&[Codec::Opus, Codec::Pcmu]).expect("prefs");
    let reply = sdp::answer(
        &SessionDescription::parse(offer.sdp().as_bytes()).expect("offer parses"),
        &them,
        &opus_first,
    )
    .expect("answer");
    let theirs = &reply.negotiated;
    let ours = sdp::accept_answer(&offer, &parse(&reply.sdp)).expect("accepted");
    assert_eq!((theirs.codec, ours.codec), (Codec::Opus, Codec::Opus));
    assert_eq!((ours.send_pt.get(), ours.recv_pt.get()), (111, 111));
    assert_eq!(
        ours.dtmf,
        Some(DtmfFormat {
            send_pt: pt(110),
            recv_pt: pt(110),
            clock_rate: 48000
        })
    );
    assert!(ours.rtcp_mux && theirs.rtcp_mux);
    assert_eq!(ours.remote_rtp, addr("198.51.100.20:30000"));
    assert_eq!(ours.remote_rtcp, addr("198.51.100.20:30000"));
    assert_eq!(theirs.remote_rtp, addr("192.0.2.10:40000"));
    assert_eq!(ours.direction, Direction::SendRecv);
    assert_eq!(ours.opus.map(|o| o.use_inband_fec), Some(true));
}

fn uac_offer() -> sdp::SdpOffer {
    sdp::create_offer(&local(), &CodecPrefs::default())
}

const TRUNK_ANSWER: &str = "v=0
    o=- 100 101 IN IP4 54.172.60.1
    s=-
    c=IN IP4 54.172.60.1
    t=0 0
    m=audio 17790 RTP/AVP 0 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=ptime:20
    a=sendrecv";

#[test]
fn trunk_answer_without_mux() {
    let n = sdp::accept_answer(&uac_offer(), &parse(TRUNK_ANSWER)).expect("accepted");
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(
        (n.send_pt, n.recv_pt),
        (PayloadType::PCMU, PayloadType::PCMU)
    );
    assert_eq!(
        n.dtmf
            .map(|d| (d.send_pt.get(), d.recv_pt.get(), d.clock_rate)),
        Some((101, 101, 8000))
    );
    assert!(!n.rtcp_mux);
    assert_eq!(n.remote_rtp, addr("54.172.60.1:17790"));
    assert_eq!(n.remote_rtcp, addr("54.172.60.1:17791"));
    assert_eq!(n.ptime_ms, 20);
    assert_eq!(n.direction, Direction::SendRecv);
}

#[test]
fn answer_must_pick_something_we_offered() {
    let g729 = TRUNK_ANSWER
        .replace("RTP/AVP 0 101", "RTP/AVP 18 101")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000");
    assert_eq!(
        sdp::accept_answer(&uac_offer(), &parse(&g729)),
        Err(SdpError::NoCommonCodec)
    );
    let only_pcma = CodecPrefs::new(&[Codec::Pcma]).expect("prefs");
    let offer = sdp::create_offer(&local(), &only_pcma);
    assert_eq!(
        sdp::accept_answer(&offer, &parse(TRUNK_ANSWER)),
        Err(SdpError::NoCommonCodec)
    );
    let rejected = TRUNK_ANSWER.replace("m=audio 17790", "m=audio 0");
    assert_eq!(
        sdp::accept_answer(&uac_offer(), &parse(&rejected)),
        Err(SdpError::AudioRejected)
    );
}

#[test]
fn answer_may_renumber_or_omit_rtpmap() {
    let renumbered = "v=0
        o=- 1 1 IN IP4 198.51.100.20
        s=-
        c=IN IP4 198.51.100.20
        t=0 0
        m=audio 30000 RTP/AVP 96 97
        a=rtpmap:96 opus/48000/2
        a=rtpmap:97 telephone-event/48000";
    let n = sdp::accept_answer(&uac_offer(), &parse(renumbered)).expect("accepted");
    assert_eq!(n.codec, Codec::Opus);
    assert_eq!((n.send_pt.get(), n.recv_pt.get()), (96, 111));
    assert_eq!(
        n.dtmf.map(|d| (d.send_pt.get(), d.recv_pt.get())),
        Some((97, 110))
    );

    let no_rtpmap = "v=0
        o=- 1 1 IN IP4 198.51.100.20
        s=-
        c=IN IP4 198.51.100.20
        t=0 0
        m=audio 30000 RTP/AVP 111 101";
    let n = sdp::accept_answer(&uac_offer(), &parse(no_rtpmap)).expect("accepted");
    assert_eq!(n.codec, Codec::Opus);
    // telephone-event/8000 does not match Opus's clock: no DTMF.
    assert_eq!(n.dtmf, None);
}

#[test]
fn hold_and_resume_reoffers() {
    let offer = uac_offer();
    let call = sdp::accept_answer(&offer, &parse(TRUNK_ANSWER)).expect("accepted");

    let hold = sdp::hold_offer(offer.local(), &call);
    assert_eq!(
        hold.sdp(),
        "v=0\r\n\
         o=- 7 2 IN IP4 192.0.2.10\r\n\
         s=-\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 40000 RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=rtcp:40001\r\n\
         a=rtcp-mux\r\n\
         a=sendonly\r\n"
    );
    let held = sdp::accept_answer(&hold, &parse(&TRUNK_ANSWER.replace("sendrecv", "recvonly")))
        .expect("accepted");
    assert_eq!(held.direction, Direction::SendOnly);
    assert_eq!(held.codec, Codec::Pcmu);

    // A non-compliant sendrecv answer cannot widen what we offered.
    let held = sdp::accept_answer(&hold, &parse(TRUNK_ANSWER)).expect("accepted");
    assert_eq!(held.direction, Direction::SendOnly);

    let inactive = sdp::reoffer(hold.local(), &held, Direction::Inactive);
    assert_eq!(inactive.local().session_version, 3);
    assert!(inactive.sdp().ends_with("a=inactive\r\n"));

    let resume = sdp::resume_offer(inactive.local(), &held);
    assert_eq!(
        (resume.local().session_id, resume.local().session_version),
        (7, 4)
    );
    assert!(resume.sdp().contains("o=- 7 4 IN IP4 192.0.2.10\r\n"));
    assert!(resume.sdp().ends_with("a=sendrecv\r\n"));
    let resumed = sdp::accept_answer(&resume, &parse(TRUNK_ANSWER)).expect("accepted");
    assert_eq!(resumed.direction, Direction::SendRecv);
}

#[test]
fn uas_hold_reoffer_keeps_the_offerers_payload_types() {
    let prefs = CodecPrefs::new(&[Codec::Opus]).expect("prefs");
    let reply = sdp::answer(&parse(FREESWITCH_OPUS), &local(), &prefs).expect("answer");
    let hold = sdp::hold_offer(&local(), &reply.negotiated);
    assert!(hold.sdp().contains("m=audio 40000 RTP/AVP 102 103\r\n"));
    assert!(
        hold.sdp()
            .contains("a=rtpmap:103 telephone-event/48000\r\n")
    );
    let codecs: Vec<(Codec, u8)> = hold.codecs().map(|(c, p)| (c, p.get())).collect();
    assert_eq!(codecs, [(Codec::Opus, 102)]);
}
