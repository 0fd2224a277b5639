//! The demo's recorded speech (assets/demo, made by scripts/demo/gen_speech.py)
//! and the conversations the simulated agent follows with each lead.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use tenex_actors::tenex_media::SampleRate;
use tenex_actors::tenex_media::resample::Resampler;

use crate::realtime_sim::script::{Script, ScriptCall, Turn};

/// The recordings, by line id (8 kHz mono PCM16 WAV).
const RECORDINGS: &[(&str, &[u8])] = &[
    (
        "agent_dan_1",
        include_bytes!("../../assets/demo/agent_dan_1.wav"),
    ),
    (
        "agent_dan_2",
        include_bytes!("../../assets/demo/agent_dan_2.wav"),
    ),
    (
        "agent_dan_3",
        include_bytes!("../../assets/demo/agent_dan_3.wav"),
    ),
    (
        "agent_dan_4",
        include_bytes!("../../assets/demo/agent_dan_4.wav"),
    ),
    (
        "agent_dan_5",
        include_bytes!("../../assets/demo/agent_dan_5.wav"),
    ),
    ("dan_1", include_bytes!("../../assets/demo/dan_1.wav")),
    ("dan_2", include_bytes!("../../assets/demo/dan_2.wav")),
    ("dan_3", include_bytes!("../../assets/demo/dan_3.wav")),
    ("dan_4", include_bytes!("../../assets/demo/dan_4.wav")),
    (
        "agent_tom_1",
        include_bytes!("../../assets/demo/agent_tom_1.wav"),
    ),
    (
        "agent_tom_2",
        include_bytes!("../../assets/demo/agent_tom_2.wav"),
    ),
    (
        "agent_tom_3",
        include_bytes!("../../assets/demo/agent_tom_3.wav"),
    ),
    ("tom_1", include_bytes!("../../assets/demo/tom_1.wav")),
    ("tom_2", include_bytes!("../../assets/demo/tom_2.wav")),
];

/// What each line says (the generator's input).
const LINES: &str = include_str!("../../assets/demo/lines.json");

#[derive(Deserialize)]
struct LinesFile {
    lines: Vec<LineSpec>,
}

#[derive(Deserialize)]
struct LineSpec {
    id: String,
    text: String,
}

/// One recorded line.
#[derive(Debug, Clone)]
pub(super) struct Line {
    /// What is said.
    pub(super) text: String,
    /// 8 kHz PCM16.
    pub(super) pcm: Arc<[i16]>,
}

/// Every recorded line by id.
#[derive(Debug, Clone)]
pub(super) struct Speech {
    lines: HashMap<String, Line>,
}

impl Speech {
    /// Decodes the embedded recordings.
    pub(super) fn load() -> Result<Speech, String> {
        let spec: LinesFile =
            serde_json::from_str(LINES).map_err(|e| format!("assets/demo/lines.json: {e}"))?;
        let mut lines = HashMap::new();
        for LineSpec { id, text } in spec.lines {
            let wav = RECORDINGS
                .iter()
                .find(|(name, _)| *name == id)
                .map(|(_, bytes)| *bytes)
                .ok_or_else(|| format!("no recording for line {id}"))?;
            let reader = hound::WavReader::new(std::io::Cursor::new(wav))
                .map_err(|e| format!("{id}.wav: {e}"))?;
            let spec = reader.spec();
            if spec.sample_rate != 8000 || spec.channels != 1 || spec.bits_per_sample != 16 {
                return Err(format!("{id}.wav: not 8 kHz mono 16-bit"));
            }
            let pcm = reader
                .into_samples::<i16>()
                .collect::<Result<Vec<i16>, _>>()
                .map_err(|e| format!("{id}.wav: {e}"))?;
            lines.insert(
                id,
                Line {
                    text,
                    pcm: pcm.into(),
                },
            );
        }
        if lines.len() != RECORDINGS.len() {
            return Err("assets/demo/lines.json and the recordings disagree".into());
        }
        Ok(Speech { lines })
    }

    /// The line `id` (every id used here is in lines.json; checked by a test).
    pub(super) fn line(&self, id: &str) -> Result<&Line, String> {
        self.lines
            .get(id)
            .ok_or_else(|| format!("no demo line {id}"))
    }

    /// The agent's lines as 24 kHz PCM by text, for the simulator.
    pub(super) fn agent_voice(&self) -> HashMap<String, Arc<[i16]>> {
        self.lines
            .iter()
            .filter(|(id, _)| id.starts_with("agent_"))
            .map(|(_, line)| (line.text.clone(), upsample(&line.pcm).into()))
            .collect()
    }
}

