//! Agents: the prompt, objective templates, tools, greeting and call limit of
//! a voice agent, and its voice profile. A call copies the agent into the exact
//! [`AgentConfig`] it runs with (stored with the call), so edits affect new
//! calls only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tenex_actors::realtime::{AgentConfig, TurnMode, tools};

use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db, page_sql};

/// Voices the Realtime service offers.
pub const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "marin", "sage", "shimmer", "verse",
];

/// Shortest and longest `max_duration_s`.
pub const MAX_DURATION_RANGE: (u32, u32) = (10, 4 * 3600);

/// How the agent hears the caller's turn end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TurnDetection {
    /// Energy-based voice activity detection.
    ServerVad {
        /// Activation threshold, 0 to 1 (default 0.5).
        #[serde(default = "default_threshold")]
        threshold: f32,
        /// Audio kept before detected speech, ms (default 300).
        #[serde(default = "default_prefix")]
        prefix_padding_ms: u32,
        /// Silence that ends a turn, ms (default 500).
        #[serde(default = "default_silence")]
        silence_duration_ms: u32,
    },
    /// Model-based end-of-turn detection.
    SemanticVad {
        /// `low`, `medium`, `high` or `auto` (default).
        #[serde(default = "default_eagerness")]
        eagerness: String,
    },
}

fn default_threshold() -> f32 {
    0.5
}
fn default_prefix() -> u32 {
    300
}
fn default_silence() -> u32 {
    500
}
fn default_eagerness() -> String {
    "auto".into()
}

/// Audio sent to the Realtime service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AudioPreference {
    /// 24 kHz PCM16, resampled from the call's codec.
    Pcm16,
    /// G.711 straight through when the call is G.711 (PCM16 otherwise).
    Passthrough,
}

/// How the agent sounds and listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceProfile {
    /// One of [`VOICES`] (default `marin`).
    #[serde(default = "default_voice")]
    pub voice: String,
    /// Speaking speed, 0.25 to 1.5 (default 1.0).
    #[serde(default = "default_speed")]
    pub speed: f32,
    /// Language hint for transcription (ISO 639-1, e.g. `en`); `null` detects.
    #[serde(default)]
    pub language: Option<String>,
    /// Turn detection (default server VAD).
    #[serde(default = "default_turn")]
    pub turn_detection: TurnDetection,
    /// Caller transcription model; `null` turns the caller transcript off.
    #[serde(default = "default_transcription")]
    pub transcription_model: Option<String>,
    /// Audio format preference (default `pcm16`).
    #[serde(default = "default_audio")]
    pub audio_format: AudioPreference,
    /// `near_field`, `far_field` or `null` (default `near_field`).
    #[serde(default = "default_noise")]
    pub noise_reduction: Option<String>,
}

fn default_voice() -> String {
    "marin".into()
}
fn default_speed() -> f32 {
    1.0
}
fn default_turn() -> TurnDetection {
    TurnDetection::ServerVad {
        threshold: default_threshold(),
        prefix_padding_ms: default_prefix(),
        silence_duration_ms: default_silence(),
    }
}
fn default_transcription() -> Option<String> {
    Some("gpt-4o-mini-transcribe".into())
}
fn default_audio() -> AudioPreference {
    AudioPreference::Pcm16
}
fn default_noise() -> Option<String> {
    Some("near_field".into())
}

impl Default for VoiceProfile {
    fn default() -> VoiceProfile {
        VoiceProfile {
            voice: default_voice(),
            speed: default_speed(),
            language: None,
            turn_detection: default_turn(),
            transcription_model: default_transcription(),
            audio_format: default_audio(),
            noise_reduction: default_noise(),
        }
    }
}

