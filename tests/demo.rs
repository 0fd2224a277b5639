//! `tenex-voice demo` end to end, as the binary a newcomer runs: the campaign
//! completes with every check passed, `--keep-running` leaves the API up with
//! the printed key, and a demo that cannot finish says so and fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn demo(args: &[&str], dir: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
        .arg("demo")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tenex-voice demo")
}

/// Kills the demo if the test fails before it ends (a `--keep-running` demo
/// would otherwise outlive the test).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tenex-demo-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A GET with the bearer key over a fresh connection: (status, body).
fn get(base: &str, path: &str, key: &str) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[test]
fn the_demo_runs_a_campaign_and_keep_running_leaves_the_api_up() {
    let dir = scratch("keep");
    let mut child = KillOnDrop(demo(&["--keep-running"], &dir));
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let (mut url, mut key) = (None, None);
    while key.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(240))
            .unwrap_or_else(|_| panic!("the demo stopped talking: {lines:#?}"));
        if let Some(u) = line.trim().strip_prefix("export TENEX_URL=") {
            url = Some(u.to_owned());
        }
        if let Some(k) = line.trim().strip_prefix("export TENEX_KEY=") {
            key = Some(k.to_owned());
        }
        lines.push(line);
    }
    let text = lines.join("\n");
    for expected in [
        "Dan Okafor  qualified",
        "Tom Reilly  unqualified",
        "Priya Shah  no-answer",
        "calls 3  connected 2  connect rate 67%  qualified 1  qualified rate 50%",
        "with a valid signature",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    // The live transcript went by, both sides.
    assert!(
        text.contains("agent: Hi Dan, this is Marin from Tenex."),
        "{text}"
    );
    assert!(
        text.contains("caller: Yes, tomorrow at ten works for me."),
        "{text}"
    );

    // Still up: the printed key reads the campaign's calls.
    let url = url.expect("TENEX_URL printed");
    let key = key.expect("TENEX_KEY printed");
    let base = url.trim_end_matches("/api/v1/voice");
    let (status, body) = get(base, "/api/v1/voice/calls", &key);
    assert_eq!(status, 200, "{body}");
    let calls: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(calls["data"].as_array().map(Vec::len), Some(3), "{calls}");
    assert_eq!(get(base, "/api/v1/voice/calls", "tnx_wrong").0, 401);
    let recordings = std::fs::read_dir(dir.join("recordings"))
        .expect("recordings directory")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "wav"))
        })
        .count();
    assert_eq!(recordings, 2, "one recording per answered call");

    // Ctrl-C ends it; the exit status is the campaign's.
    let pid = child.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.0.wait().expect("wait");
    let mut rest = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        rest.push(line);
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "{status}: {rest:#?}\n{stderr}");
    assert!(
        rest.iter()
            .any(|l| l.contains("every step happened as expected")),
        "{rest:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_demo_that_cannot_finish_in_time_fails_and_says_why() {
    let dir = scratch("late");
    let child = demo(&["--timeout-s", "3"], &dir);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the campaign did not complete within 3 s"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
