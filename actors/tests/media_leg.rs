//! The RTP media leg on real loopback sockets: a test "phone" socket plays the far end.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tenex_actors::media::{
    AudioFrame, AudioRing, MediaCommand, MediaConfig, MediaEvent, MediaLeg, MediaMode, MediaStats,
    PortPool, PortRange,
};
use tenex_media::SampleRate;
use tenex_media::dtmf::{DtmfDigit, DtmfGenerator, DtmfTone, EventPayload};
use tenex_media::g711::G711Law;
use tenex_media::rtp::{PayloadType, RtpPacket, RtpSender, RtpTimestamp, SeqNo, Ssrc};
use tenex_media::sdp::{Codec, Direction};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const DTMF_PT: u8 = 101;

fn pool() -> PortPool {
    // Each test binary picks ports near an ephemeral one so parallel tests differ.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
    let base = probe.local_addr().expect("addr").port();
    let first = if base > 60_000 {
        30_000 + base % 1000 * 2
    } else {
        base + 2
    };
    PortPool::new(
        LOCAL,
        PortRange {
            first,
            last: first + 40,
        },
    )
}

fn config(phone: SocketAddr, mode: MediaMode) -> MediaConfig {
    MediaConfig {
        codec: Codec::Pcmu,
        send_pt: PayloadType::PCMU,
        recv_pt: PayloadType::PCMU,
        dtmf: Some((
            PayloadType::new(DTMF_PT).expect("pt"),
            PayloadType::new(DTMF_PT).expect("pt"),
            8000,
        )),
        remote_rtp: Some(phone),
        remote_rtcp: None,
        rtcp_mux: true,
        direction: Direction::SendRecv,
        pcm_rate: SampleRate::Hz8000,
        cname: "leg@test".into(),
        mode,
        inactivity_timeout: Duration::from_secs(30),
        recording: None,
        rtcp_interval: Duration::from_secs(5),
    }
}

