//! SIP trunks: who may send us calls (source addresses and CIDRs), where
//! outbound calls go (host, port, transport, digest credentials, default
//! caller id), and how many calls the trunk carries (at once, per second).
//!
//! Digest credentials are write-only: they are stored for answering the
//! carrier's challenges and never returned by a read. Limits of 0 in the
//! database mean "no limit".

use serde::{Deserialize, Serialize};
use tenex_actors::sip::{self, Credentials, OutboundTrunk, SipTransport, parse_source};

use super::{Store, StoreError, StoreResult, is_e164, new_id, now_ms, on_db, page_sql, present};

/// Transport to the trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

/// Where outbound calls go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Host name or address of the carrier's SIP edge.
    pub host: String,
    /// Port (default 5060).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Transport (default udp).
    #[serde(default)]
    pub transport: Transport,
}

fn default_port() -> u16 {
    5060
}

/// Digest credentials for outbound calls (write-only).
#[derive(Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for TrunkCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A trunk to configure.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrunk {
    /// Unique in the workspace.
    pub name: String,
    /// Addresses or CIDRs allowed to send INVITEs.
    #[serde(default)]
    pub inbound_sources: Vec<String>,
    /// Where outbound calls go.
    #[serde(default)]
    pub outbound: Option<Destination>,
    /// Digest credentials for outbound calls.
    #[serde(default)]
    pub credentials: Option<TrunkCredentials>,
    /// Caller id (E.164) for outbound calls that do not give one.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Most calls at once (null: no limit but the engine's).
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    /// New calls per second (null: no limit).
    #[serde(default)]
    pub calls_per_second: Option<u32>,
}

/// Changes to a trunk: fields left out stay; `null` clears a nullable field.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkPatch {
    /// New name.
    pub name: Option<String>,
    /// New allowlist (replaces the old one).
    pub inbound_sources: Option<Vec<String>>,
    /// New destination, or null for an inbound-only trunk.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Destination>)]
    pub outbound: Option<Option<Destination>>,
    /// New credentials, or null to remove them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<TrunkCredentials>)]
    pub credentials: Option<Option<TrunkCredentials>>,
    /// New caller id, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub caller_id: Option<Option<String>>,
    /// New limit, or null for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub max_concurrent: Option<Option<u32>>,
    /// New limit, or null for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub calls_per_second: Option<Option<u32>>,
}

/// A configured trunk, as the API shows it (no password, no user name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Trunk {
    /// `trunk_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Allowed sources.
    pub inbound_sources: Vec<String>,
    /// Outbound destination.
    pub outbound: Option<Destination>,
    /// Whether digest credentials are set (they are never returned).
    pub credentials_set: bool,
    /// Default caller id.
    pub caller_id: Option<String>,
    /// Most calls at once.
    pub max_concurrent: Option<u32>,
    /// New calls per second.
    pub calls_per_second: Option<u32>,
    /// Created (Unix ms).
    pub created_at: i64,
    #[serde(skip)]
    credentials: Option<TrunkCredentials>,
}

impl Trunk {
    /// The SIP engine's view: named by id, with the credentials.
    pub fn engine_trunk(&self) -> sip::Trunk {
        sip::Trunk {
            name: self.id.clone(),
            // Validated when stored.
            inbound_sources: self
                .inbound_sources
                .iter()
                .filter_map(|s| parse_source(s).ok())
                .collect(),
            outbound: self.outbound_trunk(),
            max_concurrent: self.max_concurrent,
            calls_per_second: self.calls_per_second,
        }
    }

    /// Where the engine sends this trunk's outbound calls, if anywhere.
    pub fn outbound_trunk(&self) -> Option<OutboundTrunk> {
        let d = self.outbound.as_ref()?;
        Some(OutboundTrunk {
            host: d.host.clone(),
            port: d.port,
            transport: match d.transport {
                Transport::Udp => SipTransport::Udp,
                Transport::Tcp => SipTransport::Tcp,
            },
            credentials: self.credentials.as_ref().map(|c| Credentials {
                username: c.username.clone(),
                password: c.password.clone(),
            }),
            caller_id: self.caller_id.clone().unwrap_or_default(),
        })
    }

