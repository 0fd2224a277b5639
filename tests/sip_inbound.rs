//! Inbound calls from the real SIPp to the engine's echo route.

mod common;

use std::time::Duration;

use common::{Sipp, engine, eventually, uac_args};
use tenex_actors::sip::{CallOutcome, CallRecord, HungUpBy, SipEngine, SipTransport};
use tenex_media::dtmf::DtmfDigit;
use tenex_media::g711::G711Law;
use tenex_media::sdp::Codec;

/// Waits until no call is active and returns the newest record.
async fn finished(engine: &SipEngine) -> CallRecord {
    assert!(
        eventually(Duration::from_secs(10), || engine.stats().active_calls == 0).await,
        "call still active: {:?}",
        engine.calls()
    );
    engine.calls().pop().expect("a call record")
}

fn no_leaked_ports(engine: &SipEngine) {
    let s = engine.stats();
    assert_eq!(s.ports_free, s.ports_total, "RTP ports leaked");
}

/// Case 1 (PCMU) and 2 (PCMA): a 10 s call with audio from a pcap; the caller
/// hears itself back.
async fn ten_second_echo_call(
    scenario: &str,
    pcap: &'static str,
    law: G711Law,
    codec: Codec,
    transport: &str,
) {
    let engine = engine(10, |_| {}).await;
    let run = Sipp::scenario(scenario)
        .pcap(pcap, law, 10)
        .args(uac_args(engine.local_addr(), "echo"))
        .args(["-m", "1", "-t", transport, "-timeout", "40s"])
        .run()
        .await;
    assert!(run.all_ok(1), "{run:?}");
    let record = finished(&engine).await;
    assert_eq!(record.codec, Some(codec));
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    assert_eq!(record.hung_up_by, Some(HungUpBy::Them));
    assert!(
        record.rtp_received >= 450,
        "received {} RTP packets",
        record.rtp_received
    );
    assert!(
        record.rtp_sent >= 450,
        "echoed {} RTP packets",
        record.rtp_sent
    );
    no_leaked_ports(&engine);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case1_pcmu_echo_call_with_pcap_audio() {
    ten_second_echo_call(
        "uac_pcmu",
        "g711u_10s.pcap",
        G711Law::Ulaw,
        Codec::Pcmu,
        "u1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case2_pcma_echo_call_with_pcap_audio() {
    ten_second_echo_call(
        "uac_pcma",
        "g711a_10s.pcap",
        G711Law::Alaw,
        Codec::Pcma,
        "u1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case7_inbound_call_over_tcp() {
    ten_second_echo_call(
        "uac_pcmu",
        "g711u_10s.pcap",
        G711Law::Ulaw,
        Codec::Pcmu,
        "t1",
    )
    .await;
    let engine = engine(4, |_| {}).await;
    let run = Sipp::scenario("uac_dtmf")
        .args(uac_args(engine.local_addr(), "echo"))
        .args(["-m", "1", "-t", "t1", "-timeout", "20s"])
        .run()
        .await;
    assert!(run.all_ok(1), "{run:?}");
    assert_eq!(finished(&engine).await.transport, SipTransport::Tcp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case3_engine_hangs_up_first() {
    let engine = engine(4, |_| {}).await;
    let sipp = tokio::spawn(
        Sipp::scenario("uac_wait_bye")
            .args(uac_args(engine.local_addr(), "echo"))
            .args(["-m", "1", "-timeout", "30s"])
            .run(),
    );
    if !eventually(Duration::from_secs(10), || engine.stats().active_calls == 1).await {
        let run = sipp.await.expect("sipp task");
        panic!(
            "no active call; sipp: {run:?}; records: {:?}",
            engine.calls()
        );
    }
    // Hang up once the caller has ACKed our answer.
    wait_confirmations(&engine, 1).await;
    let call = engine.active_calls()[0];
    assert!(engine.hangup(call));
    let run = sipp.await.expect("sipp task");
    assert!(
        run.all_ok(1),
        "the caller got our BYE and answered it: {run:?}"
    );
    let record = finished(&engine).await;
    assert_eq!(record.hung_up_by, Some(HungUpBy::Us));
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    no_leaked_ports(&engine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case4_cancel_before_answer_gets_487_and_leaks_nothing() {
    let engine = engine(4, |_| {}).await;
    let run = Sipp::scenario("uac_cancel")
        .args(uac_args(engine.local_addr(), "ringing"))
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(
        run.all_ok(1),
        "200 to the CANCEL, 487 to the INVITE: {run:?}"
    );
    let record = finished(&engine).await;
    assert_eq!(record.outcome, Some(CallOutcome::Canceled));
    assert_eq!(record.final_status, Some(487));
    assert!(record.answered_at.is_none());
    no_leaked_ports(&engine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case5_hold_and_unhold_by_reinvite_with_sip_info_dtmf() {
    let engine = engine(4, |_| {}).await;
    let sipp = tokio::spawn(
        Sipp::scenario("uac_hold_info")
            .args(uac_args(engine.local_addr(), "echo"))
            .args(["-m", "1", "-timeout", "30s"])
            .run(),
    );
    // INFO 5 (dtmf-relay) and 7 (dtmf), hold (answered recvonly), unhold (answered
    // sendrecv): the scenario checks both answers; then it waits for our BYE.
    let done = eventually(Duration::from_secs(15), || {
        engine
            .calls()
            .last()
            .is_some_and(|r| r.held && !r.on_hold && r.dtmf == [DtmfDigit::D5, DtmfDigit::D7])
    })
    .await;
    assert!(done, "{:?}", engine.calls());
    // Hang up once the unhold's ACK is in: the dialog has settled five times
    // (the answer's ACK, two INFOs, two re-INVITE ACKs).
    wait_confirmations(&engine, 5).await;
    assert!(engine.hangup(engine.active_calls()[0]));
    let run = sipp.await.expect("sipp task");
    assert!(run.all_ok(1), "{run:?}");
    let record = finished(&engine).await;
    assert!(record.held && !record.on_hold);
    no_leaked_ports(&engine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_key_press_reaches_the_call_once() {
    let engine = engine(4, |_| {}).await;
    let run = Sipp::scenario("uac_dtmf")
        .args(uac_args(engine.local_addr(), "echo"))
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(run.all_ok(1), "{run:?}");
    let record = finished(&engine).await;
    assert_eq!(record.dtmf, vec![DtmfDigit::D5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_offer_gets_our_offer_in_the_200_and_the_answer_from_the_ack() {
    let engine = engine(4, |_| {}).await;
    let run = Sipp::scenario("uac_delayed_offer")
        .args(uac_args(engine.local_addr(), "echo"))
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(run.all_ok(1), "{run:?}");
    let record = finished(&engine).await;
    assert_eq!(record.codec, Some(Codec::Pcmu));
    assert_eq!(record.outcome, Some(CallOutcome::Completed));
    assert!(
        record.rtp_sent >= 50,
        "media ran after the ACK: sent {}",
        record.rtp_sent
    );
    no_leaked_ports(&engine);
}

/// The answer sequence on the wire: 100 Trying, 180 Ringing, 200 OK with SDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_invite_gets_100_then_180_then_200_with_sdp() {
    use std::net::UdpSocket;
    let engine = engine(2, |_| {}).await;
    let to = engine.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let local = sock.local_addr().expect("addr").to_string();
    let sdp = common::sdp_offer(
        40_000,
        "0 101",
        &["0 PCMU/8000", "101 telephone-event/8000"],
    );
    let invite = common::request(
        "INVITE",
        "echo",
        to,
        "seq1",
        None,
        Some(("application/sdp", &sdp)),
    )
    .replace("{LOCAL}", &local);
    sock.send_to(invite.as_bytes(), to).expect("send");
    let mut statuses = Vec::new();
    let mut ok = String::new();
    let mut buf = [0u8; 8192];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        let code = common::status(&msg).expect("a response");
        statuses.push(code);
        if code >= 200 {
            ok = msg;
            break;
        }
    }
    assert_eq!(statuses, vec![100, 180, 200]);
    assert!(ok.contains("Content-Type: application/sdp"), "{ok}");
    assert!(
        ok.contains("m=audio ") && ok.contains("a=rtpmap:0 PCMU/8000"),
        "{ok}"
    );
    assert!(ok.contains("a=rtpmap:101 telephone-event/8000"), "{ok}");
    // ACK and BYE with the dialog's tags, so the call ends cleanly.
    let to_tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .expect("to tag")
        .trim()
        .to_string();
    for method in ["ACK", "BYE"] {
        let req = common::request(method, "echo", to, "seq1", Some(&to_tag), None)
            .replace("CSeq: 1 BYE", "CSeq: 2 BYE")
            .replace("{LOCAL}", &local);
        sock.send_to(req.as_bytes(), to).expect("send");
    }
    assert!(eventually(Duration::from_secs(5), || engine.stats().active_calls == 0).await);
    assert_eq!(
        engine.calls().pop().expect("record").hung_up_by,
        Some(HungUpBy::Them)
    );
}

/// Waits until the latest call's dialog has settled in its confirmed state `n` times.
async fn wait_confirmations(engine: &SipEngine, n: u32) {
    assert!(
        eventually(Duration::from_secs(10), || engine
            .calls()
            .last()
            .is_some_and(|r| r.confirmations >= n))
        .await,
        "{:?}",
        engine.calls()
    );
}
