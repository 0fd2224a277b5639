//! Shared harness for the SIP integration tests: an in-process engine on
//! loopback, the real `sipp` binary, generated PCMU/PCMA pcaps, and a tiny raw
//! SIP client for checking single responses.

#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::time::Duration;

use tenex_actors::media::PortRange;
use tenex_actors::sip::{CallRouter, IncomingCall, Route, RouteFuture, SipConfig, SipEngine};
use tenex_media::g711::G711Law;

pub mod agent;
pub mod api;
pub mod calls;
pub mod db;
pub mod host;
pub mod mcp;
pub mod openapi;
pub mod receiver;
pub mod sse;

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Routes of the test engine: `echo` answers at once, `ringing` rings for a minute
/// (for CANCEL), everything else is 404.
pub struct TestRouter;

impl CallRouter for TestRouter {
    fn route<'a>(&'a self, call: &'a IncomingCall) -> RouteFuture<'a> {
        match call.user.as_deref() {
            Some("echo") => Route::Echo {
                answer_after: Duration::ZERO,
            },
            Some("ringing") => Route::Echo {
                answer_after: Duration::from_secs(60),
            },
            _ => Route::NotFound,
        }
        .ready()
    }
}

static NEXT_PORT_BLOCK: AtomicU16 = AtomicU16::new(0);

/// A block of `n` even RTP ports no other test in this process uses.
pub fn rtp_range(n: u16) -> PortRange {
    // Spread test binaries apart by their process id, and tests within a binary by a counter.
    let base = 20_000 + (std::process::id() % 40) as u16 * 1000;
    let block = NEXT_PORT_BLOCK.fetch_add(1, Ordering::Relaxed);
    let first = base + (block % 4) * 250;
    let n = n.min(248);
    PortRange {
        first,
        last: first + n * 2,
    }
}

/// A plain HTTP/1.1 GET over a fresh connection: the whole response, head and body.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect HTTP");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read HTTP response");
    out
}

/// A free UDP port on loopback (also free for TCP at the moment of asking).
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A loopback engine with the test router; `tweak` adjusts the config.
pub async fn engine(ports: u16, tweak: impl FnOnce(&mut SipConfig)) -> SipEngine {
    let mut cfg = SipConfig {
        listen: SocketAddr::new(LOCALHOST, 0),
        rtp_ports: rtp_range(ports),
        ..SipConfig::default()
    };
    tweak(&mut cfg);
    SipEngine::start(cfg, Arc::new(TestRouter))
        .await
        .expect("engine starts")
}

/// Polls `check` until it holds (at most `within`).
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    check()
}

/// A fresh scratch directory for one sipp run.
/// Waits (at most 5 s) until something listens on UDP 127.0.0.1:`port`
/// (a SIPp phone started in the background); false if nothing came up.
pub async fn udp_listening(port: u16) -> bool {
    eventually(Duration::from_secs(5), || {
        UdpSocket::bind(("127.0.0.1", port)).is_err()
    })
    .await
}

pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tenex-sipp-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes a libpcap file (Ethernet/IPv4/UDP/RTP) of a 1 kHz tone in G.711, 20 ms
/// packets, for SIPp's `play_pcap_audio` (it rewrites addresses and ports only).
pub fn write_pcap(path: &Path, law: G711Law, seconds: u32) {
    let pcm: Vec<i16> = (0..seconds * 8000)
        .map(|n| {
            (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / 8000.0).sin()) as i16
        })
        .collect();
    write_pcap_samples(path, law, &pcm);
}

