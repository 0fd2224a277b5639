//! The binary's hot-path self-check runs end to end and passes.

use std::process::Command;

#[test]
fn selfcheck_passes_every_check_and_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
        .args(["selfcheck", "--seconds", "4"])
        .output()
        .expect("run tenex-voice");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}", out.status);
    for check in [
        "uplink: lossy PCMU -> append events",
        "downlink: bursty deltas -> one PCMU per tick",
        "barge-in: flush -> truncate at ms heard",
        "resampler: 1 frame in -> 1 frame out, <= 5 ms",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.contains(check))
            .unwrap_or_else(|| panic!("no line for {check:?} in\n{stdout}"));
        assert!(line.contains("[ok  ]"), "{line}");
    }
    assert!(stdout.contains("all checks passed"));
    for step in [
        "uplink pcmu -> append pcm16",
        "downlink delta pcm16 -> pcmu",
        "jitter buffer push + pop",
    ] {
        assert!(stdout.contains(step), "no timing for {step}");
    }
}

#[test]
fn unknown_subcommands_are_rejected_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
        .arg("frobnicate")
        .output()
        .expect("run tenex-voice");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}