impl VoiceProfile {
    /// Checks every field.
    pub fn validate(&self) -> StoreResult<()> {
        if !VOICES.contains(&self.voice.as_str()) {
            return Err(StoreError::invalid(
                "voice",
                format!("one of {}", VOICES.join(", ")),
            ));
        }
        if !(0.25..=1.5).contains(&self.speed) {
            return Err(StoreError::invalid("speed", "0.25 to 1.5"));
        }
        if let Some(l) = &self.language
            && !(l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return Err(StoreError::invalid(
                "language",
                "an ISO 639-1 code such as en or de",
            ));
        }
        match &self.turn_detection {
            TurnDetection::ServerVad {
                threshold,
                prefix_padding_ms,
                silence_duration_ms,
            } => {
                if !(0.0..=1.0).contains(threshold) {
                    return Err(StoreError::invalid("threshold", "0 to 1"));
                }
                if *prefix_padding_ms > 2000 {
                    return Err(StoreError::invalid("prefix_padding_ms", "0 to 2000"));
                }
                if !(100..=5000).contains(silence_duration_ms) {
                    return Err(StoreError::invalid("silence_duration_ms", "100 to 5000"));
                }
            }
            TurnDetection::SemanticVad { eagerness } => {
                if !["low", "medium", "high", "auto"].contains(&eagerness.as_str()) {
                    return Err(StoreError::invalid(
                        "eagerness",
                        "low, medium, high or auto",
                    ));
                }
            }
        }
        if self
            .transcription_model
            .as_ref()
            .is_some_and(|m| m.trim().is_empty() || m.len() > 100)
        {
            return Err(StoreError::invalid(
                "transcription_model",
                "a model name, or null for no caller transcript",
            ));
        }
        if let Some(n) = &self.noise_reduction
            && n != "near_field"
            && n != "far_field"
        {
            return Err(StoreError::invalid(
                "noise_reduction",
                "near_field, far_field or null",
            ));
        }
        Ok(())
    }
}

/// An agent to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    /// Unique in the workspace.
    pub name: String,
    /// The system prompt.
    pub system_prompt: String,
    /// Named objectives (`qualify_for_demo` → instructions); a call's objective
    /// is one of these names or free text.
    #[serde(default)]
    pub objective_templates: BTreeMap<String, String>,
    /// Tools the agent may use (default all).
    #[serde(default = "all_tools")]
    pub tools: Vec<String>,
    /// Instructions for the first thing the agent says; `null` lets it choose.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Longest call, seconds (10 to 14400, default 900); then the agent hangs up.
    #[serde(default = "default_max_duration")]
    pub max_duration_s: u32,
    /// Voice profile (defaults for missing fields).
    #[serde(default)]
    pub voice_profile: VoiceProfile,
}

fn all_tools() -> Vec<String> {
    tools::ALL.iter().map(|t| (*t).to_owned()).collect()
}
fn default_max_duration() -> u32 {
    900
}

/// Changes to an agent (`PATCH`): absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    /// New name.
    pub name: Option<String>,
    /// New system prompt.
    pub system_prompt: Option<String>,
    /// New objective templates (replaces all).
    pub objective_templates: Option<BTreeMap<String, String>>,
    /// New tool list.
    pub tools: Option<Vec<String>>,
    /// New greeting instructions (`""` clears).
    pub greeting: Option<String>,
    /// New call limit.
    pub max_duration_s: Option<u32>,
}

/// A stored agent.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Agent {
    /// `agent_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// System prompt.
    pub system_prompt: String,
    /// Named objectives.
    pub objective_templates: BTreeMap<String, String>,
    /// Enabled tools.
    pub tools: Vec<String>,
    /// Greeting instructions.
    pub greeting: Option<String>,
    /// Longest call, seconds.
    pub max_duration_s: u32,
    /// Voice profile.
    pub voice_profile: VoiceProfile,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
}

impl Store {
    /// The workspace's oldest agent, if it has one.
    pub async fn first_agent(&self, workspace: &str) -> StoreResult<Option<String>> {
        let sql = "SELECT id FROM agents WHERE workspace_id = $1 ORDER BY created_at, id LIMIT 1";
        Ok(on_db!(self, pool => sqlx::query_scalar(sql).bind(workspace)
            .fetch_optional(pool).await?))
    }
}

/// The built-in objective template `name`, if there is one.
fn builtin(name: &str) -> Option<&'static (&'static str, &'static str, &'static [&'static str])> {
    super::batches::OBJECTIVE_TEMPLATES
        .iter()
        .find(|(n, _, _)| *n == name)
}

impl Agent {
    /// The objective text for `objective`: a template's instructions when it
    /// names one, else the text itself.
    pub fn objective(&self, objective: &str) -> String {
        self.objective_templates
            .get(objective)
            .cloned()
            .or_else(|| builtin(objective).map(|(_, text, _)| (*text).to_owned()))
            .unwrap_or_else(|| objective.to_owned())
    }