    fn validate(&self) -> StoreResult<()> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::invalid("name", "1 to 100 characters"));
        }
        if self.inbound_sources.len() > 100 {
            return Err(StoreError::invalid(
                "inbound_sources",
                "at most 100 entries",
            ));
        }
        for s in &self.inbound_sources {
            parse_source(s).map_err(|e| StoreError::invalid("inbound_sources", e))?;
        }
        if let Some(d) = &self.outbound {
            let host_ok = !d.host.is_empty()
                && d.host.len() <= 253
                && d.host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
            if !host_ok {
                return Err(StoreError::invalid(
                    "outbound.host",
                    "a host name or IP address",
                ));
            }
            if d.port == 0 {
                return Err(StoreError::invalid("outbound.port", "1 to 65535"));
            }
        }
        if let Some(c) = &self.credentials {
            if c.username.is_empty() || c.username.len() > 256 {
                return Err(StoreError::invalid(
                    "credentials.username",
                    "1 to 256 characters",
                ));
            }
            if c.password.is_empty() || c.password.len() > 256 {
                return Err(StoreError::invalid(
                    "credentials.password",
                    "1 to 256 characters",
                ));
            }
        }
        if let Some(id) = &self.caller_id
            && !is_e164(id)
        {
            return Err(StoreError::invalid(
                "caller_id",
                "must be E.164: + then 7 to 15 digits",
            ));
        }
        if self.outbound.is_some() && self.caller_id.is_none() {
            return Err(StoreError::invalid(
                "caller_id",
                "an outbound trunk needs a default caller id",
            ));
        }
        if self.max_concurrent == Some(0) {
            return Err(StoreError::invalid(
                "max_concurrent",
                "at least 1 (null for no limit)",
            ));
        }
        if self.calls_per_second == Some(0) {
            return Err(StoreError::invalid(
                "calls_per_second",
                "at least 1 (null for no limit)",
            ));
        }
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    inbound_sources: String,
    outbound: Option<String>,
    username: Option<String>,
    password: Option<String>,
    caller_id: Option<String>,
    max_concurrent: i64,
    calls_per_second: i64,
    created_at: i64,
}

impl Row {
    fn trunk(self) -> StoreResult<Trunk> {
        let limit = |n: i64| u32::try_from(n).ok().filter(|n| *n > 0);
        Ok(Trunk {
            id: self.id,
            name: self.name,
            inbound_sources: decode(&self.inbound_sources)?,
            outbound: self.outbound.as_deref().map(decode).transpose()?,
            credentials_set: self.username.is_some(),
            credentials: self
                .username
                .zip(self.password)
                .map(|(username, password)| TrunkCredentials { username, password }),
            caller_id: self.caller_id,
            max_concurrent: limit(self.max_concurrent),
            calls_per_second: limit(self.calls_per_second),
            created_at: self.created_at,
        })
    }
}

const COLUMNS: &str = "id, name, inbound_sources, outbound, username, password, caller_id, \
                       max_concurrent, calls_per_second, created_at";

impl Store {
    /// Configures a trunk; a name already used in the workspace is a conflict.
    pub async fn create_trunk(&self, workspace: &str, t: &NewTrunk) -> StoreResult<Trunk> {
        let trunk = Trunk {
            id: new_id("trunk"),
            name: t.name.trim().to_owned(),
            inbound_sources: t.inbound_sources.clone(),
            outbound: t.outbound.clone(),
            credentials_set: t.credentials.is_some(),
            credentials: t.credentials.clone(),
            caller_id: t.caller_id.clone(),
            max_concurrent: t.max_concurrent,
            calls_per_second: t.calls_per_second,
            created_at: now_ms(),
        };
        trunk.validate()?;
        let sql = "INSERT INTO trunks (id, workspace_id, name, inbound_sources, outbound, \
                   username, password, caller_id, max_concurrent, calls_per_second, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                   ON CONFLICT (workspace_id, name) DO NOTHING";
        let (sources, outbound, user, pass, max, cps) = columns(&trunk);
        let done = on_db!(self, pool => sqlx::query(sql)
            .bind(&trunk.id).bind(workspace).bind(&trunk.name).bind(&sources).bind(&outbound)
            .bind(&user).bind(&pass).bind(&trunk.caller_id).bind(max).bind(cps)
            .bind(trunk.created_at)
            .execute(pool).await?.rows_affected());
        if done == 0 {
            return Err(StoreError::Conflict(format!(
                "a trunk named {:?} exists",
                trunk.name
            )));
        }
        Ok(trunk)
    }

    /// The trunk `id` of `workspace`.
    pub async fn trunk(&self, workspace: &str, id: &str) -> StoreResult<Trunk> {
        let sql = format!("SELECT {COLUMNS} FROM trunks WHERE workspace_id = $1 AND id = $2");
        on_db!(self, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(id).fetch_optional(pool).await?)
        .ok_or(StoreError::NotFound)?
        .trunk()
    }

