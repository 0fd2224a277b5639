//! The `tenex-voice serve` binary: listens where told, answers a real call,
//! and drains and exits cleanly on SIGTERM.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{
    LOCALHOST, Sipp, eventually, free_port, http_get, request, rtp_range, sip_exchange, status,
    uac_args,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_calls_and_drains_on_sigterm() {
    let port = free_port();
    let addr = std::net::SocketAddr::new(LOCALHOST, port);
    let http = std::net::SocketAddr::new(LOCALHOST, free_port());
    let ports = rtp_range(4);
    let data = common::scratch_dir("serve-data");
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
        .args(["keys", "create", "--workspace", "acme"])
        .env("TENEX_DATA_DIR", &data)
        .output()
        .expect("keys create");
    assert!(created.status.success(), "{created:?}");
    let key = String::from_utf8_lossy(&created.stdout)
        .lines()
        .next()
        .expect("the key")
        .to_owned();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
        .arg("serve")
        .env("TENEX_SIP_ADDR", addr.to_string())
        .env("TENEX_HTTP_ADDR", http.to_string())
        .env("TENEX_DATA_DIR", &data)
        .env("TENEX_RTP_PORTS", format!("{}-{}", ports.first, ports.last))
        .env(
            "TENEX_MCP_ALLOWED_HOSTS",
            "voice.example.com,voice.internal",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tenex-voice serve");
    let up = eventually(Duration::from_secs(10), || {
        sip_exchange(
            LOCALHOST,
            addr,
            &request("OPTIONS", "ping", addr, "serve1", None, None),
            Duration::from_millis(200),
        )
        .as_deref()
        .and_then(status)
            == Some(200)
    })
    .await;
    assert!(up, "serve did not answer OPTIONS on {addr}");
    let run = Sipp::scenario("uac_dtmf")
        .args(uac_args(addr, "echo"))
        .args(["-m", "1", "-timeout", "20s"])
        .run()
        .await;
    assert!(run.all_ok(1), "{run:?}");
    let metrics = http_get(http, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("\ntenex_active_calls 0\n"), "{metrics}");
    let total: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tenex_rtp_ports_total "))
        .and_then(|v| v.parse().ok())
        .expect("port pool gauge");
    assert!(total > 0, "{metrics}");
    assert!(metrics.contains("# TYPE tenex_greeting_latency_seconds histogram"));
    // /mcp answers the hosts configured in TENEX_MCP_ALLOWED_HOSTS and
    // refuses others with 403.
    for (host, expected) in [
        ("voice.example.com", "HTTP/1.1 200"),
        ("voice.internal:8080", "HTTP/1.1 200"),
        ("evil.example", "HTTP/1.1 403"),
    ] {
        let answer = mcp_list_tools(http, host, &key);
        assert!(answer.starts_with(expected), "Host {host}: {answer}");
    }
    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
}

/// A `tools/list` POST to `/mcp` naming `host`, with `key`; the raw answer.
fn mcp_list_tools(addr: std::net::SocketAddr, host: &str, key: &str) -> String {
    use std::io::{Read, Write};
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let mut s = std::net::TcpStream::connect(addr).expect("connect HTTP");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read HTTP response");
    out
}