    /// The exact configuration a call runs with.
    pub fn config(&self, model: &str, objective: &str, lead_context: String) -> AgentConfig {
        let v = &self.voice_profile;
        AgentConfig {
            model: model.to_owned(),
            system_prompt: self.system_prompt.clone(),
            objective: self.objective(objective),
            lead_context,
            voice: v.voice.clone(),
            speed: v.speed,
            turn: match &v.turn_detection {
                TurnDetection::ServerVad {
                    threshold,
                    prefix_padding_ms,
                    silence_duration_ms,
                } => TurnMode::ServerVad {
                    threshold: *threshold,
                    prefix_padding_ms: *prefix_padding_ms,
                    silence_duration_ms: *silence_duration_ms,
                },
                TurnDetection::SemanticVad { eagerness } => TurnMode::SemanticVad {
                    eagerness: eagerness.clone(),
                },
            },
            transcription_model: v.transcription_model.clone(),
            language: v.language.clone(),
            noise_reduction: v.noise_reduction.clone(),
            passthrough: v.audio_format == AudioPreference::Passthrough,
            tools: self.tools.clone(),
            // A built-in template shapes the verdict too (an agent's own
            // template of the same name is text only).
            verdict_required: builtin(objective)
                .filter(|_| !self.objective_templates.contains_key(objective))
                .map(|(_, _, fields)| fields.iter().map(|f| (*f).to_owned()).collect())
                .unwrap_or_default(),
            greeting: self.greeting.clone(),
            max_duration: Some(Duration::from_secs(u64::from(self.max_duration_s))),
            ..AgentConfig::default()
        }
    }
}

fn check_text(param: &'static str, s: &str, max: usize) -> StoreResult<()> {
    if s.trim().is_empty() || s.len() > max {
        return Err(StoreError::invalid(param, format!("1 to {max} characters")));
    }
    Ok(())
}

fn check_tools(list: &[String]) -> StoreResult<()> {
    match list.iter().find(|t| !tools::ALL.contains(&t.as_str())) {
        Some(t) => Err(StoreError::invalid(
            "tools",
            format!("unknown tool {t:?}; known: {}", tools::ALL.join(", ")),
        )),
        None => Ok(()),
    }
}

fn check_duration(s: u32) -> StoreResult<()> {
    let (lo, hi) = MAX_DURATION_RANGE;
    if !(lo..=hi).contains(&s) {
        return Err(StoreError::invalid(
            "max_duration_s",
            format!("{lo} to {hi} seconds"),
        ));
    }
    Ok(())
}

fn check_templates(t: &BTreeMap<String, String>) -> StoreResult<()> {
    if t.len() > 50
        || t.iter()
            .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 8000)
    {
        return Err(StoreError::invalid(
            "objective_templates",
            "at most 50 templates, names of 1 to 64 characters, texts up to 8000",
        ));
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: String,
    name: String,
    system_prompt: String,
    objective_templates: String,
    tools: String,
    greeting: Option<String>,
    max_duration_s: i64,
    voice_profile: String,
    created_at: i64,
    updated_at: i64,
}

