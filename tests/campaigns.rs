//! Outbound campaigns end to end: a batch started over the API, dialed by the
//! durable dialer through the SIP engine to SIPp playing the leads' phones
//! (`uas_campaign`: the number's last digit picks answer, busy or ring
//! forever), with the simulator as the agent.

mod common;

use std::time::Duration;

use common::agent::{CALLER_AT, caller_audio};
use common::host::{Rig, rig};
use common::receiver::Receiver;
use common::{Sipp, free_port, scratch_dir, uas_args, udp_listening};
use serde_json::{Value, json};
use tenex_media::g711::G711Law;
use tenex_voice::dialer::{Dialer, DialerConfig};
use tenex_voice::webhooks::{Dispatcher, DispatcherConfig};

const ANSWERS: &str = "+13125550101";
const BUSY: &str = "+13125550102";
const RINGS: &str = "+13125550103";
const LISTED: &str = "+13125550111";
const ASLEEP: &str = "+13125550121";

/// An `Etc/GMT…` zone whose local hour is `want` now (UTC hours `h`).
fn zone_at_local_hour(want: i64) -> String {
    let h = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour() as i64;
    let mut o = want - h;
    if o < -12 {
        o += 24;
    }
    if o > 14 {
        o -= 24;
    }
    // POSIX-style names: Etc/GMT-5 is five hours ahead of UTC.
    match o {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

fn dialer(rig: &Rig) -> tokio::task::JoinHandle<()> {
    Dialer {
        store: rig.api.store.clone(),
        apps: rig.router.apps.clone(),
        engine: rig.engine.handle(),
        config: DialerConfig {
            tick: Duration::from_millis(100),
            ..DialerConfig::default()
        },
    }
    .spawn()
}

/// What the phones' log says: the numbers called (one entry per INVITE), the
/// most calls that were up at once, and how many calls never ended (a leg
/// orphaned by a killed engine: the phone rings on, and is not counted up).
fn phone_log(path: &std::path::Path) -> (Vec<String>, i32, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let ended: std::collections::HashSet<&str> = lines
        .iter()
        .filter(|f| f.first() == Some(&"end"))
        .filter_map(|f| f.get(2).copied())
        .collect();
    let (mut called, mut up, mut peak, mut orphans) = (Vec::new(), 0, 0, 0);
    for f in &lines {
        let id = f.get(2).copied().unwrap_or_default();
        match f.first().copied() {
            Some("start") => {
                called.push(f.get(3).copied().unwrap_or_default().to_owned());
                if ended.contains(id) {
                    up += 1;
                    peak = peak.max(up);
                } else {
                    orphans += 1;
                }
            }
            Some("end") => up -= 1,
            _ => {}
        }
    }
    (called, peak, orphans)
}

/// SIPp as the leads' phones on a free port (`uas_campaign`), handling
/// `calls` calls and logging them to `log`; returns the port once it listens.
async fn phones(
    calls: u32,
    log: &std::path::Path,
    timeout: &str,
) -> (u16, tokio::task::JoinHandle<common::SippRun>) {
    let port = free_port();
    let run = tokio::spawn(
        Sipp::scenario("uas_campaign")
            .args(uas_args(port, timeout))
            .args(["-m".to_owned(), calls.to_string(), "-trace_logs".to_owned()])
            .args(["-log_file".to_owned(), log.to_string_lossy().into_owned()])
            .pcap_audio("caller.pcap", G711Law::Ulaw, caller_audio(16.0, &CALLER_AT))
            .deadline(Duration::from_secs(100))
            .run(),
    );
    assert!(udp_listening(port).await, "the phones are up");
    (port, run)
}

/// An agent and the workspace's trunk to the phones on `port` (`limits`:
/// extra trunk fields); the agent.
async fn agent_and_trunk(rig: &Rig, port: u16, limits: Value) -> Value {
    let agent = rig
        .post(
            "/agents",
            json!({"name": "Ada", "system_prompt": "You are Ada."}),
        )
        .await;
    let mut trunk = json!({"name": "carrier", "outbound": {"host": "127.0.0.1", "port": port},
                           "caller_id": "+15550001111"});
    if let (Some(t), Some(extra)) = (trunk.as_object_mut(), limits.as_object()) {
        t.extend(extra.clone());
    }
    rig.post("/trunks", trunk).await;
    agent
}

async fn results_when(rig: &Rig, batch: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut last = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    for _ in 0..450 {
        tick.tick().await;
        rig.sink.flush().await;
        last = rig.get(&format!("/batches/{batch}/results")).await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if done(&last) {
            return last;
        }
    }
    panic!("batch {batch} did not get there: {last:#?}");
}

fn of<'a>(results: &'a [Value], lead: &Value) -> &'a Value {
    results
        .iter()
        .find(|r| r["lead_id"] == *lead)
        .expect("the lead's result")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_calls_each_lead_by_its_rules_and_reports_per_lead() {
    let rig = rig("campaign").await;
    let log = scratch_dir("campaign-phones").join("phones.log");
    // Five INVITEs are expected: the answering lead once, the busy and the
    // ringing ones twice (max_attempts 2); the listed and the sleeping lead never.
    let (port, phones) = phones(5, &log, "90s").await;
    let agent = agent_and_trunk(&rig, port, json!({})).await;
    let rx = Receiver::start().await;
    let (st, _, hook) = rig
        .api
        .call(
            "POST",
            "/webhooks",
            Some(&rig.api.a),
            Some(json!({"url": rx.url("/hook"), "event_types": ["batch.completed"]})),
        )
        .await;
    assert_eq!(st, 201, "{hook}");
    // The workspace's external CRM: each completed call with a lead is written
    // to the lead's contact there.
    let crm = Receiver::start().await;
    let (st, _, connector) = rig
        .api
        .call(
            "PUT",
            "/crm-connector",
            Some(&rig.api.a),
            Some(json!({"url": crm.url("/contacts/{lead_id}")})),
        )
        .await;
    assert_eq!(st, 200, "{connector}");
    let _webhooks = Dispatcher::new(
        rig.api.store.clone(),
        DispatcherConfig {
            allow_private: true,
            tick: Duration::from_millis(50),
            ..DispatcherConfig::default()
        },
    )
    .spawn();
    // Everyone but the sleeping lead is at noon; the sleeping lead is at 03:00.
    let day = zone_at_local_hour(12);
    let night = zone_at_local_hour(3);
    let mut leads = Vec::new();
    for (name, phone, tz) in [
        ("Ann Answers", ANSWERS, &day),
        ("Bo Busy", BUSY, &day),
        ("Cy Rings", RINGS, &day),
        ("Di Listed", LISTED, &day),
        ("Ed Asleep", ASLEEP, &night),
    ] {
        leads.push(
            rig.post(
                "/leads",
                json!({"name": name, "phone": phone, "timezone": tz}),
            )
            .await["id"]
                .clone(),
        );
    }
    let [ann, bo, cy, di, ed] = [0, 1, 2, 3, 4].map(|i| leads[i].clone());

    let mut lead_ids = leads.clone();
    lead_ids.push(json!("lead_doesnotexist"));
    lead_ids.push(ann.clone());
    let body = json!({
        "lead_ids": lead_ids, "objective": "qualify_for_demo", "agent_id": agent["id"],
        "concurrency": 2, "calls_per_second": 5, "ring_timeout_s": 5,
        "retry": {"max_attempts": 2, "on": ["no-answer", "busy"], "backoff_minutes": 0.05},
        "window": {"start": "09:00", "end": "20:00",
                   "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
    });
    let post = |body: Value, key: &'static str| {
        let api = &rig.api;
        async move {
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/api/v1/voice/batches")
                .header("authorization", format!("Bearer {}", api.a))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(axum::body::Body::from(body.to_string()))
                .expect("request");
            api.send(req).await
        }
    };
    let (st, _, created) = post(body.clone(), "campaign-1").await;
    assert_eq!(st, 202, "{created}");
    let batch = created["call_batch_id"].as_str().expect("id").to_owned();
    assert_eq!(created["queued"], 5);
    assert_eq!(
        created["rejected"],
        json!([
            {"lead_id": "lead_doesnotexist", "reason": "not_found", "message": "no such lead"},
            {"lead_id": ann, "reason": "duplicate", "message": "listed more than once"},
        ])
    );
    // A retried POST gets the same batch; the same key on another request is refused.
    let (st, _, again) = post(body.clone(), "campaign-1").await;
    assert_eq!((st.as_u16(), &again["call_batch_id"]), (200, &json!(batch)));
    let mut other = body.clone();
    other["concurrency"] = json!(3);
    let refused = post(other, "campaign-1").await;
    common::api::assert_error(&refused, 409, "conflict", None);

    // A lead listed after it was queued is still never dialed: the list is
    // checked at dial time.
    rig.post("/dnc", json!({"phone": LISTED, "reason": "asked"}))
        .await;
    // Dialing starts once a node's dialer runs.
    let dialer = dialer(&rig);
    let results = results_when(&rig, &batch, |r| {
        r.len() == 5 && r.iter().filter(|x| x["state"] == "done").count() == 4
    })
    .await;
    let run = phones.await.expect("sipp");
    assert!(run.all_ok(5), "the phones: {run:?}");
    let (called, peak, orphans) = phone_log(&log);
    assert_eq!(orphans, 0);
    let count = |n: &str| called.iter().filter(|c| c.as_str() == n).count();
    assert_eq!(
        [ANSWERS, BUSY, RINGS, LISTED, ASLEEP].map(count),
        [1, 2, 2, 0, 0],
        "INVITEs per number: {called:?}"
    );
    assert_eq!(
        peak, 2,
        "at most the batch's concurrency (2) at once, and reached"
    );

    // New calls at most 5 a second: 200 ms apart (less a little for the time
    // between the claim and the stored call).
    let mut created: Vec<i64> = rig.get(&format!("/calls?batch_id={batch}")).await["data"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["created_at"].as_i64()).collect())
        .unwrap_or_default();
    created.sort();
    assert_eq!(created.len(), 5);
    for w in created.windows(2) {
        assert!(w[1] - w[0] >= 180, "calls {}ms apart", w[1] - w[0]);
    }

    let r = |lead: &Value| of(&results, lead).clone();
    assert_eq!(r(&ann)["outcome"], "qualified", "{:#}", r(&ann));
    assert_eq!(r(&ann)["attempts"], 1);
    assert_eq!(r(&ann)["qualified"], true);
    assert!(r(&ann)["summary"].is_string());
    assert_eq!(r(&ann)["call_ids"].as_array().map(Vec::len), Some(1));
    for (lead, outcome) in [(&bo, "busy"), (&cy, "no-answer")] {
        assert_eq!(
            (&r(lead)["state"], &r(lead)["outcome"], &r(lead)["attempts"]),
            (&json!("done"), &json!(outcome), &json!(2)),
            "{:#}",
            r(lead)
        );
    }
    assert_eq!(
        (&r(&di)["state"], &r(&di)["outcome"], &r(&di)["attempts"]),
        (&json!("done"), &json!("dnc"), &json!(0))
    );
    // The sleeping lead waits for 09:00 in its own zone.
    let tz = jiff::tz::TimeZone::get(&night).expect("zone");
    let local = jiff::Timestamp::now().to_zoned(tz.clone());
    let opening = local
        .date()
        .to_datetime(jiff::civil::time(9, 0, 0, 0))
        .to_zoned(tz)
        .expect("opening")
        .timestamp()
        .as_millisecond();
    assert_eq!(
        (&r(&ed)["state"], &r(&ed)["waiting"], &r(&ed)["attempts"]),
        (&json!("queued"), &json!("window"), &json!(0))
    );
    assert_eq!(r(&ed)["next_attempt_at"], opening, "{:#}", r(&ed));

    // The retries came after the backoff (3 s) from the previous attempt's end.
    for lead in [&bo, &cy] {
        let lead_id = lead.as_str().expect("id");
        let calls = rig
            .get(&format!("/calls?batch_id={batch}&lead_id={lead_id}"))
            .await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let (second, first) = (&calls[0], &calls[1]);
        let gap =
            second["created_at"].as_i64().expect("t") - first["ended_at"].as_i64().expect("t");
        assert!(
            (3_000..20_000).contains(&gap),
            "retry {gap} ms after the first attempt ended"
        );
    }

    let status = rig.get(&format!("/batches/{batch}")).await;
    assert_eq!(status["status"], "running", "{status:#}");
    assert_eq!(
        status["counts"],
        json!({"qualified": 1, "busy": 1, "no-answer": 1, "dnc": 1})
    );
    assert_eq!(
        status["progress"],
        json!({"total": 5, "queued": 1, "waiting_for_window": 1, "dialing": 0, "done": 4,
               "attempts": 5, "fraction": 0.8})
    );

    // The objective template shaped the agent's instructions and its verdict:
    // submit_qualification must fill budget, authority, need and timeline.
    let sent: Vec<Value> = std::fs::read_to_string(&rig.record)
        .expect("client events")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let update = sent
        .iter()
        .find(|e| e["type"] == "session.update")
        .expect("session.update");
    assert!(
        update["session"]["instructions"]
            .as_str()
            .is_some_and(|i| i.contains("budget, who decides (authority)")),
        "{update:#}"
    );
    let verdict_tool = update["session"]["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "submit_qualification"))
        .expect("submit_qualification");
    let required = verdict_tool["parameters"]["required"]
        .as_array()
        .expect("required");
    for field in [
        "budget",
        "authority",
        "need",
        "timeline",
        "qualified",
        "score",
    ] {
        assert!(
            required.iter().any(|r| r == field),
            "{field}: {verdict_tool:#}"
        );
    }

    // The answered lead's CRM record has the verdict; the unreachable ones say so.
    let ann_id = ann.as_str().expect("id");
    let lead = rig.get(&format!("/leads/{ann_id}")).await;
    assert!(
        ["qualified", "meeting_booked"].contains(&lead["status"].as_str().unwrap_or_default()),
        "{lead:#}"
    );
    assert_eq!(lead["latest_verdict"]["call_id"], r(&ann)["call_ids"][0]);
    let bo_id = bo.as_str().expect("id");
    assert_eq!(
        rig.get(&format!("/leads/{bo_id}")).await["status"],
        "unreachable"
    );
    // It talked until the agent's verdict and hang-up.
    let ann_call_id = r(&ann)["call_ids"][0].as_str().expect("call").to_owned();
    let ann_call = rig.get(&format!("/calls/{ann_call_id}")).await;
    let tools: Vec<&str> = ann_call["tool_calls"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        tools.last().copied(),
        Some("end_call"),
        "{:#}",
        ann_call["tool_calls"]
    );
    assert!(tools.contains(&"submit_qualification"), "{tools:?}");
    assert_eq!(ann_call["verdict"]["qualified"], true, "{ann_call:#}");
    // The external CRM got every call, each once (keyed by the call), and the
    // answered lead's contact got its verdict.
    let written = crm
        .wait(Duration::from_secs(20), |got| got.len() >= 5)
        .await;
    let mut keys: Vec<String> = written
        .iter()
        .map(|w| {
            w.headers["idempotency-key"]
                .to_str()
                .expect("key")
                .to_owned()
        })
        .collect();
    keys.sort();
    let mut call_ids: Vec<String> = rig.get(&format!("/calls?batch_id={batch}")).await["data"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    call_ids.sort();
    assert_eq!(keys, call_ids);
    let ann_write = written
        .iter()
        .find(|w| w.uri.path() == format!("/contacts/{}", ann.as_str().expect("id")))
        .expect("the answered lead's contact was written");
    let body = ann_write.json();
    assert_eq!(
        (&body["call_id"], &body["outcome"], &body["qualified"]),
        (&json!(ann_call_id), &json!("qualified"), &json!(true)),
        "{body:#}"
    );
    assert_eq!(body["score"], ann_call["verdict"]["score"], "{body:#}");
    assert!(body["summary"].is_string(), "{body:#}");

    // The same results over MCP, through the official SDK's client.
    let addr = common::mcp::serve(tenex_voice::api::ApiState::new(rig.api.store.clone())).await;
    let url = format!("http://{addr}/mcp");
    let fay = rig
        .post(
            "/leads",
            json!({"name": "Fay Asleep", "phone": "+13125550131", "timezone": night}),
        )
        .await["id"]
        .clone();
    let steps = json!([
        {"list_tools": true},
        {"call": "get_call_results", "arguments": {"call_batch_id": batch}},
        {"call": "run_voice_qualifier",
         "arguments": {"lead_ids": [fay, ed, "lead_nope"], "objective": "qualify_for_demo"}},
        {"call": "run_voice_qualifier", "arguments": {"lead_ids": [], "objective": "x"}},
        {"call": "get_call_results", "arguments": {"call_batch_id": "batch_nope"}},
    ]);
    let mcp = common::mcp::client(&url, &rig.api.a, &steps)
        .await
        .expect("the MCP client ran");
    assert_eq!(mcp["server"]["name"], "tenex-voice");
    let tools = &mcp["results"][0]["tools"];
    let tool = |name: &str| {
        tools
            .as_array()
            .and_then(|t| t.iter().find(|x| x["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("tool {name} listed: {tools:#}"))
    };
    let run_tool = tool("run_voice_qualifier");
    assert!(
        run_tool["description"]
            .as_str()
            .is_some_and(|d| d.contains("asynchronously"))
    );
    assert_eq!(
        run_tool["inputSchema"]["required"],
        json!(["lead_ids", "objective"])
    );
    assert!(
        run_tool["inputSchema"]["properties"]["lead_ids"]["description"].is_string(),
        "{run_tool:#}"
    );
    assert_eq!(
        tool("get_call_results")["inputSchema"]["required"],
        json!(["call_batch_id"])
    );
    let over_mcp = &mcp["results"][1];
    assert_eq!(over_mcp["is_error"], false, "{over_mcp:#}");
    let s = &over_mcp["structured"];
    assert_eq!(s["status"], "running");
    assert_eq!(s["counts"], status["counts"]);
    let ann_mcp = s["results"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["lead_id"] == ann))
        .expect("ann over MCP");
    assert_eq!(ann_mcp["outcome"], "qualified");
    assert_eq!(ann_mcp["qualified"], true);
    assert_eq!(ann_mcp["call_id"], r(&ann)["call_ids"][0]);
    let line = ann_mcp["summary"].as_str().expect("summary");
    assert!(!line.contains('\n') && line.len() <= 160 * 4, "{line}");
    assert!(
        ann_mcp.get("transcript").is_none(),
        "transcripts stay behind REST"
    );
    let ed_mcp = s["results"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["lead_id"] == ed))
        .expect("ed over MCP");
    assert_eq!(ed_mcp["outcome"], Value::Null, "pending: {ed_mcp}");
    let started = &mcp["results"][2];
    assert_eq!(started["is_error"], false, "{started:#}");
    assert_eq!(started["structured"]["queued"], 1);
    let reasons: Vec<&Value> = started["structured"]["rejected"]
        .as_array()
        .map(|r| r.iter().map(|x| &x["reason"]).collect())
        .unwrap_or_default();
    assert_eq!(
        reasons,
        [&json!("in_active_batch"), &json!("not_found")],
        "the sleeping lead is still the first batch's: {started:#}"
    );
    let second = started["structured"]["call_batch_id"]
        .as_str()
        .expect("batch id")
        .to_owned();
    let second_batch = rig.get(&format!("/batches/{second}")).await;
    assert_eq!(second_batch["objective"], "qualify_for_demo");
    assert_eq!(second_batch["agent_id"], agent["id"]);
    for (i, needle) in [(3, "lead_ids"), (4, "batch_nope")] {
        let e = &mcp["results"][i];
        assert_eq!(e["is_error"], true, "{e:#}");
        assert!(
            e["text"][0].as_str().is_some_and(|t| t.contains(needle)),
            "{e:#}"
        );
    }
    // Another workspace's key sees nothing of this one; a bad key gets no session.
    let bad = common::mcp::client(&url, "tnx_wrong", &json!([{"list_tools": true}])).await;
    assert!(bad.as_ref().is_err_and(|e| e.contains("401")), "{bad:?}");
    let other = common::mcp::client(
        &url,
        &rig.api.b,
        &json!([{"call": "get_call_results", "arguments": {"call_batch_id": batch}}]),
    )
    .await
    .expect("client");
    assert_eq!(other["results"][0]["is_error"], true, "{other:#}");
    let canceled = rig
        .post(&format!("/batches/{second}/cancel"), json!({}))
        .await;
    assert_eq!(canceled["status"], "canceled");

    // Pause, resume, cancel: the sleeping lead is canceled and the batch ends.
    for (action, status) in [
        ("pause", "paused"),
        ("resume", "running"),
        ("cancel", "canceled"),
    ] {
        let b = rig
            .post(&format!("/batches/{batch}/{action}"), json!({}))
            .await;
        assert_eq!(b["status"], status, "{action}: {b:#}");
    }
    let (st, _, again) = rig
        .api
        .call(
            "POST",
            &format!("/batches/{batch}/resume"),
            Some(&rig.api.a),
            None,
        )
        .await;
    assert_eq!(st, 409, "a canceled batch does not resume: {again}");
    let ours = |r: &common::receiver::Received| {
        r.kind() == "batch.completed" && r.json()["data"]["batch_id"] == batch.as_str()
    };
    let got = rx
        .wait(Duration::from_secs(20), |got| got.iter().any(ours))
        .await;
    let done = got
        .iter()
        .find(|r| ours(r))
        .expect("batch.completed")
        .json();
    assert_eq!(done["data"]["batch_id"], batch.as_str());
    assert_eq!(done["data"]["status"], "canceled");
    assert_eq!(
        done["data"]["counts"],
        json!({"qualified": 1, "busy": 1, "no-answer": 1, "dnc": 1, "canceled": 1})
    );
    assert_eq!(done["data"]["attempts"], 5);
    dialer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_answers_only_keys_and_allowed_hosts() {
    use tower::ServiceExt;
    let api = common::api::api("mcp-hosts").await;
    let router = tenex_voice::api::mcp_router(
        tenex_voice::api::ApiState::new(api.store.clone())
            .with_mcp_hosts(["voice.example.com".to_owned()]),
    );
    let list = |host: &str, key: Option<&str>| {
        let mut req = axum::http::Request::builder()
            .method("POST")
            .uri("/mcp")
            .header("host", host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        req.body(axum::body::Body::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
        ))
        .expect("request")
    };
    for (host, key, expected, why) in [
        (
            "voice.example.com",
            Some(&api.a),
            200,
            "the public URL's host",
        ),
        ("127.0.0.1:8080", Some(&api.a), 200, "loopback"),
        (
            "evil.example",
            Some(&api.a),
            403,
            "a Host not allowed is refused",
        ),
        ("voice.example.com", None, 401, "no key"),
    ] {
        let res = router
            .clone()
            .oneshot(list(host, key.map(String::as_str)))
            .await
            .expect("answer");
        assert_eq!(res.status().as_u16(), expected, "{why}");
    }
}

/// Six leads whose phones ring until the engine gives up.
const RINGERS: [&str; 6] = [
    "+13125550103",
    "+13125550113",
    "+13125550123",
    "+13125550133",
    "+13125550143",
    "+13125550153",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_queue_within_the_trunk_limits() {
    for store in common::db::backends("campaign-two-nodes").await {
        let backend = store.backend();
        let rig = common::host::rig_on("campaign-two-nodes", store.clone(), false).await;
        let log = scratch_dir("campaign-two-nodes-phones").join("phones.log");
        let (port, phones) = phones(6, &log, "60s").await;
        // The trunk allows 2 calls at once and 2 new calls a second, whatever
        // the batches allow.
        let agent = agent_and_trunk(
            &rig,
            port,
            json!({"max_concurrent": 2, "calls_per_second": 2}),
        )
        .await;
        let mut leads = Vec::new();
        for (i, phone) in RINGERS.iter().enumerate() {
            leads.push(
                rig.post(
                    "/leads",
                    json!({"name": format!("Lead {i}"), "phone": phone}),
                )
                .await["id"]
                    .clone(),
            );
        }
        // A second node on the same database, with its own engine and dialer.
        let (sim, _) = common::host::simulator(&scratch_dir("campaign-node-b")).await;
        let (engine_b, router_b, _sink_b) =
            common::host::node(&store, scratch_dir("campaign-node-b"), sim.url(), false).await;
        let dialers = [
            dialer(&rig),
            Dialer {
                store: store.clone(),
                apps: router_b.apps.clone(),
                engine: engine_b.handle(),
                config: DialerConfig {
                    tick: Duration::from_millis(100),
                    ..DialerConfig::default()
                },
            }
            .spawn(),
        ];
        // Two batches of three leads, each allowed 3 at once and 10 a second.
        let mut batches = Vec::new();
        for part in leads.chunks(3) {
            let created = rig
                .post(
                    "/batches",
                    json!({"lead_ids": part, "objective": "qualify_for_demo",
                           "agent_id": agent["id"], "concurrency": 3, "calls_per_second": 10,
                           "ring_timeout_s": 5, "retry": {"max_attempts": 1}}),
                )
                .await;
            batches.push(created["call_batch_id"].as_str().expect("id").to_owned());
        }
        for batch in &batches {
            let results = results_when(&rig, batch, |r| {
                r.len() == 3 && r.iter().all(|x| x["state"] == "done")
            })
            .await;
            assert!(
                results
                    .iter()
                    .all(|r| r["outcome"] == "no-answer" && r["attempts"] == 1),
                "{backend:?}: {results:#?}"
            );
            let status = rig.get(&format!("/batches/{batch}")).await;
            assert_eq!(status["status"], "completed", "{backend:?}: {status:#}");
            assert_eq!(status["counts"], json!({"no-answer": 3}));
        }
        let run = phones.await.expect("sipp");
        assert!(run.all_ok(6), "{backend:?}: the phones: {run:?}");
        let (called, peak, orphans) = phone_log(&log);
        assert_eq!(orphans, 0);
        let mut sorted = called.clone();
        sorted.sort();
        assert_eq!(sorted, RINGERS, "{backend:?}: each lead dialed once");
        assert_eq!(
            peak, 2,
            "{backend:?}: the trunk's 2 at once, across batches and nodes"
        );
        // New calls at most 2 a second on the trunk: 500 ms apart (less a
        // little for the time between the claim and the stored call).
        let mut created: Vec<i64> = rig.get("/calls?limit=50").await["data"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["created_at"].as_i64()).collect())
            .unwrap_or_default();
        created.sort();
        assert_eq!(created.len(), 6);
        for w in created.windows(2) {
            assert!(
                w[1] - w[0] >= 450,
                "{backend:?}: calls {}ms apart",
                w[1] - w[0]
            );
        }
        let placed = [rig.engine.calls().len(), engine_b.calls().len()];
        eprintln!("{backend:?}: calls placed per node: {placed:?}");
        assert_eq!(placed.iter().sum::<usize>(), 6, "{backend:?}: {placed:?}");
        // Each batch's end went out as batch.completed with its counts.
        let ws = rig.get("/workspace").await["id"]
            .as_str()
            .expect("ws")
            .to_owned();
        for batch in &batches {
            let events = store
                .events_after(&ws, Some(batch), 0, 10)
                .await
                .expect("events");
            let done: Vec<_> = events
                .iter()
                .filter(|e| e.kind == "batch.completed")
                .collect();
            assert_eq!(done.len(), 1, "{backend:?}: {events:?}");
            assert_eq!(done[0].data["status"], "completed");
            assert_eq!(done[0].data["counts"], json!({"no-answer": 3}));
            assert_eq!(done[0].data["attempts"], 3);
        }
        for d in dialers {
            d.abort();
        }
    }
}

/// Starts `tenex-voice serve` on the data directory `dir`, with the Realtime
/// simulator at `sim` and a 2 s dialer lease.
fn serve(dir: &std::path::Path, http: std::net::SocketAddr, sim: &str) -> tokio::process::Child {
    let ports = common::rtp_range(2);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tenex-voice"))
        .arg("serve")
        .env("TENEX_SIP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("TENEX_HTTP_ADDR", http.to_string())
        .env("TENEX_DATA_DIR", dir)
        .env("TENEX_RTP_PORTS", format!("{}-{}", ports.first, ports.last))
        .env("TENEX_REALTIME_URL", sim)
        .env("OPENAI_API_KEY", "sk-test")
        .env("TENEX_DIALER_LEASE_S", "2")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tenex-voice serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_settles_the_calls_it_had_in_flight_and_goes_on() {
    let dir = scratch_dir("campaign-restart");
    let store = tenex_voice::store::Store::open_data_dir(&dir)
        .await
        .expect("store");
    let api = common::api::api_state(store.clone(), |s| s).await;
    let (sim, _) = common::host::simulator(&dir).await;
    let log = scratch_dir("campaign-restart-phones").join("phones.log");
    let (port, phones) = phones(10, &log, "80s").await;
    let post = |path: &'static str, body: Value| {
        let api = &api;
        async move {
            let (st, _, v) = api.call("POST", path, Some(&api.a), Some(body)).await;
            assert!(st.is_success(), "{path}: {st} {v}");
            v
        }
    };
    let get = |path: String| {
        let api = &api;
        async move {
            let (st, _, v) = api.call("GET", &path, Some(&api.a), None).await;
            assert_eq!(st, 200, "{path}: {v}");
            v
        }
    };
    let agent = post(
        "/agents",
        json!({"name": "Ada", "system_prompt": "You are Ada."}),
    )
    .await;
    post(
        "/trunks",
        json!({"name": "carrier", "outbound": {"host": "127.0.0.1", "port": port},
               "caller_id": "+15550001111"}),
    )
    .await;
    let rings = post("/leads", json!({"name": "Cy Rings", "phone": RINGS})).await["id"].clone();
    let answers =
        post("/leads", json!({"name": "Ann Answers", "phone": ANSWERS})).await["id"].clone();
    let created = post(
        "/batches",
        json!({"lead_ids": [rings, answers], "objective": "qualify_for_demo",
               "agent_id": agent["id"], "concurrency": 1, "ring_timeout_s": 5,
               "retry": {"max_attempts": 2, "on": ["failed", "no-answer"],
                         "backoff_minutes": 0.02}}),
    )
    .await;
    let batch = created["call_batch_id"].as_str().expect("id").to_owned();

    let http = std::net::SocketAddr::new(common::LOCALHOST, free_port());
    let mut engine = serve(&dir, http, &sim.url());
    // The first lead's phone rings; the engine dies.
    let calls_path = format!("/calls?batch_id={batch}");
    let mut ringing = Value::Null;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for _ in 0..400 {
        tick.tick().await;
        let calls = get(calls_path.clone()).await;
        if calls["data"][0]["status"] == "ringing" {
            ringing = calls["data"][0].clone();
            break;
        }
    }
    assert_eq!(ringing["lead_id"], rings, "the first call rang: {ringing}");
    engine.kill().await.expect("kill");
    let _ = engine.wait().await;
    let in_flight = get(format!("/batches/{batch}/results")).await;
    assert_eq!(in_flight["data"][0]["state"], "dialing");

    // Restarted: the dead node's call is settled (failed, retried), then the
    // rest of the queue is called.
    let mut engine = serve(&dir, http, &sim.url());
    let mut results = Value::Null;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    for _ in 0..450 {
        tick.tick().await;
        results = get(format!("/batches/{batch}/results")).await;
        if results["data"]
            .as_array()
            .is_some_and(|r| r.iter().all(|x| x["state"] == "done"))
        {
            break;
        }
    }
    let _ = engine.kill().await;
    phones.abort();
    let r = &results["data"];
    assert_eq!(
        (&r[0]["outcome"], &r[0]["attempts"]),
        (&json!("no-answer"), &json!(2)),
        "{results:#}"
    );
    assert_eq!(
        (&r[1]["outcome"], &r[1]["attempts"]),
        (&json!("qualified"), &json!(1)),
        "{results:#}"
    );
    let first = get(format!("/calls/{}", ringing["id"].as_str().expect("id"))).await;
    assert_eq!(
        (&first["status"], &first["outcome"], &first["hangup_cause"]),
        (&json!("ended"), &json!("failed"), &json!("node-lost")),
        "{first:#}"
    );
    let (called, peak, orphans) = phone_log(&log);
    assert_eq!(orphans, 1, "the killed engine's leg rings on at the phone");
    let count = |n: &str| called.iter().filter(|c| c.as_str() == n).count();
    assert_eq!(
        [RINGS, ANSWERS].map(count),
        [2, 1],
        "INVITEs per number: {called:?}"
    );
    assert_eq!(
        peak, 1,
        "concurrency 1 held across the restart (orphaned leg aside)"
    );
    let status = get(format!("/batches/{batch}")).await;
    assert_eq!(status["status"], "completed", "{status:#}");
    assert_eq!(status["counts"], json!({"no-answer": 1, "qualified": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_full_of_other_calls_holds_campaign_leads_back_without_recording_calls() {
    let rig = rig("campaign-full-trunk").await;
    let log = scratch_dir("campaign-full-trunk-phones").join("phones.log");
    let (port, phones) = phones(2, &log, "60s").await;
    // One line on the trunk, taken by a session's call (the engine knows; the
    // campaign queue does not count it).
    let agent = agent_and_trunk(&rig, port, json!({"max_concurrent": 1})).await;
    let talker = rig
        .post("/leads", json!({"name": "Ann Answers", "phone": ANSWERS}))
        .await;
    let waiter = rig
        .post("/leads", json!({"name": "Cy Rings", "phone": RINGS}))
        .await;
    let session = rig
        .post(
            "/sessions",
            json!({"direction": "outbound", "lead_id": talker["id"], "agent_id": agent["id"],
                   "objective": "qualify_for_demo"}),
        )
        .await;
    let session_call = session["call_id"].as_str().expect("call").to_owned();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..100 {
        tick.tick().await;
        rig.sink.flush().await;
        if rig.get(&format!("/calls/{session_call}")).await["status"] == "in-progress" {
            break;
        }
    }
    let dialer = dialer(&rig);
    let created = rig
        .post(
            "/batches",
            json!({"lead_ids": [waiter["id"]], "objective": "qualify_for_demo",
                   "agent_id": agent["id"], "ring_timeout_s": 5, "retry": {"max_attempts": 1}}),
        )
        .await;
    let batch = created["call_batch_id"].as_str().expect("id").to_owned();
    // While the session talks, the lead waits for room: no call is recorded,
    // no attempt counted, the lead's record untouched.
    let mut held_back = false;
    loop {
        tick.tick().await;
        rig.sink.flush().await;
        let talking = rig.get(&format!("/calls/{session_call}")).await["status"] == "in-progress";
        let r = results_when(&rig, &batch, |_| true).await;
        if !talking {
            break;
        }
        if r[0]["state"] != "queued" {
            // Claimed, and being refused right now.
            continue;
        }
        assert_eq!(r[0]["attempts"], 0, "{:#}", r[0]);
        assert_eq!(r[0]["call_ids"], json!([]), "{:#}", r[0]);
        held_back |= r[0]["waiting"] == "capacity";
        let lead = rig
            .get(&format!("/leads/{}", waiter["id"].as_str().expect("id")))
            .await;
        assert_eq!(lead["status"], "new");
    }
    assert!(
        held_back,
        "the engine refused the lead for room at least once"
    );
    // Once the line is free the lead is called.
    let r = results_when(&rig, &batch, |r| r[0]["state"] == "done").await;
    assert_eq!(
        (&r[0]["outcome"], &r[0]["attempts"]),
        (&json!("no-answer"), &json!(1)),
        "{:#}",
        r[0]
    );
    let calls = rig.get(&format!("/calls?batch_id={batch}")).await;
    assert_eq!(calls["data"].as_array().map(Vec::len), Some(1), "{calls:#}");
    let run = phones.await.expect("sipp");
    assert!(run.all_ok(2), "{run:?}");
    let (called, peak, _) = phone_log(&log);
    assert_eq!(called, [ANSWERS, RINGS]);
    assert_eq!(peak, 1);
    dialer.abort();
}
