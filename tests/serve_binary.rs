//! The `tenex-voice serve` binary: listens where told, answers a real call,
//! and drains and exits cleanly on SIGTERM.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{
    LOCALHOST, Sipp, eventually, free_port, request, rtp_range, sip_exchange, status, uac_args,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_calls_and_drains_on_sigterm() {
    let port = free_port();
    let addr = std::net::SocketAddr::new(LOCALHOST, port);
    let ports = rtp_range(4);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
        .arg("serve")
        .env("TENEX_SIP_ADDR", addr.to_string())
        .env("TENEX_RTP_PORTS", format!("{}-{}", ports.first, ports.last))
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