impl From<AgentRow> for Agent {
    fn from(r: AgentRow) -> Agent {
        Agent {
            id: r.id,
            name: r.name,
            system_prompt: r.system_prompt,
            objective_templates: serde_json::from_str(&r.objective_templates).unwrap_or_default(),
            tools: serde_json::from_str(&r.tools).unwrap_or_default(),
            greeting: r.greeting,
            max_duration_s: u32::try_from(r.max_duration_s).unwrap_or(u32::MAX),
            voice_profile: serde_json::from_str(&r.voice_profile).unwrap_or_default(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, name, system_prompt, objective_templates, tools, greeting, \
                       max_duration_s, voice_profile, created_at, updated_at";

fn json(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn name_taken(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("an agent named {name:?} exists in this workspace"))
        }
        _ => StoreError::Db(e),
    }
}

impl Store {
    /// Creates an agent; a taken name is a conflict.
    pub async fn create_agent(&self, workspace: &str, a: &NewAgent) -> StoreResult<Agent> {
        check_text("name", &a.name, 100)?;
        check_text("system_prompt", &a.system_prompt, 32_000)?;
        check_templates(&a.objective_templates)?;
        check_tools(&a.tools)?;
        check_duration(a.max_duration_s)?;
        a.voice_profile.validate()?;
        let now = now_ms();
        let agent = Agent {
            id: new_id("agent"),
            name: a.name.trim().to_owned(),
            system_prompt: a.system_prompt.clone(),
            objective_templates: a.objective_templates.clone(),
            tools: a.tools.clone(),
            greeting: a.greeting.clone().filter(|g| !g.is_empty()),
            max_duration_s: a.max_duration_s,
            voice_profile: a.voice_profile.clone(),
            created_at: now,
            updated_at: now,
        };
        let sql = format!(
            "INSERT INTO agents (workspace_id, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        on_db!(self, pool => sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(&agent.id).bind(&agent.name).bind(&agent.system_prompt)
            .bind(json(&agent.objective_templates)).bind(json(&agent.tools))
            .bind(&agent.greeting).bind(i64::from(agent.max_duration_s))
            .bind(json(&agent.voice_profile)).bind(now).bind(now)
            .execute(pool).await.map_err(|e| name_taken(e, &agent.name))?.rows_affected());
        Ok(agent)
    }

    /// The agent `id` of `workspace`.
    pub async fn agent(&self, workspace: &str, id: &str) -> StoreResult<Agent> {
        let sql = format!("SELECT {COLUMNS} FROM agents WHERE workspace_id = $1 AND id = $2");
        on_db!(self, pool => sqlx::query_as::<_, AgentRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .map(Agent::from)
        .ok_or(StoreError::NotFound)
    }

    /// `workspace`'s agents, newest first, after the `(created_at, id)` position.
    pub async fn list_agents(
        &self,
        workspace: &str,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<Agent>> {
        let (t, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = page_sql(COLUMNS, "agents");
        let rows = on_db!(self, pool => sqlx::query_as::<_, AgentRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(t).bind(id).bind(i64::from(limit))
            .fetch_all(pool).await?);
        Ok(rows.into_iter().map(Agent::from).collect())
    }

    /// Applies `patch` to the agent `id`.
    pub async fn update_agent(
        &self,
        workspace: &str,
        id: &str,
        patch: &AgentPatch,
    ) -> StoreResult<Agent> {
        let mut a = self.agent(workspace, id).await?;
        if let Some(n) = &patch.name {
            check_text("name", n, 100)?;
            a.name = n.trim().to_owned();
        }
        if let Some(p) = &patch.system_prompt {
            check_text("system_prompt", p, 32_000)?;
            a.system_prompt = p.clone();
        }
        if let Some(t) = &patch.objective_templates {
            check_templates(t)?;
            a.objective_templates = t.clone();
        }
        if let Some(t) = &patch.tools {
            check_tools(t)?;
            a.tools = t.clone();
        }
        if let Some(g) = &patch.greeting {
            a.greeting = Some(g.clone()).filter(|g| !g.is_empty());
        }
        if let Some(d) = patch.max_duration_s {
            check_duration(d)?;
            a.max_duration_s = d;
        }
        self.save_agent(workspace, a).await
    }

    /// Replaces the agent's voice profile.
    pub async fn set_voice_profile(
        &self,
        workspace: &str,
        id: &str,
        profile: &VoiceProfile,
    ) -> StoreResult<Agent> {
        profile.validate()?;
        let mut a = self.agent(workspace, id).await?;
        a.voice_profile = profile.clone();
        self.save_agent(workspace, a).await
    }

    async fn save_agent(&self, workspace: &str, mut a: Agent) -> StoreResult<Agent> {
        a.updated_at = now_ms().max(a.updated_at);
        let sql = "UPDATE agents SET name = $1, system_prompt = $2, objective_templates = $3, \
                   tools = $4, greeting = $5, max_duration_s = $6, voice_profile = $7, \
                   updated_at = $8 WHERE workspace_id = $9 AND id = $10";
        let n = on_db!(self, pool => sqlx::query(sql)
            .bind(&a.name).bind(&a.system_prompt).bind(json(&a.objective_templates))
            .bind(json(&a.tools)).bind(&a.greeting).bind(i64::from(a.max_duration_s))
            .bind(json(&a.voice_profile)).bind(a.updated_at).bind(workspace).bind(&a.id)
            .execute(pool).await.map_err(|e| name_taken(e, &a.name))?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(a)
    }
}