/// Writes a libpcap file of `pcm` (8 kHz) in G.711, 20 ms packets.
pub fn write_pcap_samples(path: &Path, law: G711Law, pcm_all: &[i16]) {
    let pt: u8 = match law {
        G711Law::Ulaw => 0,
        G711Law::Alaw => 8,
    };
    let mut out = Vec::new();
    // Global header: magic, v2.4, GMT offset 0, accuracy 0, snaplen, LINKTYPE_ETHERNET.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let frames = (pcm_all.len() / 160) as u32;
    for k in 0..frames {
        let pcm = &pcm_all[k as usize * 160..(k as usize + 1) * 160];
        let mut payload = [0u8; 160];
        law.encode(pcm, &mut payload);
        let mut rtp = vec![0x80, if k == 0 { 0x80 | pt } else { pt }];
        rtp.extend_from_slice(&(k as u16).to_be_bytes());
        rtp.extend_from_slice(&(k * 160).to_be_bytes());
        rtp.extend_from_slice(&0x5151_AA01u32.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let udp_len = 8 + rtp.len();
        let mut udp = Vec::with_capacity(udp_len);
        udp.extend_from_slice(&40000u16.to_be_bytes());
        udp.extend_from_slice(&40002u16.to_be_bytes());
        udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
        udp.extend_from_slice(&0u16.to_be_bytes());
        udp.extend_from_slice(&rtp);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
        ip.extend_from_slice(&(k as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xFFFF) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&udp);
        let us = u64::from(k) * 20_000;
        out.extend_from_slice(&((1_600_000_000 + us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// What a sipp run did.
#[derive(Debug)]
pub struct SippRun {
    /// Exit code (None if killed at the deadline).
    pub code: Option<i32>,
    /// `SuccessfulCall(C)` from the last row of the stats CSV.
    pub successful: u64,
    /// `FailedCall(C)` from the last row of the stats CSV.
    pub failed: u64,
    /// Peak concurrent calls (`CurrentCall` max is not kept; `TotalCallCreated` is).
    pub created: u64,
    /// The error trace, for assertion messages.
    pub errors: String,
}

impl SippRun {
    /// Exit code 0 and exactly `n` successful, no failed calls.
    pub fn all_ok(&self, n: u64) -> bool {
        self.code == Some(0) && self.successful == n && self.failed == 0
    }
}

/// One sipp invocation.
pub struct Sipp {
    scenario: String,
    args: Vec<String>,
    pcaps: Vec<(&'static str, G711Law, u32)>,
    audio: Vec<(&'static str, G711Law, Vec<i16>)>,
    deadline: Duration,
}

impl Sipp {
    /// Runs `tests/sipp/<scenario>.xml`.
    pub fn scenario(name: &str) -> Sipp {
        Sipp {
            scenario: name.to_string(),
            args: Vec::new(),
            pcaps: Vec::new(),
            audio: Vec::new(),
            deadline: Duration::from_secs(60),
        }
    }

    /// Adds command-line arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Sipp {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Generates a pcap next to the scenario.
    pub fn pcap(mut self, name: &'static str, law: G711Law, seconds: u32) -> Sipp {
        self.pcaps.push((name, law, seconds));
        self
    }

    /// Generates a pcap of `pcm` (8 kHz) next to the scenario.
    pub fn pcap_audio(mut self, name: &'static str, law: G711Law, pcm: Vec<i16>) -> Sipp {
        self.audio.push((name, law, pcm));
        self
    }

    /// Kills sipp if it runs longer than this.
    pub fn deadline(mut self, d: Duration) -> Sipp {
        self.deadline = d;
        self
    }

    /// Runs sipp to completion.
    pub async fn run(self) -> SippRun {
        let dir = scratch_dir(&self.scenario);
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(format!("{}.xml", self.scenario));
        let xml = dir.join(format!("{}.xml", self.scenario));
        std::fs::copy(&src, &xml).expect("copy scenario");
        for (name, law, secs) in &self.pcaps {
            write_pcap(&dir.join(name), *law, *secs);
        }
        for (name, law, pcm) in &self.audio {
            write_pcap_samples(&dir.join(name), *law, pcm);
        }
        let csv = dir.join("stats.csv");
        let err = dir.join("errors.log");
        let mut cmd = tokio::process::Command::new("sipp");
        cmd.arg("-sf")
            .arg(&xml)
            .args([
                "-nostdin",
                "-ci",
                "127.0.0.1",
                "-timeout_error",
                "-trace_stat",
                "-trace_err",
            ])
            .arg("-stf")
            .arg(&csv)
            .arg("-error_file")
            .arg(&err)
            .args(&self.args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn sipp (is sip-tester installed?)");
        let code = match tokio::time::timeout(self.deadline, child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = child.kill().await;
                None
            }
        };
        let (successful, failed, created) = csv_totals(&csv);
        let errors = std::fs::read_to_string(&err).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        SippRun {
            code,
            successful,
            failed,
            created,
            errors,
        }
    }
}

fn csv_totals(csv: &Path) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(csv).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let [header, .., last] = lines.as_slice() else {
        return (0, 0, 0);
    };
    let names: Vec<&str> = header.split(';').collect();
    let values: Vec<&str> = last.split(';').collect();
    let get = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        get("SuccessfulCall(C)"),
        get("FailedCall(C)"),
        get("TotalCallCreated"),
    )
}

/// Standard flags for a sipp UAC calling `engine`: local SIP and media ports.
/// SIPp as a callee on 127.0.0.1:`port`: one call, media on a free port,
/// giving up after `timeout` (SIPp syntax, e.g. `60s`).
pub fn uas_args(port: u16, timeout: &str) -> Vec<String> {
    vec![
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        media_port().to_string(),
        "-m".into(),
        "1".into(),
        "-timeout".into(),
        timeout.into(),
    ]
}

pub fn uac_args(target: SocketAddr, service: &str) -> Vec<String> {
    vec![
        format!("{target}"),
        "-s".into(),
        service.into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        media_port().to_string(),
    ]
}

/// A unique even media base port for sipp (it binds it and the next ones).
/// Taken from 10000–19999: below the engines' RTP ranges (20000 and up) and
/// below the kernel's ephemeral range, where any socket bound to port 0 could
/// take a port between this check and sipp's own bind (CI saw "Unable to bind
/// video RTP socket … Address already in use").
pub fn media_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let spread = std::process::id().wrapping_mul(7919);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = (10_000 + (spread.wrapping_add(n.wrapping_mul(4)) % 9_990) as u16) & !1;
        if (0..4).all(|i| UdpSocket::bind(("127.0.0.1", p + i)).is_ok()) {
            return p;
        }
    }
}

/// Sends one SIP request over UDP from `from` and returns the first final response
/// (skipping 1xx), or `None` after `wait`.
pub fn sip_exchange(from: IpAddr, to: SocketAddr, request: &str, wait: Duration) -> Option<String> {
    let sock = UdpSocket::bind(SocketAddr::new(from, 0)).expect("bind");
    let local = sock.local_addr().expect("addr");
    let request = request.replace("{LOCAL}", &local.to_string());
    sock.send_to(request.as_bytes(), to).expect("send");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = std::time::Instant::now() + wait;
    let mut buf = [0u8; 8192];
    while std::time::Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if !text.starts_with("SIP/2.0 1") {
                return Some(text);
            }
        }
    }
    None
}

/// A minimal request. `{LOCAL}` is replaced by the client's address.
pub fn request(
    method: &str,
    user: &str,
    to: SocketAddr,
    call_id: &str,
    to_tag: Option<&str>,
    body: Option<(&str, &str)>,
) -> String {
    let to_tag = to_tag.map_or(String::new(), |t| format!(";tag={t}"));
    let (ct, body) = body.map_or((String::new(), ""), |(ct, b)| {
        (format!("Content-Type: {ct}\r\n"), b)
    });
    format!(
        "{method} sip:{user}@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {{LOCAL}};branch=z9hG4bK{call_id}{method}\r\n\
         From: <sip:tester@127.0.0.1>;tag=t{call_id}\r\n\
         To: <sip:{user}@{to}>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:tester@{{LOCAL}}>\r\n\
         Max-Forwards: 70\r\n\
         {ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An INVITE for `user` at `to` carrying `sdp`.
pub fn invite(to: SocketAddr, user: &str, call_id: &str, sdp: &str) -> String {
    request(
        "INVITE",
        user,
        to,
        call_id,
        None,
        Some(("application/sdp", sdp)),
    )
}

/// An SDP offer with the given `m=` format list and rtpmaps.
pub fn sdp_offer(port: u16, formats: &str, rtpmaps: &[&str]) -> String {
    let mut s = format!(
        "v=0\r\no=tester 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n"
    );
    for m in rtpmaps {
        s.push_str(&format!("a=rtpmap:{m}\r\n"));
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    s
}

/// The status code of a response.
pub fn status(response: &str) -> Option<u16> {
    response.split_whitespace().nth(1)?.parse().ok()
}
