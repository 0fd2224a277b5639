//! Webhooks end to end, on SQLite and Postgres: subscriptions through the API,
//! deliveries to a receiver on loopback verified with the `standardwebhooks`
//! crate, in event order per subscription, retried with the same `webhook-id`,
//! logged, replayed, signed with both secrets during a rotation, stopped by a
//! 410; private URLs refused unless allowed; and (last test) the `serve`
//! binary killed mid-delivery and restarted without losing an event.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::api::{Api, UNLIMITED, api_state, assert_error, assert_error_saying};
use common::calls::record;
use common::receiver::{Received, Receiver};
use serde_json::{Value, json};
use tenex_actors::call::CallStore;
use tenex_actors::sip::{CallChange, CallId, CallOutcome};
use tenex_voice::store::{CallBinding, DbCalls, Store};
use tenex_voice::webhooks::{Dispatcher, DispatcherConfig};

const WAIT: Duration = Duration::from_secs(20);
const T: i64 = 1_794_312_000_000;

fn fast() -> DispatcherConfig {
    DispatcherConfig {
        allow_private: true,
        timeout: Duration::from_secs(2),
        schedule: vec![Duration::from_millis(100), Duration::from_millis(200)],
        give_up_after: Duration::from_secs(3_600),
        tick: Duration::from_millis(50),
    }
}

async fn apis(name: &str) -> Vec<Api> {
    let mut out = Vec::new();
    for store in common::db::backends(name).await {
        out.push(
            api_state(store, |mut s| {
                s.rate_limit = UNLIMITED;
                s.with_private_webhooks(true)
            })
            .await,
        );
    }
    out
}

async fn ws(store: &Store) -> String {
    store.workspace_by_name("acme").await.expect("ws").id
}

fn binding(ws: &str) -> CallBinding {
    CallBinding {
        workspace: ws.to_owned(),
        objective: "qualify_for_demo".into(),
        ..CallBinding::default()
    }
}

/// An answered call, start to completion: call.started, call.ringing,
/// call.answered, call.ended, agent.run.completed.
async fn answered_call(store: &Store, ws: &str, id: u64) {
    answered_call_with(store, ws, id, false).await;
}

/// [`answered_call`], with a recording when `recorded` (then
/// `recording.ready` comes before `call.ended`).
async fn answered_call_with(store: &Store, ws: &str, id: u64, recorded: bool) {
    let b = binding(ws);
    let live = record(id, T, CallOutcome::Completed, false);
    for change in [
        CallChange::Started,
        CallChange::Ringing,
        CallChange::Answered,
    ] {
        store.record_call(&b, &live, change).await.expect("write");
    }
    let mut ended = record(id, T, CallOutcome::Completed, true);
    if recorded {
        ended.recording = Some(format!("/tmp/call-{id}.wav").into());
    }
    store
        .record_call(&b, &ended, CallChange::Ended)
        .await
        .expect("end");
    DbCalls(store.clone())
        .run_done(CallId(id))
        .await
        .expect("run done");
}

/// A call nobody answered: call.started, call.ringing, call.ended,
/// agent.run.completed.
async fn unanswered_call(store: &Store, ws: &str, id: u64) {
    let b = binding(ws);
    let r = record(id, T, CallOutcome::NoAnswer, true);
    for change in [CallChange::Started, CallChange::Ringing, CallChange::Ended] {
        store.record_call(&b, &r, change).await.expect("write");
    }
}

const ANSWERED: &[&str] = &[
    "call.started",
    "call.ringing",
    "call.answered",
    "call.ended",
    "agent.run.completed",
];
const UNANSWERED: &[&str] = &[
    "call.started",
    "call.ringing",
    "call.ended",
    "agent.run.completed",
];

fn verify(secret: &str, r: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .expect("secret")
        .verify(&r.body, &r.headers)
        .is_ok()
}

