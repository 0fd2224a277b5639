//! `tenex-voice demo`: a whole qualification campaign on one machine, offline.
//!
//! It starts an engine node on loopback (temporary SQLite database, the
//! built-in Realtime simulator speaking recorded lines), the leads' phones (a
//! second SIP engine whose numbers answer and speak recorded lines, or never
//! answer) and a webhook receiver that verifies signatures. Then, through the
//! public REST API only, it sets up an agent, a knowledge document, a
//! calendar, three leads, a trunk to the phones and a webhook subscription,
//! launches a batch, and shows it live from the SSE streams. It ends with a
//! summary and checks every step, so it doubles as a smoke test: the process
//! exits non-zero when anything did not happen as expected.

mod client;
mod phones;
mod receiver;
mod speech;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tenex_actors::media::PortRange;
use tokio::sync::mpsc;

use crate::realtime_sim::{Script, SimConfig, Simulator};
use client::{Api, Sse};
use phones::{Behaviour, Phones};
use receiver::Receiver;
use speech::{Slot, Speech};

/// Options for `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Leave everything running after the campaign (Ctrl-C stops), printing the
    /// base URL and API key to explore with curl or an MCP client.
    #[arg(long)]
    pub keep_running: bool,
    /// Where the database and recordings go (a new temporary directory when
    /// absent; kept afterwards so the recordings can be played).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Give up on the campaign after this many seconds.
    #[arg(long, default_value_t = 180)]
    pub timeout_s: u64,
}

/// The calendar's (and the leads') time zone.
const ZONE: &str = "America/Chicago";
/// RTP ports of the engine node and of the phones.
const NODE_RTP: PortRange = PortRange {
    first: 30_000,
    last: 30_198,
};
const PHONE_RTP: PortRange = PortRange {
    first: 30_200,
    last: 30_398,
};
/// The simulator's API key (it accepts only this one).
const SIM_KEY: &str = "sk-demo-offline";

/// One lead of the demo and what should become of it.
struct DemoLead {
    name: &'static str,
    company: &'static str,
    phone: &'static str,
    email: &'static str,
    /// Recorded lines its phone says (none: it never answers).
    lines: &'static [&'static str],
    outcome: &'static str,
}

const LEADS: [DemoLead; 3] = [
    DemoLead {
        name: "Dan Okafor",
        company: "Northwind Logistics",
        phone: "+13125550101",
        email: "dan@northwind.example",
        lines: &["dan_1", "dan_2", "dan_3", "dan_4"],
        outcome: "qualified",
    },
    DemoLead {
        name: "Tom Reilly",
        company: "Reilly Bikes",
        phone: "+13125550102",
        email: "tom@reillybikes.example",
        lines: &["tom_1", "tom_2"],
        outcome: "unqualified",
    },
    DemoLead {
        name: "Priya Shah",
        company: "Shah Dental",
        phone: "+13125550103",
        email: "priya@shahdental.example",
        lines: &[],
        outcome: "no-answer",
    },
];

const PROMPT: &str = "You are Marin, a friendly sales development representative for Tenex, \
which answers and qualifies support calls with an AI voice agent. Keep every turn short. Find \
out the lead's monthly call volume, budget, who decides, and their timeline. Look up prices \
with search_knowledge. If they qualify, offer a demo, check the calendar and book it. Always \
submit your verdict with submit_qualification before you end the call.";

const PRICING: &str = "Tenex pricing. Starter plan: up to 500 support calls a month, 300 \
dollars a month. Growth plan: 500 to 5,000 calls a month at a flat 900 dollars a month, \
including call recording, CRM write-back and live monitoring. Enterprise: above 5,000 calls a \
month, priced per call with a dedicated number pool. Every plan includes a 14-day trial and a \
30-minute onboarding demo.";

