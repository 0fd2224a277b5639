//! Outbound calls from the engine to the real SIPp acting as the callee.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{Sipp, SippRun, engine, eventually, free_port, uas_args};
use tenex_actors::sip::{
    CallOutcome, Credentials, DialRequest, DialResult, HungUpBy, OutboundTrunk, SipEngine,
    SipTransport,
};
use tenex_media::sdp::{Codec, CodecPrefs};
use tokio::task::JoinHandle;

/// Starts a SIPp UAS on a free port; returns the port and its run.
async fn callee(scenario: &str, transport: &str, extra: &[&str]) -> (u16, JoinHandle<SippRun>) {
    callee_with(Sipp::scenario(scenario), transport, extra).await
}

async fn callee_with(sipp: Sipp, transport: &str, extra: &[&str]) -> (u16, JoinHandle<SippRun>) {
    let port = free_port();
    let mut args = uas_args(port, "40s");
    args.extend(["-t".to_string(), transport.into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = tokio::spawn(sipp.args(args).run());
    // Wait until SIPp holds its port.
    let listening = eventually(Duration::from_secs(5), || match transport {
        "t1" => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        _ => UdpSocket::bind(("127.0.0.1", port)).is_err(),
    })
    .await;
    assert!(listening, "sipp UAS did not start");
    (port, run)
}

fn trunk(port: u16, transport: SipTransport, credentials: Option<(&str, &str)>) -> OutboundTrunk {
    OutboundTrunk {
        host: "127.0.0.1".into(),
        port,
        transport,
        credentials: credentials.map(|(u, p)| Credentials {
            username: u.into(),
            password: p.into(),
        }),
        caller_id: "+15550001111".into(),
    }
}

fn request(trunk: OutboundTrunk, ring: Option<Duration>) -> DialRequest {
    DialRequest {
        trunk,
        to: "+15557654321".into(),
        from: None,
        ring_timeout: ring,
        app: None,
        id: None,
        via: None,
    }
}

/// An answered call: audio flows both ways (SIPp echoes what we send, we echo
/// what it sends), then we hang up and SIPp sees our BYE.
async fn answered_call_with_audio(
    engine: &SipEngine,
    result: DialResult,
    sipp: JoinHandle<SippRun>,
) {
    let DialResult::Answered { call } = result else {
        panic!("not answered: {result:?}")
    };
    assert!(
        eventually(Duration::from_secs(10), || engine
            .live_rtp(call)
            .is_some_and(|(sent, received)| sent >= 80 && received >= 60))
        .await,
        "audio both ways: {:?}",
        engine.live_rtp(call)
    );
    assert!(engine.hangup(call));
    assert!(eventually(Duration::from_secs(5), || engine.stats().active_calls == 0).await);
    let record = engine.calls().pop().expect("record");
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert!(record.rtp_sent >= 80, "sent {}", record.rtp_sent);
    assert!(
        record.rtp_received >= 60,
        "received {} (SIPp's echo of our audio)",
        record.rtp_received
    );
    let run = sipp.await.expect("sipp");
    assert!(run.all_ok(1), "{run:?}");
    let s = engine.stats();
    assert_eq!(s.ports_free, s.ports_total);
}

/// The callee challenges (`scenario`: 401 or 407); we answer with the trunk's
/// credentials, and the call is answered with audio both ways.
async fn challenged_call_is_answered(scenario: &str) {
    let engine = engine(4, |_| {}).await;
    let creds = [
        "-rtp_echo",
        "-key",
        "auth_user",
        "alice",
        "-key",
        "auth_pass",
        "secret",
    ];
    let (port, sipp) = callee(scenario, "u1", &creds).await;
    let trunk = trunk(port, SipTransport::Udp, Some(("alice", "secret")));
    let result = engine.dial(request(trunk, None)).await.expect("dial");
    answered_call_with_audio(&engine, result, sipp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case6_digest_auth_challenge_then_answered_with_audio_both_ways() {
    challenged_call_is_answered("uas_auth").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case6_wrong_credentials_are_rejected() {
    let engine = engine(4, |_| {}).await;
    let (port, sipp) = callee(
        "uas_auth",
        "u1",
        &["-key", "auth_user", "alice", "-key", "auth_pass", "secret"],
    )
    .await;
    let result = engine
        .dial(request(
            trunk(port, SipTransport::Udp, Some(("alice", "wrong"))),
            None,
        ))
        .await
        .expect("dial");
    assert!(
        matches!(
            result,
            DialResult::Failed {
                outcome: CallOutcome::Rejected,
                status: Some(403),
                ..
            }
        ),
        "{result:?}"
    );
    let run = sipp.await.expect("sipp");
    assert_eq!(run.failed, 1, "the UAS saw bad credentials: {run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case6_busy_callee_is_outcome_busy() {
    let engine = engine(4, |_| {}).await;
    let (port, sipp) = callee("uas_busy", "u1", &[]).await;
    let result = engine
        .dial(request(trunk(port, SipTransport::Udp, None), None))
        .await
        .expect("dial");
    assert!(
        matches!(
            result,
            DialResult::Failed {
                outcome: CallOutcome::Busy,
                status: Some(486),
                ..
            }
        ),
        "{result:?}"
    );
    assert!(sipp.await.expect("sipp").all_ok(1));
    let record = engine.calls().pop().expect("record");
    assert_eq!(record.outcome, Some(CallOutcome::Busy));
    assert_eq!(engine.stats().ports_free, engine.stats().ports_total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case6_unanswered_call_is_cancelled_at_the_ring_timeout() {
    let engine = engine(4, |_| {}).await;
    let (port, sipp) = callee("uas_noanswer", "u1", &[]).await;
    let started = tokio::time::Instant::now();
    let result = engine
        .dial(request(
            trunk(port, SipTransport::Udp, None),
            Some(Duration::from_secs(2)),
        ))
        .await
        .expect("dial");
    assert!(
        matches!(
            result,
            DialResult::Failed {
                outcome: CallOutcome::NoAnswer,
                status: Some(487),
                ..
            }
        ),
        "{result:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    let run = sipp.await.expect("sipp");
    assert!(
        run.all_ok(1),
        "SIPp got our CANCEL, answered 200 + 487 and got the ACK: {run:?}"
    );
    assert_eq!(
        engine.calls().pop().expect("record").hung_up_by,
        Some(HungUpBy::Us)
    );
    assert_eq!(engine.stats().ports_free, engine.stats().ports_total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case7_outbound_call_over_tcp() {
    let engine = engine(4, |_| {}).await;
    let (port, sipp) = callee("uas_answer", "t1", &["-rtp_echo"]).await;
    let result = engine
        .dial(request(trunk(port, SipTransport::Tcp, None), None))
        .await
        .expect("dial");
    let transport = engine.calls().last().map(|r| r.transport);
    assert_eq!(transport, Some(SipTransport::Tcp));
    answered_call_with_audio(&engine, result, sipp).await;
}

/// Case 2's Opus call: SIPp has no Opus, so the far end is another engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case2_opus_call_between_engines() {
    let opus = CodecPrefs::new(&[Codec::Opus]).expect("prefs");
    let callee = engine(4, |c| c.codecs = opus.clone()).await;
    let caller = engine(4, |c| c.codecs = opus.clone()).await;
    let req = DialRequest {
        trunk: trunk(callee.local_addr().port(), SipTransport::Udp, None),
        to: "echo".into(),
        from: None,
        ring_timeout: None,
        app: None,
        id: None,
        via: None,
    };
    let DialResult::Answered { call } = caller.dial(req).await.expect("dial") else {
        panic!("not answered")
    };
    let both_ways = |e: &SipEngine, id: Option<tenex_actors::sip::CallId>| {
        id.and_then(|id| e.live_rtp(id))
            .is_some_and(|(sent, received)| sent >= 80 && received >= 80)
    };
    assert!(
        eventually(Duration::from_secs(10), || both_ways(&caller, Some(call))
            && both_ways(&callee, callee.active_calls().first().copied()))
        .await,
        "audio both ways on both engines"
    );
    assert!(caller.hangup(call));
    assert!(
        eventually(Duration::from_secs(5), || callee.stats().active_calls
            + caller.stats().active_calls
            == 0)
        .await
    );
    for e in [&caller, &callee] {
        let r = e.calls().pop().expect("record");
        assert_eq!(r.codec, Some(Codec::Opus));
        assert!(r.rtp_sent >= 80 && r.rtp_received >= 80, "{r:?}");
        assert_eq!(r.rtp_lost, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_media_plays_through_and_is_not_the_answer() {
    let engine = engine(4, |_| {}).await;
    let sipp = Sipp::scenario("uas_early_media").pcap(
        "g711u_2s.pcap",
        tenex_media::g711::G711Law::Ulaw,
        2,
    );
    let (port, run) = callee_with(sipp, "u1", &[]).await;
    let started = tokio::time::Instant::now();
    let result = engine
        .dial(request(trunk(port, SipTransport::Udp, None), None))
        .await
        .expect("dial");
    let answered_after = started.elapsed();
    let DialResult::Answered { call } = result else {
        panic!("not answered: {result:?}")
    };
    assert!(
        answered_after >= Duration::from_secs(2),
        "the 183 was not taken as the answer ({answered_after:?})"
    );
    assert!(engine.hangup(call));
    assert!(eventually(Duration::from_secs(5), || engine.stats().active_calls == 0).await);
    // SIPp plays its 2 s pcap (100 packets) only before answering: they arrived.
    let record = engine.calls().pop().expect("record");
    assert!(
        record.rtp_received >= 90,
        "early media reached the leg: {} packets",
        record.rtp_received
    );
    assert!(run.await.expect("sipp").all_ok(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case6_proxy_auth_407_challenge_is_answered_too() {
    challenged_call_is_answered("uas_auth_407").await;
}

/// The digest the engine answers a 407 with, checked against RFC 2617 by a raw UAS
/// (SIPp cannot verify Proxy-Authorization).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_authorization_digest_is_correct() {
    use md5::{Digest, Md5};
    fn md5_hex(s: &str) -> String {
        Md5::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
    fn header<'a>(msg: &'a str, name: &str) -> &'a str {
        msg.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(str::trim)
            .unwrap_or("")
    }
    fn param<'a>(h: &'a str, key: &str) -> &'a str {
        h.split(',')
            .find_map(|p| {
                p.trim()
                    .trim_start_matches("Digest ")
                    .strip_prefix(&format!("{key}="))
            })
            .map(|v| v.trim_matches('"'))
            .unwrap_or("")
    }

    let engine = engine(4, |_| {}).await;
    let uas = UdpSocket::bind("127.0.0.1:0").expect("uas");
    uas.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = uas.local_addr().expect("addr").port();
    let dial = tokio::spawn({
        let req = request(
            trunk(port, SipTransport::Udp, Some(("alice", "secret"))),
            None,
        );
        async move { engine.dial(req).await.map(|r| (r, engine)) }
    });
    let recv = |sock: &UdpSocket| {
        let mut buf = [0u8; 8192];
        let (n, from) = sock.recv_from(&mut buf).expect("a request");
        (String::from_utf8_lossy(&buf[..n]).to_string(), from)
    };
    let reply = |msg: &str, from, status: &str, extra: &str| {
        let resp = format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=uas1\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
            header(msg, "Via"),
            header(msg, "From"),
            header(msg, "To"),
            header(msg, "Call-ID"),
            header(msg, "CSeq")
        );
        uas.send_to(resp.as_bytes(), from).expect("send");
    };
    let (invite, from) = recv(&uas);
    assert!(invite.starts_with("INVITE "));
    reply(
        &invite,
        from,
        "407 Proxy Authentication Required",
        "Proxy-Authenticate: Digest realm=\"carrier\", nonce=\"n0nce42\", algorithm=MD5, qop=\"auth\"\r\n",
    );
    let (mut second, mut from2) = recv(&uas);
    while second.starts_with("ACK ") {
        (second, from2) = recv(&uas);
    }
    let auth = header(&second, "Proxy-Authorization");
    assert!(
        !auth.is_empty(),
        "retry carries Proxy-Authorization: {second}"
    );
    assert_eq!(param(auth, "username"), "alice");
    assert_eq!(param(auth, "realm"), "carrier");
    assert_eq!(param(auth, "nonce"), "n0nce42");
    let ha1 = md5_hex("alice:carrier:secret");
    let ha2 = md5_hex(&format!("INVITE:{}", param(auth, "uri")));
    let want = md5_hex(&format!(
        "{ha1}:n0nce42:{}:{}:auth:{ha2}",
        param(auth, "nc"),
        param(auth, "cnonce")
    ));
    assert_eq!(param(auth, "response"), want, "RFC 2617 digest");
    reply(&second, from2, "486 Busy Here", "");
    let (result, engine) = dial.await.expect("task").expect("dial");
    assert!(
        matches!(
            result,
            DialResult::Failed {
                outcome: CallOutcome::Busy,
                ..
            }
        ),
        "{result:?}"
    );
    drop(engine);
}

/// Lifecycle changes as the engine reports them, per call.
#[derive(Default)]
struct Changes(std::sync::Mutex<Vec<(tenex_actors::sip::CallId, tenex_actors::sip::CallChange)>>);

impl tenex_actors::sip::CallObserver for Changes {
    fn observe(
        &self,
        record: &tenex_actors::sip::CallRecord,
        change: tenex_actors::sip::CallChange,
    ) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((record.id, change));
    }
}

/// SIPp sends 180 and 200 back to back. On a single-threaded runtime both are
/// usually handled before the dialing task runs again, and the call must still
/// be reported ringing, before it is answered.
#[tokio::test(flavor = "current_thread")]
async fn a_ring_read_together_with_the_answer_is_still_reported() {
    use tenex_actors::sip::CallChange;
    const CALLS: usize = 12;
    let changes = std::sync::Arc::new(Changes::default());
    let cfg = tenex_actors::sip::SipConfig {
        listen: std::net::SocketAddr::new(common::LOCALHOST, 0),
        rtp_ports: common::rtp_range(4),
        ..tenex_actors::sip::SipConfig::default()
    };
    let engine = SipEngine::start_observed(
        cfg,
        std::sync::Arc::new(common::TestRouter),
        Some(changes.clone()),
    )
    .await
    .expect("engine starts");
    let (port, sipp) = callee("uas_answer", "u1", &["-m", &CALLS.to_string()]).await;
    for _ in 0..CALLS {
        let result = engine
            .dial(request(trunk(port, SipTransport::Udp, None), None))
            .await
            .expect("dial");
        let DialResult::Answered { call } = result else {
            panic!("not answered: {result:?}")
        };
        assert!(engine.hangup(call));
        tokio::time::timeout(Duration::from_secs(5), engine.idle())
            .await
            .expect("the engine is idle once the call ends");
        assert_eq!(engine.stats().active_calls, 0);
        let seen: Vec<CallChange> = changes
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(id, _)| *id == call)
            .map(|(_, c)| *c)
            .collect();
        assert_eq!(
            seen,
            [
                CallChange::Started,
                CallChange::Ringing,
                CallChange::Answered,
                CallChange::Ended
            ],
            "{call}"
        );
    }
    assert!(sipp.await.expect("sipp").all_ok(CALLS as u64));
}