/// 8 kHz to 24 kHz through the media core's resampler, 20 ms at a time.
fn upsample(pcm8: &[i16]) -> Vec<i16> {
    let mut rs = Resampler::new(SampleRate::Hz8000, SampleRate::Hz24000);
    let (n_in, n_out) = (
        SampleRate::Hz8000.frame_samples(),
        SampleRate::Hz24000.frame_samples(),
    );
    let mut out = Vec::with_capacity(pcm8.len() * 3 + n_out * 2);
    let mut frame = vec![0i16; n_in];
    let mut buf = vec![0i16; n_out];
    // One extra frame of silence flushes the filter's delay.
    for chunk in pcm8.chunks(n_in).chain(std::iter::once(&[][..])) {
        frame.fill(0);
        frame[..chunk.len()].copy_from_slice(chunk);
        if let Ok(n) = rs.process(&frame, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
    }
    out
}

/// A meeting slot the qualified lead agrees to, and the calendar's zone.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    /// Search window start (RFC 3339).
    pub(super) from: String,
    /// Search window end (RFC 3339).
    pub(super) to: String,
    /// The meeting's start (RFC 3339).
    pub(super) start: String,
}

impl Slot {
    /// Tomorrow at 10:00 in `zone` (searching 09:00–12:00).
    pub(super) fn tomorrow_at_ten(zone: &str) -> Result<Slot, String> {
        let tz = jiff::tz::TimeZone::get(zone).map_err(|e| e.to_string())?;
        let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
        let tomorrow = today.tomorrow().map_err(|e| e.to_string())?;
        let at = |h: i8| -> Result<String, String> {
            let z = tomorrow
                .at(h, 0, 0, 0)
                .to_zoned(tz.clone())
                .map_err(|e| e.to_string())?;
            Ok(z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
        };
        Ok(Slot {
            from: at(9)?,
            to: at(12)?,
            start: at(10)?,
        })
    }
}

fn say(text: &str) -> Turn {
    Turn {
        say: Some(text.to_owned()),
        tools: Vec::new(),
    }
}

fn call(name: &str, arguments: serde_json::Value) -> ScriptCall {
    ScriptCall {
        name: name.to_owned(),
        arguments,
    }
}

fn tool(name: &str, arguments: serde_json::Value) -> Turn {
    Turn {
        say: None,
        tools: vec![call(name, arguments)],
    }
}

/// The qualified prospect: volume, budget, authority and timeline, then a demo
/// booked for tomorrow at ten.
pub(super) fn dan_script(speech: &Speech, slot: &Slot) -> Result<Script, String> {
    let t = |id: &str| speech.line(id).map(|l| l.text.clone());
    let quote = t("dan_3")?;
    let mut last = say(&t("agent_dan_5")?);
    last.tools = vec![
        call(
            "book_meeting",
            json!({"start": slot.start, "duration_min": 30, "notes": "Tenex demo for Northwind Logistics"}),
        ),
        call(
            "submit_qualification",
            json!({
                "qualified": true, "score": 90,
                "reasons": ["about 2,000 support calls a month", "decides on tooling", "wants it live next quarter"],
                "budget": "fits the Growth plan at 900 dollars a month",
                "authority": "runs the support team",
                "need": "about 2,000 support calls a month",
                "timeline": "live next quarter",
                "next_steps": "demo tomorrow at 10:00",
                "evidence_quotes": [quote]
            }),
        ),
        call("end_call", json!({"reason": "done"})),
    ];
    Ok(Script {
        caller_lines: ["dan_1", "dan_2", "dan_3", "dan_4"]
            .iter()
            .map(|id| t(id))
            .collect::<Result<_, _>>()?,
        turns: vec![
            say(&t("agent_dan_1")?),
            say(&t("agent_dan_2")?),
            tool(
                "search_knowledge",
                json!({"query": "pricing for two thousand calls a month"}),
            ),
            say(&t("agent_dan_3")?),
            tool(
                "check_availability",
                json!({"from": slot.from, "to": slot.to}),
            ),
            say(&t("agent_dan_4")?),
            last,
        ],
        summary: Some(
            "Dan runs the support team at Northwind Logistics, which takes about 2,000 calls a \
             month. He decides on tooling, wants it live next quarter and booked a demo for \
             tomorrow at 10:00. Qualified."
                .into(),
        ),
    })
}

/// The unqualified prospect: a two-person shop with ten calls a month.
pub(super) fn tom_script(speech: &Speech) -> Result<Script, String> {
    let t = |id: &str| speech.line(id).map(|l| l.text.clone());
    let mut last = say(&t("agent_tom_3")?);
    last.tools = vec![
        call(
            "submit_qualification",
            json!({
                "qualified": false, "score": 10,
                "reasons": ["about ten calls a month", "two-person business"],
                "budget": "none stated",
                "authority": "owner",
                "need": "about ten calls a month",
                "timeline": "none",
                "next_steps": "none; not a fit at this volume",
                "evidence_quotes": [t("tom_2")?]
            }),
        ),
        call("end_call", json!({"reason": "done"})),
    ];
    Ok(Script {
        caller_lines: vec![t("tom_1")?, t("tom_2")?],
        turns: vec![say(&t("agent_tom_1")?), say(&t("agent_tom_2")?), last],
        summary: Some(
            "Tom runs a two-person bike shop with about ten support calls a month. Not a fit \
             at that volume. Not qualified."
                .into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_has_its_recording_and_every_script_line_exists() {
        let speech = Speech::load().expect("recordings");
        for (id, _) in RECORDINGS {
            let line = speech.line(id).expect("line");
            assert!(line.pcm.len() > 8000, "{id}: at least a second of speech");
            assert!(
                line.pcm.len() < 8 * 8000,
                "{id}: short enough for the playout queue"
            );
        }
        let slot = Slot::tomorrow_at_ten("America/Chicago").expect("slot");
        assert!(slot.start.contains("T10:00:00-0"), "{}", slot.start);
        let dan = dan_script(&speech, &slot).expect("dan");
        let tom = tom_script(&speech).expect("tom");
        let voice = speech.agent_voice();
        for script in [&dan, &tom] {
            for said in script.turns.iter().filter_map(|t| t.say.as_ref()) {
                let pcm = voice.get(said).expect("every agent line is recorded");
                // 24 kHz: three samples for each recorded one (and the flush).
                let line = speech
                    .lines
                    .values()
                    .find(|l| &l.text == said)
                    .expect("line");
                assert!(pcm.len() >= line.pcm.len() * 3, "{said}");
            }
        }
    }

    #[test]
    fn recorded_pauses_are_shorter_than_a_turn_ending_silence() {
        // The simulator ends a caller turn after 500 ms of silence, and the
        // lead phones answer after the agent has been quiet for longer: a pause
        // inside a line must stay well under both.
        let speech = Speech::load().expect("recordings");
        for (id, _) in RECORDINGS {
            let pcm = &speech.line(id).expect("line").pcm;
            let longest = longest_pause_ms(pcm);
            assert!(longest <= 300, "{id}: a {longest} ms pause");
        }
    }

    /// Turns the simulator's detector (the service's defaults: threshold 0.5,
    /// 500 ms of silence, the adaptive noise floor) finds in `pcm` after a
    /// G.711 round trip.
    fn turns(pcm: &[i16]) -> usize {
        use tenex_actors::tenex_media::g711;
        use tenex_actors::tenex_media::vad::{EnergyVad, VadConfig, VadEvent};
        let mut vad = EnergyVad::new(SampleRate::Hz8000, VadConfig::default()).expect("vad");
        let mut stops = 0;
        let silence = [0i16; 160 * 40];
        for frame in pcm.chunks_exact(160).chain(silence.chunks_exact(160)) {
            let phone: Vec<i16> = frame
                .iter()
                .map(|&s| g711::ulaw_decode(g711::ulaw_encode(s)))
                .collect();
            vad.handle_frame(&phone).expect("frame");
            while let Some(e) = vad.poll_event() {
                if matches!(e, VadEvent::SpeechStopped { .. }) {
                    stops += 1;
                }
            }
        }
        stops
    }

    #[test]
    fn each_lead_line_is_one_turn_for_the_simulated_service() {
        // A line heard as two turns would make the agent answer its first half
        // while the lead is still speaking, and the conversation would drift.
        let speech = Speech::load().expect("recordings");
        for (id, _) in RECORDINGS
            .iter()
            .filter(|(id, _)| !id.starts_with("agent_"))
        {
            let n = turns(&speech.line(id).expect("line").pcm);
            assert_eq!(n, 1, "{id}: {n} turns");
        }
    }

    fn longest_pause_ms(pcm: &[i16]) -> usize {
        let gate = 32768.0 * 10f64.powf(-45.0 / 20.0);
        let (mut run, mut longest) = (0, 0);
        for frame in pcm.chunks(160) {
            let rms = (frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>()
                / frame.len() as f64)
                .sqrt();
            run = if rms > gate { 0 } else { run + 20 };
            longest = longest.max(run);
        }
        longest
    }
}