/// Runs the demo; `Err` lists what did not happen as expected.
pub async fn run(args: DemoArgs) -> Result<(), String> {
    let started = std::time::Instant::now();
    let data_dir = match args.data_dir.clone() {
        Some(d) => d,
        None => std::env::temp_dir().join(format!(
            "tenex-demo-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_second()
        )),
    };
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("data directory {}: {e}", data_dir.display()))?;

    step("Starting the Realtime simulator (recorded agent voice)");
    let speech = Speech::load()?;
    let slot = Slot::tomorrow_at_ten(ZONE)?;
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            script: Script::qualifier(),
            scripts_by_instructions: vec![
                (
                    "Name: Dan Okafor".into(),
                    speech::dan_script(&speech, &slot)?,
                ),
                ("Name: Tom Reilly".into(), speech::tom_script(&speech)?),
            ],
            recorded: speech.agent_voice(),
            api_key: Some(SIM_KEY.into()),
            ..SimConfig::default()
        },
    )
    .await
    .map_err(|e| format!("simulator: {e}"))?;

    step("Starting the leads' phones (SIP on loopback)");
    let mut book = HashMap::new();
    for lead in &LEADS {
        let behaviour = if lead.lines.is_empty() {
            Behaviour::NeverAnswers
        } else {
            Behaviour::Talks(
                lead.lines
                    .iter()
                    .map(|id| speech.line(id).map(|l| l.pcm.clone()))
                    .collect::<Result<_, _>>()?,
            )
        };
        book.insert(lead.phone.to_owned(), behaviour);
    }
    let phones = Phones::start(book, PHONE_RTP).await?;

    step("Starting the engine (SIP, HTTP API, dialer, webhooks)");
    let node = crate::serve::start(
        crate::serve::ServeArgs {
            sip_addr: ([127, 0, 0, 1], 0).into(),
            public_ip: None,
            rtp_ports: NODE_RTP,
            max_calls: 20,
            echo_route: false,
            trunks_file: None,
            http_addr: ([127, 0, 0, 1], 0).into(),
            public_url: None,
            db: crate::config::DbArgs {
                database_url: None,
                data_dir: data_dir.clone(),
            },
            realtime_url: sim.url(),
            realtime_model: "gpt-realtime".into(),
            webhook_allow_private: true,
            webhook_timeout_s: 5,
            dialer_lease_s: 30,
            mcp_allowed_hosts: Vec::new(),
        },
        SIM_KEY.into(),
    )
    .await?;
    let workspace = node
        .store()
        .create_workspace("demo")
        .await
        .map_err(|e| e.to_string())?;
    let (_, key) = node
        .store()
        .create_key(&workspace.id)
        .await
        .map_err(|e| e.to_string())?;
    let api = Api {
        addr: node.http_addr(),
        key,
    };
    let base = node.base_url().to_owned();
    println!("    API {base}/api/v1/voice  SIP {}", node.sip_addr());

    let receiver = Receiver::start().await?;
    let outcome = campaign(&api, &phones, &receiver, &speech, &slot, &data_dir, &args).await;

    if args.keep_running {
        println!();
        println!("Everything is still running (Ctrl-C stops it):");
        println!("  export TENEX_URL={base}/api/v1/voice");
        println!("  export TENEX_KEY={}", api.key);
        println!("  curl -s -H \"Authorization: Bearer $TENEX_KEY\" $TENEX_URL/calls");
        println!(
            "  MCP: streamable HTTP at {base}/mcp with header \"Authorization: Bearer {}\"",
            api.key
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    node.stop(Duration::from_secs(5)).await;
    phones.stop().await;
    drop(sim);
    let secs = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            println!("\nDemo finished in {secs:.0} s: every step happened as expected.");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn step(what: &str) {
    println!("==> {what}");
}

/// What the live view learned about one lead's call.
#[derive(Debug, Default)]
struct Seen {
    /// The last `call.state` shown.
    state: Option<String>,
    /// (speaker, text) in order.
    transcript: Vec<(String, String)>,
}

/// Set-up through the API, the campaign shown live, then the summary and checks.
async fn campaign(
    api: &Api,
    phones: &Phones,
    receiver: &Receiver,
    speech: &Speech,
    slot: &Slot,
    data_dir: &std::path::Path,
    args: &DemoArgs,
) -> Result<(), String> {
    step("Setting up through the REST API");
    let agent = api
        .post(
            "/agents",
            json!({"name": "Lead qualifier", "system_prompt": PROMPT,
                   "greeting": "Greet the lead by first name and ask for a minute.",
                   "max_duration_s": 300,
                   "voice_profile": {"voice": "marin", "language": "en"}}),
        )
        .await?;
    let agent_id = id_of(&agent)?;
    println!("    agent {agent_id} (prompt, voice marin, tools: all)");
    let doc = api
        .post(
            "/knowledge",
            json!({"title": "Tenex pricing", "body": PRICING}),
        )
        .await?;
    println!("    knowledge document {}", id_of(&doc)?);
    let day = json!([["09:00", "17:00"]]);
    let calendar = api
        .post(
            "/calendar-connectors",
            json!({"name": "Sales demos", "timezone": ZONE, "slot_minutes": 30,
                   "working_hours": {"mon": day, "tue": day, "wed": day, "thu": day,
                                     "fri": day, "sat": day, "sun": day}}),
        )
        .await?;
    let calendar_id = id_of(&calendar)?;
    println!("    calendar {calendar_id} ({ZONE}, 09:00-17:00 daily)");
    let mut lead_ids = Vec::new();
    let mut names = HashMap::new();
    for lead in &LEADS {
        let created = api
            .post(
                "/leads",
                json!({"name": lead.name, "phone": lead.phone, "company": lead.company,
                       "email": lead.email, "timezone": ZONE}),
            )
            .await?;
        let id = id_of(&created)?;
        println!(
            "    lead {id}: {} ({}), {}",
            lead.name, lead.company, lead.phone
        );
        names.insert(id.clone(), lead);
        lead_ids.push(id);
    }
    let phones_addr = phones.addr();
    let trunk = api
        .post(
            "/trunks",
            json!({"name": "demo-phones", "caller_id": "+13125550100", "max_concurrent": 3,
                   "outbound": {"host": phones_addr.ip().to_string(), "port": phones_addr.port(),
                                "transport": "udp"}}),
        )
        .await?;
    let trunk_id = id_of(&trunk)?;
    println!("    trunk {trunk_id} -> sip:{phones_addr} (the leads' phones)");
    let hook = api
        .post("/webhooks", json!({"url": receiver.url()}))
        .await?;
    let secret = hook["secret"]
        .as_str()
        .ok_or("the webhook subscription has no secret")?;
    receiver.set_secret(secret);
    println!("    webhook {} -> {}", id_of(&hook)?, receiver.url());

    // Live view: the workspace's lifecycle feed, and each call's own stream.
    let (tx, mut rx) = mpsc::channel::<(Option<String>, Sse)>(256);
    {
        let (api, tx) = (api.clone(), tx.clone());
        tokio::spawn(async move { forward(api, "/stream".into(), None, tx).await });
    }

    step("Launching the campaign: POST /batches");
    let batch = api
        .post(
            "/batches",
            json!({"lead_ids": lead_ids, "objective": "qualify_for_demo", "agent_id": agent_id,
                   "calendar_connector_id": calendar_id, "trunk_id": trunk_id,
                   "concurrency": 3, "calls_per_second": 2, "ring_timeout_s": 12,
                   "retry": {"max_attempts": 1}}),
        )
        .await?;
    let batch_id = batch["call_batch_id"]
        .as_str()
        .ok_or("no call_batch_id")?
        .to_owned();
    println!(
        "    batch {batch_id}: {} queued, {} rejected",
        batch["queued"],
        batch["rejected"].as_array().map_or(0, Vec::len)
    );

    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut call_lead: HashMap<String, String> = HashMap::new();
    let mut batch_done: Option<Value> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_s);
    while batch_done.is_none() {
        let Ok(Some((call, event))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        let d = &event.data;
        let who = |call_lead: &HashMap<String, String>, call_id: &str| -> String {
            call_lead
                .get(call_id)
                .and_then(|l| names.get(l))
                .map_or_else(|| call_id.to_owned(), |l| l.name.to_owned())
        };
        match (call, event.event.as_str()) {
            (None, "call.state") => {
                let (Some(call_id), Some(state)) = (d["call_id"].as_str(), d["state"].as_str())
                else {
                    continue;
                };
                if let Some(lead) = d["lead_id"].as_str()
                    && !call_lead.contains_key(call_id)
                {
                    call_lead.insert(call_id.to_owned(), lead.to_owned());
                    let (api, tx) = (api.clone(), tx.clone());
                    let path = format!("/calls/{call_id}/stream");
                    let id = call_id.to_owned();
                    tokio::spawn(async move { forward(api, path, Some(id), tx).await });
                }
                let entry = seen.entry(who(&call_lead, call_id)).or_default();
                if entry.state.as_deref() != Some(state) {
                    entry.state = Some(state.to_owned());
                    // The end is shown with its outcome (call.ended).
                    if state != "ended" {
                        println!("  [{:<10}] {state}", who(&call_lead, call_id));
                    }
                }
            }
            (None, "call.ended") => {
                if let Some(call_id) = d["call_id"].as_str() {
                    println!(
                        "  [{:<10}] ended: {}",
                        who(&call_lead, call_id),
                        d["outcome"].as_str().unwrap_or("?")
                    );
                }
            }
            (None, "agent.run.completed") => {
                if let Some(call_id) = d["call_id"].as_str() {
                    println!(
                        "  [{:<10}] verdict: {}",
                        who(&call_lead, call_id),
                        verdict_line(d)
                    );
                }
            }
            (None, "batch.completed") if d["batch_id"] == batch_id.as_str() => {
                batch_done = Some(d.clone());
            }
            (Some(call_id), "transcript.segment") => {
                let speaker = d["speaker"].as_str().unwrap_or("?").to_owned();
                let text = d["text"].as_str().unwrap_or("").to_owned();
                println!(
                    "  [{:<10}]   {speaker:>6}: {text}",
                    who(&call_lead, &call_id)
                );
                seen.entry(who(&call_lead, &call_id))
                    .or_default()
                    .transcript
                    .push((speaker, text));
            }
            _ => {}
        }
    }
    let mut failures = Vec::new();
    let Some(completed) = batch_done else {
        return Err(format!(
            "the campaign did not complete within {} s",
            args.timeout_s
        ));
    };
    println!(
        "  batch.completed: status {}, counts {}",
        completed["status"], completed["counts"]
    );

    // The summary, from the API.
    let results = api.get(&format!("/batches/{batch_id}/results")).await?;
    let metrics = api.get(&format!("/metrics?batch_id={batch_id}")).await?;
    let rows = results["data"]
        .as_array()
        .or_else(|| results.as_array())
        .cloned()
        .unwrap_or_default();
    println!("\n==> Results (GET /batches/{batch_id}/results)");
    for lead in &LEADS {
        let Some(row) = rows.iter().find(|r| r["name"] == lead.name) else {
            failures.push(format!("{}: no result row", lead.name));
            continue;
        };
        let outcome = row["outcome"].as_str().unwrap_or("none");
        let meeting = row["meeting_start"].as_str().unwrap_or("");
        println!(
            "  {:<11} {:<12} score {:<3} meeting {:<21} {}",
            lead.name,
            outcome,
            row["score"].as_i64().map_or("-".into(), |s| s.to_string()),
            if meeting.is_empty() {
                "-".into()
            } else {
                local(meeting)
            },
            row["summary"].as_str().unwrap_or("")
        );
        if outcome != lead.outcome {
            failures.push(format!(
                "{}: outcome {outcome}, expected {}",
                lead.name, lead.outcome
            ));
        }
        let booked = row["meeting_booked"].as_bool().unwrap_or(false);
        if booked != (lead.outcome == "qualified") {
            failures.push(format!("{}: meeting booked {booked}", lead.name));
        }
        if booked && !same_instant(meeting, &slot.start) {
            failures.push(format!(
                "{}: meeting at {meeting}, expected {}",
                lead.name, slot.start
            ));
        }
        // The live transcript: every line the phone said, in order, between
        // the agent's.
        let said: Vec<String> = seen
            .get(lead.name)
            .map(|s| {
                s.transcript
                    .iter()
                    .filter(|(who, _)| who == "caller")
                    .map(|(_, t)| t.clone())
                    .collect()
            })
            .unwrap_or_default();
        let expected: Vec<String> = lead
            .lines
            .iter()
            .filter_map(|id| speech.line(id).ok().map(|l| l.text.clone()))
            .collect();
        if said != expected {
            failures.push(format!(
                "{}: live transcript had caller lines {said:?}, expected {expected:?}",
                lead.name
            ));
        }
        let log = phones.logs().get(lead.phone).cloned().unwrap_or_default();
        let answered = u32::from(!lead.lines.is_empty());
        if log.calls != 1 || log.answered != answered || log.lines_said != lead.lines.len() {
            failures.push(format!("{}: the phone saw {log:?}", lead.name));
        }
    }

    println!("\n==> Metrics (GET /metrics?batch_id={batch_id})");
    println!(
        "  calls {}  connected {}  connect rate {}  qualified {}  qualified rate {}",
        metrics["calls"],
        metrics["connected"],
        percent(&metrics["connect_rate"]),
        metrics["qualified"],
        percent(&metrics["qualified_rate"])
    );
    println!(
        "  average duration {}  greeting latency p50 {} ms  end-of-turn latency p50 {} ms (p95 {} ms)",
        metrics["avg_duration_ms"]
            .as_f64()
            .map_or("-".into(), |ms| format!("{:.1} s", ms / 1000.0)),
        metrics["greeting_latency_ms"]["p50"],
        metrics["end_of_turn_latency_ms"]["p50"],
        metrics["end_of_turn_latency_ms"]["p95"]
    );
    if (
        metrics["calls"].as_i64(),
        metrics["connected"].as_i64(),
        metrics["qualified"].as_i64(),
    ) != (Some(3), Some(2), Some(1))
    {
        failures.push(format!("metrics: {metrics}"));
    }

    // Recordings: each answered call's, both sides audible.
    println!("\n==> Recordings");
    let calls = api.get(&format!("/calls?batch_id={batch_id}")).await?;
    for call in calls["data"].as_array().cloned().unwrap_or_default() {
        let id = call["id"].as_str().unwrap_or_default().to_owned();
        if call["answered_at"].is_null() && call["outcome"] == "no-answer" {
            continue;
        }
        match recording_levels(api, &id).await {
            Ok((left, right, secs)) => {
                println!(
                    "  {id}: {secs:.1} s stereo WAV, lead (left) RMS {left:.0}, agent (right) RMS {right:.0}"
                );
                if left < 50.0 || right < 50.0 {
                    failures.push(format!("recording {id}: a silent side"));
                }
            }
            Err(e) => failures.push(format!("recording {id}: {e}")),
        }
    }
    println!("  files: {}", data_dir.join("recordings").display());

    // Webhooks: the last one (batch.completed) may still be on its way.
    println!("\n==> Webhooks");
    let wanted = [
        "call.started",
        "call.ringing",
        "call.answered",
        "call.ended",
        "agent.run.completed",
        "batch.completed",
    ];
    receiver
        .wait_for(Duration::from_secs(15), |got| {
            wanted.iter().all(|k| got.iter().any(|d| d.kind == *k))
        })
        .await;
    let got = receiver.deliveries();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &got {
        *by_kind.entry(d.kind.as_str()).or_default() += 1;
    }
    let verified = got.iter().filter(|d| d.verified).count();
    println!(
        "  {} received, {verified} with a valid signature: {by_kind:?}",
        got.len()
    );
    if verified != got.len() {
        failures.push(format!(
            "{} webhooks failed verification",
            got.len() - verified
        ));
    }
    for k in wanted {
        if !by_kind.contains_key(k) {
            failures.push(format!("no {k} webhook"));
        }
    }

    println!("\n==> The same with curl");
    let url = format!("http://{}/api/v1/voice", api.addr);
    println!("  H=\"Authorization: Bearer {}\"", api.key);
    println!(
        "  curl -s -H \"$H\" -H 'Content-Type: application/json' {url}/batches -d '{{\"lead_ids\":[...],\"objective\":\"qualify_for_demo\",\"agent_id\":\"{agent_id}\"}}'"
    );
    println!("  curl -s -H \"$H\" {url}/batches/{batch_id}/results");
    println!("  curl -s -H \"$H\" {url}/calls?batch_id={batch_id}");
    println!("  curl -s -H \"$H\" {url}/calls/CALL_ID/transcript");
    println!("  curl -s -H \"$H\" '{url}/metrics?batch_id={batch_id}'");
    println!("  curl -sN -H \"$H\" {url}/stream");
    if !args.keep_running {
        println!("  (run `tenex-voice demo --keep-running` to try them while it runs)");
    }

    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the demo did not go as expected:\n  - {}",
            failures.join("\n  - ")
        ))
    }
}