/// Distinct messages in the order they were first received.
fn messages(got: &[Received]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for r in got {
        if !out.iter().any(|(id, _, _)| *id == r.id()) {
            let call = r.json()["data"]["call_id"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            out.push((r.id(), r.kind(), call));
        }
    }
    out
}

async fn subscribe(api: &Api, url: &str, types: Value) -> Value {
    let (st, _, w) = api
        .call(
            "POST",
            "/webhooks",
            Some(&api.a),
            Some(json!({"url": url, "event_types": types})),
        )
        .await;
    assert_eq!(st, 201, "{w}");
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_in_order_retried_with_one_id_logged_and_replayed() {
    for api in apis("webhooks-order").await {
        let receiver = Receiver::start().await;
        let w = subscribe(&api, &receiver.url("/hooks/tenex"), json!([])).await;
        let secret = w["secret"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("whsec_"));
        let wid = w["id"].as_str().expect("id").to_owned();
        // The secret is shown once.
        let (_, _, shown) = api
            .call("GET", &format!("/webhooks/{wid}"), Some(&api.a), None)
            .await;
        assert_eq!(shown.get("secret"), None, "{shown}");
        assert_eq!(shown["enabled"], true);

        // The endpoint fails twice, then works.
        receiver.script(&[500, 503]);
        let dispatcher = Dispatcher::new(api.store.clone(), fast()).spawn();
        let ws = ws(&api.store).await;
        answered_call_with(&api.store, &ws, 1, true).await;
        unanswered_call(&api.store, &ws, 2).await;

        let got = receiver
            .wait(WAIT, |g| {
                messages(
                    &g.iter()
                        .filter(|r| r.answered == 200)
                        .cloned()
                        .collect::<Vec<_>>(),
                )
                .len()
                    == 10
            })
            .await;
        // Every request verifies with the subscription's secret.
        assert!(got.iter().all(|r| verify(&secret, r)));
        // Each event once, in the order the events happened.
        let m = messages(&got);
        let (c1, c2) = (CallId(1).to_string(), CallId(2).to_string());
        let recorded = [
            "call.started",
            "call.ringing",
            "call.answered",
            "recording.ready",
            "call.ended",
            "agent.run.completed",
        ];
        let want: Vec<(String, String)> = recorded
            .iter()
            .map(|k| (k.to_string(), c1.clone()))
            .chain(UNANSWERED.iter().map(|k| (k.to_string(), c2.clone())))
            .collect();
        let have: Vec<(String, String)> =
            m.iter().map(|(_, k, c)| (k.clone(), c.clone())).collect();
        assert_eq!(have, want);
        // The first one was tried three times with the same id, and nothing
        // after it went out before it was delivered.
        assert_eq!(got[0].id(), got[1].id());
        assert_eq!(got[1].id(), got[2].id());
        assert_eq!(
            got.iter().map(|r| r.answered).take(3).collect::<Vec<_>>(),
            [500, 503, 200]
        );
        let order: Vec<usize> = got
            .iter()
            .map(|r| {
                m.iter()
                    .position(|(id, _, _)| *id == r.id())
                    .expect("known")
            })
            .collect();
        assert!(order.windows(2).all(|p| p[0] <= p[1]), "{order:?}");
        // The body: type, timestamp, data.
        let done = got
            .iter()
            .find(|r| r.kind() == "agent.run.completed")
            .expect("done");
        let body = done.json();
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(body["data"]["outcome"], "unqualified");
        let ready = got
            .iter()
            .find(|r| r.kind() == "recording.ready")
            .expect("ready");
        assert_eq!(
            ready.json()["data"]["recording_url"],
            format!("/api/v1/voice/calls/{c1}/recording")
        );

        // The delivery log.
        let (st, _, log) = api
            .call(
                "GET",
                &format!("/webhooks/{wid}/deliveries"),
                Some(&api.a),
                None,
            )
            .await;
        assert_eq!(st, 200, "{log}");
        let rows = log["data"].as_array().expect("rows");
        assert_eq!(rows.len(), 10);
        assert!(
            rows.iter()
                .all(|d| d["status"] == "delivered" && d["last_status"] == 200)
        );
        let first = rows
            .iter()
            .find(|d| d["id"] == got[0].id().as_str())
            .expect("first message logged");
        assert_eq!(first["attempts"], 3);
        assert_eq!(first["event_type"], "call.started");

        // Replay: the same message again, same id.
        let (st, _, d) = api
            .call(
                "POST",
                &format!("/webhooks/deliveries/{}/replay", got[0].id()),
                Some(&api.a),
                None,
            )
            .await;
        assert_eq!(st, 202, "{d}");
        let n = got.len();
        let again = receiver.wait(WAIT, |g| g.len() > n).await;
        assert_eq!(again[n].id(), got[0].id());
        assert!(verify(&secret, &again[n]));

        // An endpoint that does not answer within the attempt's limit (2 s
        // here) gets the message again, same id, until it answers.
        receiver.hang_next();
        let before = again.len();
        unanswered_call(&api.store, &ws, 3).await;
        let slow = receiver
            .wait(WAIT, |g| {
                let after: Vec<Received> = g[before.min(g.len())..]
                    .iter()
                    .filter(|r| r.answered == 200)
                    .cloned()
                    .collect();
                messages(&after).len() == UNANSWERED.len()
            })
            .await;
        let first_slow = slow[before].id();
        assert_eq!(slow[before].answered, 0, "the first attempt got no answer");
        assert!(
            slow[before + 1..].iter().any(|r| r.id() == first_slow),
            "retried"
        );
        let (_, _, log) = api
            .call(
                "GET",
                &format!("/webhooks/{wid}/deliveries"),
                Some(&api.a),
                None,
            )
            .await;
        let timed_out = log["data"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|d| d["id"] == first_slow.as_str())
            .expect("logged");
        assert!(
            timed_out["attempts"].as_i64().is_some_and(|n| n >= 2),
            "{timed_out}"
        );
        assert_eq!(timed_out["status"], "delivered");

        // Another workspace sees none of it.
        for (method, path) in [
            ("GET", format!("/webhooks/{wid}")),
            ("GET", format!("/webhooks/{wid}/deliveries")),
            (
                "POST",
                format!("/webhooks/deliveries/{}/replay", got[0].id()),
            ),
            ("DELETE", format!("/webhooks/{wid}")),
        ] {
            let res = api.call(method, &path, Some(&api.b), None).await;
            assert_error(&res, 404, "not_found", None);
        }
        dispatcher.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_signs_with_both_secrets_and_a_410_disables_the_subscription() {
    for api in apis("webhooks-rotate").await {
        let receiver = Receiver::start().await;
        let w = subscribe(&api, &receiver.url("/h"), json!(["call.ended"])).await;
        let old = w["secret"].as_str().expect("secret").to_owned();
        let wid = w["id"].as_str().expect("id").to_owned();
        let dispatcher = Dispatcher::new(api.store.clone(), fast()).spawn();
        let ws = ws(&api.store).await;

        // Only the subscribed type arrives.
        answered_call(&api.store, &ws, 1).await;
        let got = receiver.wait(WAIT, |g| !g.is_empty()).await;
        assert_eq!(got[0].kind(), "call.ended");
        let sig = got[0].headers["webhook-signature"]
            .to_str()
            .expect("sig")
            .to_owned();
        assert_eq!(sig.split(' ').count(), 1);

        // Rotated: both secrets sign for the next 24 h.
        let (st, _, rotated) = api
            .call(
                "POST",
                &format!("/webhooks/{wid}/rotate-secret"),
                Some(&api.a),
                None,
            )
            .await;
        assert_eq!(st, 200, "{rotated}");
        let new = rotated["secret"].as_str().expect("new secret").to_owned();
        assert_ne!(new, old);
        let until = rotated["previous_secret_expires_at"]
            .as_i64()
            .expect("overlap");
        let day = until - tenex_voice::store::now_ms();
        assert!((86_000_000..=86_400_000).contains(&day), "{day}");
        answered_call(&api.store, &ws, 2).await;
        let got = receiver.wait(WAIT, |g| g.len() >= 2).await;
        let r = &got[1];
        assert_eq!(
            r.headers["webhook-signature"]
                .to_str()
                .expect("sig")
                .split(' ')
                .count(),
            2
        );
        assert!(verify(&new, r) && verify(&old, r), "both secrets verify");

        // 410 Gone: the subscription stops, visibly.
        receiver.script(&[410]);
        answered_call(&api.store, &ws, 3).await;
        receiver.wait(WAIT, |g| g.len() >= 3).await;
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        let disabled = loop {
            tick.tick().await;
            let (_, _, w) = api
                .call("GET", &format!("/webhooks/{wid}"), Some(&api.a), None)
                .await;
            if w["enabled"] == false {
                break w;
            }
        };
        assert!(
            disabled["disabled_reason"]
                .as_str()
                .is_some_and(|r| r.contains("410")),
            "{disabled}"
        );
        answered_call(&api.store, &ws, 4).await;
        // Re-enabled, it resumes where it stopped: call 4's end.
        let (st, _, w) = api
            .call(
                "PATCH",
                &format!("/webhooks/{wid}"),
                Some(&api.a),
                Some(json!({"enabled": true})),
            )
            .await;
        assert_eq!(st, 200, "{w}");
        assert_eq!(w["disabled_reason"], Value::Null);
        let got = receiver.wait(WAIT, |g| g.len() >= 4).await;
        assert_eq!(got[3].json()["data"]["call_id"], CallId(4).to_string());
        let (_, _, log) = api
            .call(
                "GET",
                &format!("/webhooks/{wid}/deliveries"),
                Some(&api.a),
                None,
            )
            .await;
        let statuses: Vec<&str> = log["data"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|d| d["status"].as_str())
            .collect();
        assert_eq!(statuses, ["delivered", "failed", "delivered", "delivered"]);
        dispatcher.abort();
    }
}

#[tokio::test]
async fn webhook_urls_are_http_and_public_unless_private_ones_are_allowed() {
    let strict = api_state(common::db::sqlite("webhooks-urls").await, |mut s| {
        s.rate_limit = UNLIMITED;
        s
    })
    .await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://localhost:9000/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
    ] {
        let res = strict
            .call(
                "POST",
                "/webhooks",
                Some(&strict.a),
                Some(json!({"url": url})),
            )
            .await;
        assert_error_saying(
            &res,
            422,
            "validation_error",
            Some("url"),
            "TENEX_WEBHOOK_ALLOW_PRIVATE",
        );
    }
    for url in [
        "ftp://hooks.example.com/x",
        "hooks.example.com",
        "https://user:pw@hooks.example.com/",
    ] {
        let res = strict
            .call(
                "POST",
                "/webhooks",
                Some(&strict.a),
                Some(json!({"url": url})),
            )
            .await;
        assert_error(&res, 422, "validation_error", Some("url"));
    }
    let res = strict
        .call(
            "POST",
            "/webhooks",
            Some(&strict.a),
            Some(json!({"url": "https://8.8.8.8/hook", "event_types": ["call.exploded"]})),
        )
        .await;
    assert_error(&res, 422, "validation_error", Some("event_types"));
    // A public address is accepted (nothing is sent here).
    let (st, _, w) = strict
        .call(
            "POST",
            "/webhooks",
            Some(&strict.a),
            Some(json!({"url": "https://8.8.8.8/hook", "event_types": ["call.ended"]})),
        )
        .await;
    assert_eq!(st, 201, "{w}");
    // PATCHing to a private URL is refused the same way.
    let res = strict
        .call(
            "PATCH",
            &format!("/webhooks/{}", w["id"].as_str().expect("id")),
            Some(&strict.a),
            Some(json!({"url": "http://192.168.1.10/"})),
        )
        .await;
    assert_error(&res, 422, "validation_error", Some("url"));

    let allowed = apis("webhooks-urls-allowed").await.remove(0);
    let (st, _, _) = allowed
        .call(
            "POST",
            "/webhooks",
            Some(&allowed.a),
            Some(json!({"url": "http://127.0.0.1:9000/hook"})),
        )
        .await;
    assert_eq!(st, 201);
}

/// A call to `lead`: answered with a verdict (`Some(qualified)`) and a
/// summary, or (`None`) not answered; then complete.
async fn lead_call(store: &Store, ws: &str, id: u64, lead: Option<&str>, verdict: Option<bool>) {
    let b = CallBinding {
        lead_id: lead.map(str::to_owned),
        ..binding(ws)
    };
    let outcome = match verdict {
        Some(_) => CallOutcome::Completed,
        None => CallOutcome::NoAnswer,
    };
    let live = record(id, T, outcome, false);
    store
        .record_call(&b, &live, CallChange::Started)
        .await
        .expect("start");
    let calls = DbCalls(store.clone());
    if let Some(q) = verdict {
        store
            .record_call(&b, &live, CallChange::Answered)
            .await
            .expect("answer");
        calls
            .verdict(CallId(id), 3, common::calls::verdict(q))
            .await
            .expect("verdict");
        calls
            .summary(CallId(id), format!("Call {id}."))
            .await
            .expect("summary");
    }
    let ended = record(id, T, outcome, true);
    store
        .record_call(&b, &ended, CallChange::Ended)
        .await
        .expect("end");
    calls.run_done(CallId(id)).await.expect("run done");
}

async fn crm_writeback(api: &Api, id: u64) -> Value {
    let path = format!("/calls/{}", CallId(id));
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    for _ in 0..800 {
        tick.tick().await;
        let (_, _, call) = api.call("GET", &path, Some(&api.a), None).await;
        if call["crm_writeback"] == "delivered" || call["crm_writeback"] == "failed" {
            return call["crm_writeback"].clone();
        }
    }
    panic!("call {id}'s CRM write-back never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crm_connector_writes_each_completed_call_once_and_reports_failures() {
    for api in apis("crm-connector").await {
        let crm = Receiver::start().await;
        let hooks = Receiver::start().await;
        let sub = subscribe(&api, &hooks.url("/h"), json!(["crm.writeback.failed"])).await;
        let secret = sub["secret"].as_str().expect("secret").to_owned();
        let (st, _, lead) = api
            .call(
                "POST",
                "/leads",
                Some(&api.a),
                Some(json!({"name": "Dana Reyes", "phone": "+13125550142",
                    "custom": {"hubspot_id": "hs-42"}})),
            )
            .await;
        assert_eq!(st, 201, "{lead}");
        let lead = lead["id"].as_str().expect("lead").to_owned();
        let config = json!({
            "url": crm.url("/contacts/{custom.hubspot_id}"),
            "auth_header": {"name": "Authorization", "value": "Bearer crm-key-123"},
            "fields": {"hs_lead_status": "status", "tenex_score": "score", "notes": "summary"}
        });
        let (st, _, c) = api
            .call("PUT", "/crm-connector", Some(&api.a), Some(config))
            .await;
        assert_eq!(st, 200, "{c}");
        assert_eq!(c["method"], "PATCH");
        assert_eq!(c["auth_header_name"], "Authorization");
        let (_, _, shown) = api.call("GET", "/crm-connector", Some(&api.a), None).await;
        assert_eq!(shown, c);
        assert!(
            !shown.to_string().contains("crm-key-123"),
            "the auth value is write-only"
        );
        // The connector is not a webhook subscription.
        let (_, _, subs) = api.call("GET", "/webhooks", Some(&api.a), None).await;
        assert_eq!(subs["data"].as_array().map(Vec::len), Some(1), "{subs}");

        let mut cfg = fast();
        cfg.give_up_after = Duration::from_secs(1);
        let dispatcher = Dispatcher::new(api.store.clone(), cfg).spawn();
        let ws = ws(&api.store).await;

        // A qualified call: its verdict goes to the CRM as mapped.
        lead_call(&api.store, &ws, 1, Some(&lead), Some(true)).await;
        let got = crm.wait(WAIT, |g| !g.is_empty()).await;
        let first = &got[0];
        assert_eq!(first.method, "PATCH");
        assert_eq!(first.uri.path(), "/contacts/hs-42");
        assert_eq!(first.headers["authorization"], "Bearer crm-key-123");
        assert_eq!(
            first.headers["idempotency-key"],
            CallId(1).to_string().as_str()
        );
        assert_eq!(
            first.json(),
            json!({"hs_lead_status": "qualified", "tenex_score": 85, "notes": "Call 1."})
        );
        assert_eq!(crm_writeback(&api, 1).await, "delivered");

        // Replayed completion writes nothing twice; a call without a lead
        // writes nothing; the next call with the lead is written.
        DbCalls(api.store.clone())
            .run_done(CallId(1))
            .await
            .expect("again");
        lead_call(&api.store, &ws, 2, None, Some(false)).await;
        lead_call(&api.store, &ws, 3, Some(&lead), None).await;
        let got = crm.wait(WAIT, |g| g.len() >= 2).await;
        let keys: Vec<String> = got
            .iter()
            .map(|r| {
                r.headers["idempotency-key"]
                    .to_str()
                    .expect("key")
                    .to_owned()
            })
            .collect();
        assert_eq!(keys, [CallId(1).to_string(), CallId(3).to_string()]);
        // Not answered: the lead keeps what the first call established.
        assert_eq!(got[1].json()["hs_lead_status"], "qualified");
        let (_, _, call2) = api
            .call("GET", &format!("/calls/{}", CallId(2)), Some(&api.a), None)
            .await;
        assert_eq!(call2["crm_writeback"], Value::Null);

        // The CRM refuses one (422: not retried), then fails another until
        // retries are over: each call shows it, and each sends the
        // crm.writeback.failed webhook.
        crm.script(&[422]);
        lead_call(&api.store, &ws, 4, Some(&lead), Some(false)).await;
        assert_eq!(crm_writeback(&api, 4).await, "failed");
        crm.script(&[503; 40]);
        lead_call(&api.store, &ws, 5, Some(&lead), Some(true)).await;
        assert_eq!(crm_writeback(&api, 5).await, "failed");
        let tries = crm
            .received()
            .iter()
            .filter(|r| r.headers["idempotency-key"] == CallId(5).to_string().as_str())
            .count();
        assert!(tries >= 3, "retried before giving up: {tries}");
        let failed = hooks.wait(WAIT, |g| g.len() >= 2).await;
        assert!(failed.iter().all(|r| verify(&secret, r)));
        let failed: Vec<(String, Value)> = failed
            .iter()
            .map(|r| (r.kind(), r.json()["data"]["call_id"].clone()))
            .collect();
        assert_eq!(
            failed,
            [
                (
                    "crm.writeback.failed".to_owned(),
                    json!(CallId(4).to_string())
                ),
                (
                    "crm.writeback.failed".to_owned(),
                    json!(CallId(5).to_string())
                ),
            ]
        );

        // Removed: later calls are not written.
        let (st, _, _) = api
            .call("DELETE", "/crm-connector", Some(&api.a), None)
            .await;
        assert_eq!(st, 204);
        let (st, _, _) = api.call("GET", "/crm-connector", Some(&api.a), None).await;
        assert_eq!(st, 404);
        dispatcher.abort();
    }
}

/// Starts `tenex-voice serve` on the data directory `dir`.
fn serve(dir: &std::path::Path, http: std::net::SocketAddr) -> tokio::process::Child {
    let ports = common::rtp_range(2);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
        .arg("serve")
        .env(
            "TENEX_SIP_ADDR",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("TENEX_HTTP_ADDR", http.to_string())
        .env("TENEX_DATA_DIR", dir)
        .env("TENEX_RTP_PORTS", format!("{}-{}", ports.first, ports.last))
        .env("TENEX_WEBHOOK_ALLOW_PRIVATE", "1")
        .env("TENEX_WEBHOOK_TIMEOUT_S", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tenex-voice serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_engine_mid_delivery_loses_nothing() {
    let dir = common::scratch_dir("webhooks-kill");
    let store = Store::open_data_dir(&dir).await.expect("store");
    let ws = store.create_workspace("acme").await.expect("ws").id;
    let receiver = Receiver::start().await;
    let secret = tenex_voice::webhooks::new_secret().expect("secret");
    let sub = tenex_voice::store::NewWebhook {
        url: receiver.url("/h"),
        event_types: Vec::new(),
        enabled: true,
    };
    store
        .create_webhook(&ws, &sub, &secret)
        .await
        .expect("webhook");
    // The endpoint never answers the first request.
    receiver.hang_next();
    let http = std::net::SocketAddr::new(common::LOCALHOST, common::free_port());
    let mut engine = serve(&dir, http);

    // Events committed to the database (as by another node, which the engine
    // reads within its 1 s pass).
    for id in 1..=3 {
        answered_call(&store, &ws, id).await;
    }
    let first = receiver.wait(WAIT, |g| !g.is_empty()).await;
    // Killed while that request is in flight.
    engine.kill().await.expect("kill");
    let _ = engine.wait().await;
    // More happens while it is down.
    unanswered_call(&store, &ws, 4).await;

    let mut engine = serve(&dir, http);
    let total = 3 * ANSWERED.len() + UNANSWERED.len();
    let got = receiver
        .wait(Duration::from_secs(60), |g| {
            messages(
                &g.iter()
                    .filter(|r| r.answered == 200)
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .len()
                == total
        })
        .await;
    engine.kill().await.expect("kill");

    // Every event arrived, verified; the interrupted one again with its id.
    assert!(got.iter().all(|r| verify(&secret, r)));
    let m = messages(&got);
    assert_eq!(m.len(), total);
    assert_eq!(m[0].0, first[0].id());
    assert!(got.iter().filter(|r| r.id() == first[0].id()).count() >= 2);
    let mut want = Vec::new();
    for id in 1..=3 {
        want.extend(
            ANSWERED
                .iter()
                .map(|k| (k.to_string(), CallId(id).to_string())),
        );
    }
    want.extend(
        UNANSWERED
            .iter()
            .map(|k| (k.to_string(), CallId(4).to_string())),
    );
    let have: Vec<(String, String)> = m.into_iter().map(|(_, k, c)| (k, c)).collect();
    assert_eq!(have, want, "every event, in order");
}