/// Waits until `check` holds (5 s at most; the check is cheap and polled).
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    timeout(Duration::from_secs(5), async {
        let mut poll = tokio::time::interval(Duration::from_millis(5));
        while !check() {
            poll.tick().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} in time"));
}

/// Returns once every command sent to `leg` before it has been applied (the leg
/// handles commands in order; a flush's reply is the barrier).
async fn barrier(leg: &MediaLeg) {
    let (reply, done) = tokio::sync::oneshot::channel();
    assert!(leg.command(MediaCommand::Flush(reply)));
    done.await.expect("the leg answered");
}

/// A tone, `i`-th 20 ms frame, as PCMU.
fn tone_frame(i: usize) -> [u8; 160] {
    let mut pcm = [0i16; 160];
    for (n, s) in pcm.iter_mut().enumerate() {
        let t = (i * 160 + n) as f64 / 8000.0;
        *s = (8000.0 * (2.0 * std::f64::consts::PI * 400.0 * t).sin()) as i16;
    }
    let mut out = [0u8; 160];
    G711Law::Ulaw.encode(&pcm, &mut out);
    out
}

/// Sends `frames` packets of tone from `phone` to `to`, paced at 20 ms.
async fn play(phone: &UdpSocket, to: SocketAddr, frames: usize, tx: &mut RtpSender) {
    let start = Instant::now();
    let mut wire = [0u8; 200];
    for i in 0..frames {
        sleep_until(start + Duration::from_millis(20 * i as u64)).await;
        let n = tx
            .write_media(PayloadType::PCMU, i == 0, &tone_frame(i), 160, &mut wire)
            .expect("rtp");
        phone.send_to(&wire[..n], to).await.expect("send");
    }
}

/// Receives RTP on `phone` for `window`; returns the packets (RTCP skipped).
async fn collect(phone: &UdpSocket, window: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = Instant::now() + window;
    let mut buf = [0u8; 2048];
    while let Ok(Ok((n, _))) = timeout(
        deadline.saturating_duration_since(Instant::now()),
        phone.recv_from(&mut buf),
    )
    .await
    {
        if !tenex_media::rtp::is_rtcp(&buf[..n]) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

/// Receives RTP on `phone` until `n` packets came or `limit` passed.
async fn collect_n(phone: &UdpSocket, n: usize, limit: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 2048];
    while got.len() < n
        && let Ok(Ok((len, _))) = timeout(
            deadline.saturating_duration_since(Instant::now()),
            phone.recv_from(&mut buf),
        )
        .await
    {
        if !tenex_media::rtp::is_rtcp(&buf[..len]) {
            got.push(buf[..len].to_vec());
        }
    }
    got
}

#[tokio::test]
async fn echo_returns_the_callers_audio_with_a_well_formed_stream() {
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let pool = pool();
    let (ev_tx, mut ev_rx) = mpsc::channel(16);
    let leg = MediaLeg::spawn(
        pool.acquire().expect("port"),
        config(phone.local_addr().expect("a"), MediaMode::Echo),
        ev_tx,
    )
    .expect("leg");
    let to = leg.local_addr();
    let mut tx = RtpSender::new(Ssrc(0xAB), SeqNo(65_500), RtpTimestamp(0));
    // The leg sends one packet per 20 ms tick whether or not the caller spoke
    // (silence between spurts): 80 packets come back for the caller's 50. A leg
    // that reflected each received packet would send 50 and then nothing.
    let (_, packets) = tokio::join!(
        play(&phone, to, 50, &mut tx),
        collect_n(&phone, 80, Duration::from_secs(15))
    );
    assert_eq!(
        ev_rx.recv().await,
        Some(MediaEvent::Latched(phone.local_addr().expect("a")))
    );

    let parsed: Vec<RtpPacket<'_>> = packets
        .iter()
        .map(|p| RtpPacket::parse(p).expect("parse"))
        .collect();
    assert_eq!(
        parsed.len(),
        80,
        "one packet per tick, also after the caller stopped"
    );
    let ssrc = parsed[0].ssrc;
    let mut frames_between = 0;
    for w in parsed.windows(2) {
        assert_eq!(w[1].ssrc, ssrc);
        assert_eq!(w[1].seq, w[0].seq.next(), "consecutive sequence numbers");
        // One frame per packet; a starved task skips whole frames, never part of one.
        let step = w[0].timestamp.delta_to(w[1].timestamp);
        assert!(step >= 160 && step % 160 == 0, "timestamp step {step}");
        frames_between += u64::from((step / 160 - 1).unsigned_abs());
    }
    // Every frame missing between two packets is a tick the pacer counted as
    // skipped (it ran late), never a packet lost or sent out of turn. How many
    // ticks a busy machine makes the leg skip is not this test's business.
    assert!(
        frames_between <= leg.stats().ticks_skipped.load(Ordering::Relaxed),
        "{frames_between} frames missing in the stream, more than the skipped ticks"
    );
    // The echoed tone: packets carrying audio (not silence) start with a marker.
    let first_audio = parsed
        .iter()
        .position(|p| p.payload.iter().any(|&c| c != 0xFF))
        .expect("audio came back");
    assert!(parsed[first_audio].marker, "talk-spurt start is marked");
    let echoed: Vec<i16> = parsed[first_audio..]
        .iter()
        .flat_map(|p| p.payload.iter().map(|&c| tenex_media::g711::ulaw_decode(c)))
        .collect();
    let loud = echoed.iter().filter(|s| s.abs() > 4000).count();
    assert!(
        loud > 160 * 20,
        "the caller hears their tone back ({loud} loud samples)"
    );

    let stats = leg.stats().clone();
    let jitter = leg.stop().await;
    assert_eq!(stats.rtp_received.load(Ordering::Relaxed), 50);
    assert_eq!(jitter.received, 50);
    assert_eq!(jitter.lost, 0);
    assert_eq!(pool.free(), pool.total(), "port returned");
}

#[tokio::test]
async fn packets_from_another_source_after_latching_are_ignored() {
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let intruder = UdpSocket::bind("127.0.0.1:0").await.expect("intruder");
    let pool = pool();
    let (ev_tx, _ev) = mpsc::channel(16);
    let leg = MediaLeg::spawn(
        pool.acquire().expect("port"),
        config(phone.local_addr().expect("a"), MediaMode::Echo),
        ev_tx,
    )
    .expect("leg");
    let mut tx = RtpSender::new(Ssrc(1), SeqNo(1), RtpTimestamp(0));
    play(&phone, leg.local_addr(), 5, &mut tx).await;
    let mut other = RtpSender::new(Ssrc(2), SeqNo(1), RtpTimestamp(0));
    play(&intruder, leg.local_addr(), 5, &mut other).await;
    intruder
        .send_to(b"garbage that is not RTP", leg.local_addr())
        .await
        .expect("send");
    until("six datagrams rejected", || {
        leg.stats().rtp_rejected.load(Ordering::Relaxed) >= 6
    })
    .await;
    assert_eq!(leg.stats().rtp_received.load(Ordering::Relaxed), 5);
    assert_eq!(leg.stats().rtp_rejected.load(Ordering::Relaxed), 6);
    leg.stop().await;
}

#[tokio::test]
async fn rfc4733_key_presses_are_reported_once_and_can_be_sent() {
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let pool = pool();
    let (ev_tx, mut ev_rx) = mpsc::channel(16);
    let leg = MediaLeg::spawn(
        pool.acquire().expect("port"),
        config(phone.local_addr().expect("a"), MediaMode::Echo),
        ev_tx,
    )
    .expect("leg");
    let to = leg.local_addr();
    // Some audio, then the digit 5 as RFC 4733 events (with the triple end packet).
    let mut tx = RtpSender::new(Ssrc(9), SeqNo(10), RtpTimestamp(0));
    play(&phone, to, 5, &mut tx).await;
    let pt = PayloadType::new(DTMF_PT).expect("pt");
    let mut generator =
        DtmfGenerator::new(&DtmfTone::new(DtmfDigit::D5), tx.next_timestamp()).expect("gen");
    let mut body = [0u8; 4];
    let mut wire = [0u8; 64];
    // A phone sends one event packet per 20 ms.
    let mut ptime = tokio::time::interval(Duration::from_millis(20));
    while let Some(p) = generator.poll_packet(&mut body) {
        ptime.tick().await;
        let n = tx
            .write_at(pt, p.marker, p.timestamp, &body, &mut wire)
            .expect("w");
        phone.send_to(&wire[..n], to).await.expect("send");
    }
    // The first key press however late a loaded machine reports it, then
    // anything else that comes within 200 ms (a duplicate would).
    let mut digits = Vec::new();
    let mut wait = Duration::from_secs(5);
    while let Ok(Some(ev)) = timeout(wait, ev_rx.recv()).await {
        if let MediaEvent::Dtmf(d) = ev {
            digits.push(d);
            wait = Duration::from_millis(200);
        }
    }
    assert_eq!(digits, vec![DtmfDigit::D5]);

    // And the other way: the leg sends 7 as events on the negotiated payload type.
    assert!(leg.command(MediaCommand::SendDtmf(DtmfDigit::D7)));
    let events_in = |packets: Vec<Vec<u8>>| -> Vec<EventPayload> {
        packets
            .iter()
            .filter_map(|p| RtpPacket::parse(p).ok())
            .filter(|p| p.payload_type == pt)
            .map(|p| EventPayload::decode(p.payload).expect("event"))
            .collect()
    };
    // Until three end packets came (5 s at most), then 200 ms more: a fourth
    // end packet would show there.
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while events.iter().filter(|e: &&EventPayload| e.end).count() < 3 && Instant::now() < deadline {
        events.extend(events_in(
            collect_n(&phone, 1, deadline - Instant::now()).await,
        ));
    }
    events.extend(events_in(collect(&phone, Duration::from_millis(200)).await));
    assert!(events.len() >= 5);
    assert!(events.iter().all(|e| e.digit() == Some(DtmfDigit::D7)));
    assert_eq!(
        events.iter().filter(|e| e.end).count(),
        3,
        "the end packet is sent three times"
    );
    leg.stop().await;
}

#[tokio::test]
async fn hold_stops_what_we_send_and_unhold_resumes() {
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let pool = pool();
    let (ev_tx, _ev) = mpsc::channel(16);
    let leg = MediaLeg::spawn(
        pool.acquire().expect("port"),
        config(phone.local_addr().expect("a"), MediaMode::Echo),
        ev_tx,
    )
    .expect("leg");
    assert_eq!(
        collect_n(&phone, 5, Duration::from_secs(5)).await.len(),
        5,
        "sending silence before hold"
    );
    assert!(leg.command(MediaCommand::Direction(Direction::RecvOnly)));
    barrier(&leg).await;
    // Drop what was sent before the hold took effect.
    let mut buf = [0u8; 2048];
    while phone.try_recv_from(&mut buf).is_ok() {}
    assert!(
        collect(&phone, Duration::from_millis(300)).await.is_empty(),
        "nothing sent on hold"
    );
    assert!(leg.command(MediaCommand::Direction(Direction::SendRecv)));
    // Sending resumes: 12 packets arrive (at the pacer's rate when the
    // machine keeps up; the deadline only bounds a machine that does not).
    let resumed = collect_n(&phone, 12, Duration::from_secs(3)).await;
    assert!(resumed.len() >= 12, "resumed: {}", resumed.len());
    let seqs: Vec<u16> = resumed
        .iter()
        .map(|p| RtpPacket::parse(p).expect("p").seq.0)
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "sequence continues without gaps"
    );
    leg.stop().await;
}

#[tokio::test]
async fn bridge_mode_moves_audio_through_the_rings_and_flush_reports_what_was_heard() {
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let pool = pool();
    let (ev_tx, _ev) = mpsc::channel(16);
    let (uplink, downlink) = (AudioRing::new(50), AudioRing::new(500));
    let mode = MediaMode::Bridge {
        uplink: uplink.clone(),
        downlink: downlink.clone(),
    };
    let leg = MediaLeg::spawn(
        pool.acquire().expect("port"),
        config(phone.local_addr().expect("a"), mode),
        ev_tx,
    )
    .expect("leg");
    // Caller audio comes out of the uplink ring, one decoded frame per tick.
    let mut tx = RtpSender::new(Ssrc(3), SeqNo(1), RtpTimestamp(0));
    play(&phone, leg.local_addr(), 20, &mut tx).await;
    until("decoded frames in the uplink ring", || uplink.len() >= 15).await;
    assert!(
        uplink.len() >= 15,
        "decoded frames in the uplink ring: {}",
        uplink.len()
    );
    assert_eq!(uplink.pop().expect("frame").pcm().len(), 160);
    // Agent audio: 2 s queued at once plays out paced; a flush reports what was heard.
    for _ in 0..100 {
        downlink.push(AudioFrame::new(&[3000; 160], 7, 20_000));
    }
    let stats = leg.stats().clone();
    until("some of the agent audio played", || {
        MediaStats::get(&stats.playout_played) >= 10
    })
    .await;
    let (reply, heard) = tokio::sync::oneshot::channel();
    assert!(leg.command(MediaCommand::Flush(reply)));
    let flushed = heard.await.expect("flushed");
    let item = flushed.item.expect("item 7 was playing");
    assert_eq!(item.item.0, 7);
    assert!(
        item.played_ms > 0 && item.played_ms % 20 == 0,
        "{} ms heard",
        item.played_ms
    );
    // Every queued frame was either heard or dropped by the flush.
    assert_eq!(item.played_ms as usize / 20 + flushed.dropped_frames, 100);
    leg.stop().await;
}

#[tokio::test]
async fn silence_from_the_far_end_is_reported_and_rtcp_flows() {
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let pool = pool();
    let (ev_tx, mut ev_rx) = mpsc::channel(16);
    let mut cfg = config(phone.local_addr().expect("a"), MediaMode::Echo);
    cfg.inactivity_timeout = Duration::from_millis(300);
    cfg.rtcp_interval = Duration::from_millis(200);
    let leg = MediaLeg::spawn(pool.acquire().expect("port"), cfg, ev_tx).expect("leg");
    let event = timeout(Duration::from_secs(2), ev_rx.recv())
        .await
        .expect("in time");
    assert_eq!(event, Some(MediaEvent::Inactive));
    // RTCP (multiplexed) reached the phone: a sender report with our CNAME.
    let mut buf = [0u8; 2048];
    // Reports keep coming every 200 ms: read until two sender reports came
    // (5 s at most, for a machine too busy to keep the interval).
    let mut sender_reports = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while sender_reports < 2
        && let Ok(Ok((n, _))) = timeout(
            deadline.saturating_duration_since(Instant::now()),
            phone.recv_from(&mut buf),
        )
        .await
    {
        if tenex_media::rtp::is_rtcp(&buf[..n]) {
            let summary = tenex_media::rtcp::parse_compound(&buf[..n]).expect("rtcp parses");
            sender_reports += summary.sender_reports.len();
        }
    }
    assert_eq!(sender_reports, 2);
    assert!(leg.stats().rtcp_sent.load(Ordering::Relaxed) >= 2);
    leg.stop().await;
}

#[tokio::test]
async fn without_rtcp_mux_reports_come_from_the_next_port_and_count_losses() {
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let phone_rtcp = UdpSocket::bind("127.0.0.1:0").await.expect("phone rtcp");
    let pool = pool();
    let (ev_tx, _ev) = mpsc::channel(16);
    let mut cfg = config(phone.local_addr().expect("a"), MediaMode::Echo);
    cfg.rtcp_mux = false;
    cfg.remote_rtcp = Some(phone_rtcp.local_addr().expect("a"));
    cfg.rtcp_interval = Duration::from_millis(400);
    let leg = MediaLeg::spawn(pool.acquire().expect("port"), cfg, ev_tx).expect("leg");
    // 30 packets with two sequence numbers skipped (lost on the way).
    let mut tx = RtpSender::new(Ssrc(0x1234), SeqNo(100), RtpTimestamp(0));
    let mut wire = [0u8; 200];
    // Real-time packet spacing: the RTCP report covers a live stream.
    let mut ptime = tokio::time::interval(Duration::from_millis(20));
    for i in 0..32 {
        ptime.tick().await;
        let n = tx
            .write_media(PayloadType::PCMU, i == 0, &tone_frame(i), 160, &mut wire)
            .expect("rtp");
        if i != 10 && i != 20 {
            phone
                .send_to(&wire[..n], leg.local_addr())
                .await
                .expect("send");
        }
    }
    // Every report until one covers the whole stream. Each report's fraction
    // lost covers the interval since the one before, so the losses show in
    // whichever report came first after them (during the stream or after it,
    // depending on how the report timer fell).
    let mut buf = [0u8; 2048];
    let mut fractions = Vec::new();
    let block = loop {
        let (n, from) = timeout(Duration::from_secs(2), phone_rtcp.recv_from(&mut buf))
            .await
            .expect("rtcp in time")
            .expect("recv");
        assert_eq!(
            from.port(),
            leg.local_addr().port() + 1,
            "RTCP from the odd port"
        );
        let summary = tenex_media::rtcp::parse_compound(&buf[..n]).expect("parse");
        let Some(block) = summary
            .report_blocks
            .iter()
            .find(|b| b.block.ssrc == Ssrc(0x1234))
            .cloned()
        else {
            continue;
        };
        fractions.push(block.block.fraction_lost);
        if block.block.extended_highest_seq & 0xFFFF == 131 {
            break block;
        }
    };
    assert_eq!(block.block.cumulative_lost, 2);
    assert!(
        fractions.iter().any(|f| *f > 0),
        "a report counted the losses: {fractions:?}"
    );
    leg.stop().await;
}

/// RMS of `s`.
fn rms(s: &[i16]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
}

#[tokio::test]
async fn the_recording_has_the_caller_left_and_what_we_played_right_on_one_timeline() {
    let dir = std::env::temp_dir().join(format!("tenex-leg-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("call.wav");
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let pool = pool();
    let (ev_tx, _ev_rx) = mpsc::channel(16);
    let mut cfg = config(phone.local_addr().expect("a"), MediaMode::Echo);
    cfg.recording = Some(path.clone());
    let leg = MediaLeg::spawn(pool.acquire().expect("port"), cfg, ev_tx).expect("leg");
    let to = leg.local_addr();
    let mut tx = RtpSender::new(Ssrc(7), SeqNo(1), RtpTimestamp(0));
    // 1 s of tone, then 0.5 s of nothing: counted from the last tone packet,
    // however late a loaded machine let the phone send it.
    let played = async {
        play(&phone, to, 50, &mut tx).await;
        Instant::now()
    };
    let (last_sent, mut echoed) =
        tokio::join!(played, collect(&phone, Duration::from_millis(1000)));
    let quiet = (last_sent + Duration::from_millis(500)).saturating_duration_since(Instant::now());
    echoed.extend(collect(&phone, quiet).await);
    // Every slot is sent or, when a loaded machine made the leg late, let
    // pass (the pacer never bursts): count both.
    let stats = leg.stats().clone();
    leg.stop().await;
    let skipped = stats.ticks_skipped.load(Ordering::Relaxed) as usize;
    assert!(
        echoed.len() + skipped >= 45,
        "echo flowed: {} sent, {skipped} slots skipped",
        echoed.len()
    );

    let mut wav = hound::WavReader::open(&path).expect("a valid WAV after stop");
    let spec = wav.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = wav.samples::<i16>().map(|s| s.expect("sample")).collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    assert!(
        left.len() >= 8000,
        "at least the second of audio: {}",
        left.len()
    );
    // Both channels carry the tone (G.711 round trip), at the same place on the
    // timeline: the echo of a frame is played on the tick that received it.
    let per = 160;
    let loud = |ch: &[i16], i: usize| rms(&ch[i * per..(i + 1) * per]) > 2000.0;
    let frames = left.len() / per;
    let left_loud: Vec<usize> = (0..frames).filter(|&i| loud(&left, i)).collect();
    let right_loud: Vec<usize> = (0..frames).filter(|&i| loud(&right, i)).collect();
    assert!(
        left_loud.len() >= 45,
        "caller channel: {} loud frames",
        left_loud.len()
    );
    assert!(
        right_loud.len() + skipped >= 45,
        "agent channel: {} loud frames, {skipped} slots skipped",
        right_loud.len()
    );
    let (l0, r0) = (left_loud[0], right_loud[0]);
    assert!(
        r0 >= l0 && r0 - l0 <= 2,
        "aligned: caller from frame {l0}, played from {r0}"
    );
    // And silence after the tone on both.
    assert!(!loud(&left, frames - 1) && !loud(&right, frames - 1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_crashed_leg_is_seen_by_its_owner() {
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("phone");
    let pool = pool();
    let (ev_tx, _ev_rx) = mpsc::channel(16);
    let mut leg = MediaLeg::spawn(
        pool.acquire().expect("port"),
        config(phone.local_addr().expect("a"), MediaMode::Echo),
        ev_tx,
    )
    .expect("leg");
    assert!(leg.command(MediaCommand::Crash));
    timeout(Duration::from_secs(2), leg.exited())
        .await
        .expect("exited() resolves when the task dies");
    leg.stop().await;
}

/// A leg whose task is starved (here: its runtime's only thread blocked) reads
/// the packets that queued up in the socket and plays out every frame that fell
/// due meanwhile, instead of one per tick: no caller audio is lost and none is
/// delayed for the rest of the call.
#[tokio::test]
async fn a_starved_leg_catches_up_without_losing_caller_audio() {
    const FRAMES: usize = 150;
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").expect("phone");
    let pool = pool();
    let (ev_tx, _ev) = mpsc::channel(16);
    let (uplink, downlink) = (AudioRing::new(400), AudioRing::new(50));
    let mode = MediaMode::Bridge {
        uplink: uplink.clone(),
        downlink,
    };
    let leg = MediaLeg::spawn(
        pool.acquire().expect("port"),
        config(phone.local_addr().expect("a"), mode),
        ev_tx,
    )
    .expect("leg");
    // The phone talks from its own thread (its own runtime, paced by an
    // interval), whatever the leg does, and reports each packet it sent.
    let to = leg.local_addr();
    let (sent_tx, sent) = std::sync::mpsc::channel::<usize>();
    let talker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("talker runtime");
        rt.block_on(async {
            let mut tx = RtpSender::new(Ssrc(9), SeqNo(1), RtpTimestamp(0));
            let mut every = tokio::time::interval(Duration::from_millis(20));
            let mut wire = [0u8; 200];
            for i in 0..FRAMES {
                every.tick().await;
                let n = tx
                    .write_media(PayloadType::PCMU, i == 0, &tone_frame(i), 160, &mut wire)
                    .expect("rtp");
                phone.send_to(&wire[..n], to).expect("send");
                let _ = sent_tx.send(i);
            }
        });
    });
    let voiced = std::cell::Cell::new(0usize);
    let count = |ring: &AudioRing| {
        while let Some(frame) = ring.pop() {
            if rms(frame.pcm()) > 1000.0 {
                voiced.set(voiced.get() + 1);
            }
        }
        voiced.get()
    };
    // Three stalls of 15 packets (300 ms) while the caller talks: the leg's
    // only runtime thread is blocked until the phone has sent them. A leg
    // playing one frame per tick would carry each backlog for the rest of the
    // call, and the third would overflow the 32-frame jitter window. (15, not
    // more: a machine that also stalls on its own must not push one backlog
    // past the window.)
    const STALL: usize = 15;
    for stall in 1..=3 {
        until("the caller's audio flows", || {
            count(&uplink) >= 10 + (STALL + 10) * (stall - 1)
        })
        .await;
        let mut last = None;
        while let Ok(i) = sent.try_recv() {
            last = Some(i);
        }
        let resume = last.map_or(STALL, |i| i + STALL).min(FRAMES - 1);
        while sent.recv().is_ok_and(|i| i < resume) {}
    }
    // Every frame the caller sent comes out (or the assertion below says how many did).
    let _ = timeout(Duration::from_secs(5), async {
        let mut poll = tokio::time::interval(Duration::from_millis(5));
        while count(&uplink) < FRAMES - 3 {
            poll.tick().await;
        }
    })
    .await;
    let stats = leg.stop().await;
    talker.join().expect("talker");
    let played = count(&uplink);
    assert!(
        (FRAMES - 3..=FRAMES + 3).contains(&played),
        "voiced frames played: {played} of {FRAMES}; {stats:?}"
    );
}