/// Follows an SSE stream into the live view, tagged with its call.
async fn forward(
    api: Api,
    path: String,
    call: Option<String>,
    tx: mpsc::Sender<(Option<String>, Sse)>,
) {
    let (etx, mut erx) = mpsc::channel(64);
    let follow = tokio::spawn(async move { api.follow(&path, etx).await });
    while let Some(event) = erx.recv().await {
        if tx.send((call.clone(), event)).await.is_err() {
            break;
        }
    }
    if let Ok(Err(e)) = follow.await {
        eprintln!("    (stream ended: {e})");
    }
}

fn id_of(v: &Value) -> Result<String, String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no id in {v}"))
}

fn verdict_line(d: &Value) -> String {
    let v = &d["verdict"];
    if v.is_null() {
        return format!("{} (no conversation)", d["outcome"].as_str().unwrap_or("?"));
    }
    let mut s = format!(
        "{}, score {}",
        d["outcome"].as_str().unwrap_or("?"),
        v["score"]
    );
    if d["meeting_booked"].as_bool() == Some(true) {
        s.push_str(&format!(
            ", meeting booked for {}",
            local(d["meeting_start"].as_str().unwrap_or("?"))
        ));
    }
    s
}

/// A timestamp in the demo's zone (`2026-11-23 10:00 CST`), or as given.
fn local(ts: &str) -> String {
    ts.parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| jiff::tz::TimeZone::get(ZONE).ok().map(|tz| t.to_zoned(tz)))
        .map_or_else(
            || ts.to_owned(),
            |z| z.strftime("%Y-%m-%d %H:%M %Z").to_string(),
        )
}

fn percent(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |r| format!("{:.0}%", r * 100.0))
}

fn same_instant(a: &str, b: &str) -> bool {
    match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// RMS of each channel of a call's recording, and its length in seconds.
async fn recording_levels(api: &Api, id: &str) -> Result<(f64, f64, f64), String> {
    // The recording is stored in the transaction that ends the call, so every
    // call of a completed batch has its link.
    let call = api.get(&format!("/calls/{id}")).await?;
    let url = call["recording_url"].as_str().ok_or("no recording")?;
    let path = url
        .find("/api/v1/voice/")
        .map(|i| url[i..].to_owned())
        .ok_or("a recording URL outside the API")?;
    let wav = api.bytes(&path).await?;
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.channels != 2 {
        return Err(format!("{} channels", spec.channels));
    }
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let level = |ch: usize| {
        let (sum, n) = samples
            .iter()
            .skip(ch)
            .step_by(2)
            .fold((0f64, 0usize), |(s, n), &x| {
                (s + f64::from(x).powi(2), n + 1)
            });
        if n == 0 { 0.0 } else { (sum / n as f64).sqrt() }
    };
    let secs = samples.len() as f64 / 2.0 / f64::from(spec.sample_rate);
    Ok((level(0), level(1), secs))
}
