//! Trunk security, error responses, and garbage on the SIP port.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    LOCALHOST, Sipp, engine, eventually, invite, request, rtp_range, sdp_offer, sip_exchange,
    status, uac_args,
};
use tenex_actors::sip::{DefaultRouter, SipConfig, SipEngine, Trunk, parse_source};

const WAIT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_keepalives_get_200_with_allow() {
    let engine = engine(2, |_| {}).await;
    let resp = sip_exchange(
        LOCALHOST,
        engine.local_addr(),
        &request("OPTIONS", "ping", engine.local_addr(), "opt1", None, None),
        WAIT,
    )
    .expect("a response");
    assert_eq!(status(&resp), Some(200), "{resp}");
    assert!(
        resp.contains("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"),
        "{resp}"
    );
    assert_eq!(engine.counters().options.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_dialog_requests_for_unknown_dialogs_get_481() {
    let engine = engine(2, |_| {}).await;
    let to = engine.local_addr();
    for method in ["BYE", "INFO", "INVITE"] {
        let req = request(
            method,
            "echo",
            to,
            &format!("gone-{method}"),
            Some("nosuchtag"),
            None,
        );
        let resp = sip_exchange(LOCALHOST, to, &req, WAIT).expect("a response");
        assert_eq!(status(&resp), Some(481), "{method}: {resp}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_codec_and_method_errors() {
    let engine = engine(2, |_| {}).await;
    let to = engine.local_addr();
    let pcmu = sdp_offer(40000, "0", &["0 PCMU/8000"]);
    let resp = sip_exchange(
        LOCALHOST,
        to,
        &invite(to, "+15550009999", "nr1", &pcmu),
        WAIT,
    )
    .expect("response");
    assert_eq!(status(&resp), Some(404), "no route: {resp}");
    let g729 = sdp_offer(40000, "18", &["18 G729/8000"]);
    let resp =
        sip_exchange(LOCALHOST, to, &invite(to, "echo", "g729", &g729), WAIT).expect("response");
    assert_eq!(status(&resp), Some(488), "no common codec: {resp}");
    let resp = sip_exchange(
        LOCALHOST,
        to,
        &request(
            "MESSAGE",
            "echo",
            to,
            "msg1",
            None,
            Some(("text/plain", "hi")),
        ),
        WAIT,
    )
    .expect("response");
    assert_eq!(status(&resp), Some(405), "{resp}");
    let c = engine.counters();
    assert_eq!(
        (
            c.not_found.load(Ordering::Relaxed),
            c.not_acceptable.load(Ordering::Relaxed)
        ),
        (1, 1)
    );
    assert_eq!(engine.stats().ports_free, engine.stats().ports_total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_capacity_or_draining_invites_get_503_with_retry_after() {
    let full = engine(2, |c| c.max_calls = 0).await;
    let to = full.local_addr();
    let pcmu = sdp_offer(40000, "0", &["0 PCMU/8000"]);
    let resp =
        sip_exchange(LOCALHOST, to, &invite(to, "echo", "cap1", &pcmu), WAIT).expect("response");
    assert_eq!(status(&resp), Some(503), "{resp}");
    assert!(resp.contains("Retry-After: 30"), "{resp}");

    let draining = engine(2, |_| {}).await;
    draining.set_draining(true);
    let to = draining.local_addr();
    let resp =
        sip_exchange(LOCALHOST, to, &invite(to, "echo", "drain1", &pcmu), WAIT).expect("response");
    assert_eq!(status(&resp), Some(503), "{resp}");
    assert!(draining.stats().draining);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_port_pool_gets_503_and_recovers() {
    let engine = engine(1, |_| {}).await;
    assert_eq!(engine.stats().ports_total, 1);
    let to = engine.local_addr();
    // One real call holds the only port...
    let holder = tokio::spawn(
        Sipp::scenario("uac_wait_bye")
            .args(uac_args(to, "echo"))
            .args(["-m", "1", "-timeout", "30s"])
            .run(),
    );
    assert!(eventually(Duration::from_secs(10), || engine.stats().ports_free == 0).await);
    let pcmu = sdp_offer(40000, "0", &["0 PCMU/8000"]);
    let second =
        sip_exchange(LOCALHOST, to, &invite(to, "echo", "pool2", &pcmu), WAIT).expect("response");
    assert_eq!(status(&second), Some(503), "pool exhausted: {second}");
    assert!(second.contains("Retry-After"), "{second}");
    // ...and when it ends the port is back and calls are served again.
    assert!(engine.hangup(engine.active_calls()[0]));
    assert!(eventually(Duration::from_secs(5), || engine.stats().ports_free == 1).await);
    assert!(holder.await.expect("sipp").all_ok(1));
    let again = sip_exchange(
        LOCALHOST,
        to,
        &request("OPTIONS", "ping", to, "again", None, None),
        WAIT,
    );
    assert_eq!(again.as_deref().and_then(status), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_route_can_be_switched_off() {
    let cfg = SipConfig {
        listen: SocketAddr::new(LOCALHOST, 0),
        rtp_ports: rtp_range(2),
        echo_route: false,
        ..SipConfig::default()
    };
    let engine = SipEngine::start(cfg, Arc::new(DefaultRouter { echo: false }))
        .await
        .expect("engine");
    let to = engine.local_addr();
    let pcmu = sdp_offer(40000, "0", &["0 PCMU/8000"]);
    let resp =
        sip_exchange(LOCALHOST, to, &invite(to, "echo", "off1", &pcmu), WAIT).expect("response");
    assert_eq!(status(&resp), Some(404), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case10_invite_from_outside_the_trunk_allowlist_is_403() {
    let trunk = Trunk {
        name: "carrier".into(),
        inbound_sources: vec![parse_source("127.0.0.1/32").expect("cidr")],
        ..Trunk::default()
    };
    let engine = engine(2, |c| c.trunks = vec![trunk]).await;
    // SIPp really calling from 127.0.0.2.
    let mut args = uac_args(engine.local_addr(), "echo");
    for (i, a) in args.clone().iter().enumerate() {
        if a == "127.0.0.1" && i > 0 {
            args[i] = "127.0.0.2".into();
        }
    }
    let run = Sipp::scenario("uac_expect_403")
        .args(args)
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(run.all_ok(1), "{run:?}");
    assert_eq!(engine.counters().forbidden.load(Ordering::Relaxed), 1);
    // The allowed source is not refused (it gets as far as routing: 404 for this number).
    let to = engine.local_addr();
    let pcmu = sdp_offer(40000, "0", &["0 PCMU/8000"]);
    let resp =
        sip_exchange(LOCALHOST, to, &invite(to, "+1555", "ok1", &pcmu), WAIT).expect("response");
    assert_eq!(status(&resp), Some(404), "{resp}");
    // With no trunk configured only loopback may call: 127.0.0.2 is loopback.
    let open = engine_default().await;
    let to = open.local_addr();
    let resp = sip_exchange(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        to,
        &invite(to, "+1555", "lo2", &pcmu),
        WAIT,
    )
    .expect("response");
    assert_eq!(status(&resp), Some(404), "{resp}");
}

async fn engine_default() -> SipEngine {
    engine(2, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_source_is_rate_limited_and_recovers() {
    let engine = engine(2, |c| {
        c.rate_limit_per_sec = 10;
        c.rate_limit_burst = 20;
    })
    .await;
    let to = engine.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let local = sock.local_addr().expect("addr").to_string();
    for i in 0..100 {
        let req = request("OPTIONS", "ping", to, &format!("flood{i}"), None, None)
            .replace("{LOCAL}", &local);
        sock.send_to(req.as_bytes(), to).expect("send");
    }
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    while sock.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    assert!((20..=25).contains(&answered), "answered {answered} of 100");
    assert!(engine.counters().rate_limited.load(Ordering::Relaxed) >= 75);
    // Once the bucket refills, the source is served again.
    let mut n = 0;
    let served = eventually(Duration::from_secs(3), || {
        n += 1;
        let resp = sip_exchange(
            LOCALHOST,
            to,
            &request("OPTIONS", "ping", to, &format!("after-{n}"), None, None),
            Duration::from_millis(100),
        );
        resp.as_deref().and_then(status) == Some(200)
    })
    .await;
    assert!(served, "served again after the refill");
}

/// Case 9: garbage of every kind, over UDP and TCP and from SIPp; the listener
/// keeps serving and a valid call afterwards succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case9_garbage_never_crashes_or_stalls_the_listener() {
    let engine = engine(4, |_| {}).await;
    let to = engine.local_addr();
    // Random bytes (seeded), binary with NULs, a header-only fragment, and a 20 KB datagram.
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for n in 0..200usize {
        let len = (n * 37) % 1500 + 1;
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        sock.send_to(&junk, to).expect("send");
    }
    sock.send_to(
        b"INVITE sip:echo@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;bran",
        to,
    )
    .expect("send");
    sock.send_to(&[0u8; 512], to).expect("send");
    let huge = format!(
        "OPTIONS sip:x@{to} SIP/2.0\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = sock.send_to(huge.as_bytes(), to);
    // TCP: garbage, an absurd Content-Length, and a connection closed mid-message.
    for payload in [
        b"\x00\x01\x02 not sip at all \xff\xfe".to_vec(),
        format!("INVITE sip:echo@{to} SIP/2.0\r\nContent-Length: 18446744073709551615\r\n\r\nx")
            .into_bytes(),
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP".to_vec(),
    ] {
        if let Ok(mut tcp) = TcpStream::connect(to) {
            let _ = tcp.write_all(&payload);
        }
    }
    // SIPp: a truncated INVITE, huge headers (silence or an error, never a hang),
    // and an INVITE with broken SDP, which must get 400.
    for scenario in ["uac_truncated", "uac_hugehdr"] {
        let run = Sipp::scenario(scenario)
            .args(uac_args(to, "echo"))
            .args(["-m", "1", "-timeout", "20s"])
            .run()
            .await;
        assert!(run.all_ok(1), "{scenario}: {run:?}");
    }
    let run = Sipp::scenario("uac_badsdp")
        .args(uac_args(to, "echo"))
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(run.all_ok(1), "broken SDP gets 400: {run:?}");
    assert_eq!(engine.counters().bad_request.load(Ordering::Relaxed), 1);

    // Still serving: OPTIONS and a real call both work.
    let resp = sip_exchange(
        LOCALHOST,
        to,
        &request("OPTIONS", "ping", to, "alive", None, None),
        WAIT,
    );
    assert_eq!(resp.as_deref().and_then(status), Some(200));
    let run = Sipp::scenario("uac_dtmf")
        .args(uac_args(to, "echo"))
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(run.all_ok(1), "a valid call after the garbage: {run:?}");
    assert!(eventually(Duration::from_secs(5), || engine.stats().active_calls == 0).await);
    assert_eq!(engine.stats().ports_free, engine.stats().ports_total);
}