    /// `workspace`'s trunks, newest first, after `(created_at, id)`.
    pub async fn list_trunks(
        &self,
        workspace: &str,
        limit: u32,
        after: Option<(i64, String)>,
    ) -> StoreResult<Vec<Trunk>> {
        let (t, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = page_sql(COLUMNS, "trunks");
        let rows = on_db!(self, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).bind(t).bind(id).bind(i64::from(limit))
            .fetch_all(pool).await?);
        rows.into_iter().map(Row::trunk).collect()
    }

    /// Every workspace's trunks, for the SIP engine.
    pub async fn all_trunks(&self) -> StoreResult<Vec<Trunk>> {
        let sql = format!("SELECT {COLUMNS} FROM trunks ORDER BY created_at, id");
        let rows = on_db!(self, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .fetch_all(pool).await?);
        rows.into_iter().map(Row::trunk).collect()
    }

    /// The trunk outbound calls of `workspace` use when none is named: the
    /// oldest with an outbound destination.
    pub async fn default_outbound_trunk(&self, workspace: &str) -> StoreResult<Option<Trunk>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM trunks WHERE workspace_id = $1 AND outbound IS NOT NULL \
             ORDER BY created_at, id LIMIT 1"
        );
        on_db!(self, pool => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(workspace).fetch_optional(pool).await?)
        .map(Row::trunk)
        .transpose()
    }

    /// Applies `patch` to the trunk `id`.
    pub async fn update_trunk(
        &self,
        workspace: &str,
        id: &str,
        patch: &TrunkPatch,
    ) -> StoreResult<Trunk> {
        let mut t = self.trunk(workspace, id).await?;
        if let Some(n) = &patch.name {
            t.name = n.trim().to_owned();
        }
        if let Some(s) = &patch.inbound_sources {
            t.inbound_sources = s.clone();
        }
        if let Some(o) = &patch.outbound {
            t.outbound = o.clone();
        }
        if let Some(c) = &patch.credentials {
            t.credentials = c.clone();
            t.credentials_set = c.is_some();
        }
        if let Some(c) = &patch.caller_id {
            t.caller_id = c.clone();
        }
        if let Some(m) = patch.max_concurrent {
            t.max_concurrent = m;
        }
        if let Some(c) = patch.calls_per_second {
            t.calls_per_second = c;
        }
        t.validate()?;
        let (sources, outbound, user, pass, max, cps) = columns(&t);
        let sql = "UPDATE trunks SET name = $1, inbound_sources = $2, outbound = $3, \
                   username = $4, password = $5, caller_id = $6, max_concurrent = $7, \
                   calls_per_second = $8 WHERE workspace_id = $9 AND id = $10";
        on_db!(self, pool => sqlx::query(sql)
            .bind(&t.name).bind(&sources).bind(&outbound).bind(&user).bind(&pass)
            .bind(&t.caller_id).bind(max).bind(cps).bind(workspace).bind(id)
            .execute(pool).await.map(drop))
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("a trunk named {:?} exists", t.name))
            }
            e => e.into(),
        })?;
        Ok(t)
    }

    /// Removes the trunk `id` of `workspace`.
    pub async fn delete_trunk(&self, workspace: &str, id: &str) -> StoreResult<()> {
        let sql = "SELECT id FROM batches WHERE workspace_id = $1 AND trunk_id = $2 \
                   AND status IN ('queued', 'running', 'paused') LIMIT 1";
        let busy: Option<String> = on_db!(self, pool => sqlx::query_scalar(sql)
            .bind(workspace).bind(id).fetch_optional(pool).await?);
        if let Some(batch) = busy {
            return Err(StoreError::Conflict(format!(
                "batch {batch} dials through this trunk: cancel it (or let it finish) first"
            )));
        }
        let sql = "DELETE FROM trunks WHERE workspace_id = $1 AND id = $2";
        let n = on_db!(self, pool => sqlx::query(sql).bind(workspace).bind(id)
            .execute(pool).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

type Columns = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

fn columns(t: &Trunk) -> Columns {
    // Plain strings and numbers: serializing cannot fail.
    (
        serde_json::to_string(&t.inbound_sources).unwrap_or_default(),
        t.outbound
            .as_ref()
            .map(|o| serde_json::to_string(o).unwrap_or_default()),
        t.credentials.as_ref().map(|c| c.username.clone()),
        t.credentials.as_ref().map(|c| c.password.clone()),
        i64::from(t.max_concurrent.unwrap_or(0)),
        i64::from(t.calls_per_second.unwrap_or(0)),
    )
}

fn decode<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))
}
