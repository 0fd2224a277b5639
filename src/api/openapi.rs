//! The API's OpenAPI 3 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the types they take and return, served at
//! `/api/v1/voice/openapi.json`; and a docs page (`/api/v1/voice/docs`) that
//! renders it in the browser with nothing fetched from elsewhere.
//!
//! The errors every endpoint shares are added by rule ([`Conventions`]), so no
//! operation can forget them: 401 and 429 on every authenticated operation,
//! 400/413/422 where a JSON body is read, 422 where query parameters are, 404
//! where the path names a resource, 500 everywhere.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder,
};
use utoipa::{Modify, OpenApi as _};

use super::error::ErrorBody;

/// The document's fixed parts: what the API is, its tags and auth.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "tenex-voice API",
        description = "Voice AI agents that qualify leads on the phone: configure agents, \
trunks and numbers, provision sessions, read calls with their transcripts, verdicts, \
recordings, latency and usage, and the workspace's metrics.\n\n\
Authenticate every request (except signed recording links and these docs) with \
`Authorization: Bearer tnx_...`; a key sees only its own workspace (another workspace's \
id answers 404, exactly like a missing one). Times are Unix milliseconds unless a field \
says otherwise. Errors are `{\"error\": {\"type\", \"message\", \"param\"}}`. \
Request bodies are JSON, at most 1 MiB. Each key may make 20 requests per second \
(bursts of 40); over that, 429 with `Retry-After`. Lists are newest first with cursor \
pagination: `?limit=` (1 to 200, default 50) and `?cursor=` from the previous page's \
`next_cursor` (`null` on the last page); rows created while paging never shift a page.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/api/v1/voice", description = "This server")),
    components(schemas(ErrorBody)),
    tags(
        (name = "workspace", description = "The key's workspace and its settings."),
        (name = "agents", description = "Voice agents: prompt, objectives, tools, greeting, \
call limit and voice profile. Edits change new calls only; each call keeps the exact \
configuration it ran with."),
        (name = "trunks", description = "SIP trunks: who may send calls, where outbound calls \
go, credentials, limits. The SIP leg applies a change to the next call."),
        (name = "numbers", description = "Inbound numbers routed to an agent and objective."),
        (name = "sessions", description = "Voice sessions: an outbound call placed now, or a \
one-time SIP URI for an inbound call."),
        (name = "calls", description = "Call records: state, outcome, transcript, verdict, \
recording, latency and usage."),
        (name = "recordings", description = "Call recordings behind signed, expiring links."),
        (name = "leads", description = "The embedded CRM's leads: status, latest verdict, \
qualification history and every call attempt, written back by each completed call."),
        (name = "knowledge", description = "Documents the agents' `search_knowledge` tool \
searches."),
        (name = "calendar", description = "The built-in calendar the agents book meetings in."),
        (name = "metrics", description = "Call metrics over a time range."),
        (name = "webhooks", description = "Webhook subscriptions, signed per the Standard \
Webhooks spec and delivered from a durable outbox; their delivery log and replay."),
        (name = "crm", description = "The external CRM connector each completed call's verdict \
is written to."),
        (name = "dnc", description = "The workspace's do-not-call list: numbers never dialed."),
        (name = "batches", description = "Outbound campaigns: a batch of leads called by the \
durable dialer within concurrency, calls-per-second, calling-window and retry rules; status, \
counts per outcome and per-lead results."),
        (name = "docs", description = "This document and its page."),
    )
)]
pub(super) struct ApiDoc;

/// The shared errors, security and responses, applied to every operation by
/// rule (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Conventions;

/// Shared responses: (component name, status, description).
const SHARED: &[(&str, &str, &str)] = &[
    (
        "BadRequest",
        "400",
        "Malformed request: the body is not JSON (`invalid_json`) or not \
         `Content-Type: application/json` (`invalid_request`).",
    ),
    (
        "Unauthorized",
        "401",
        "No API key, or a wrong or revoked one (`authentication_error`).",
    ),
    (
        "NotFound",
        "404",
        "No such resource in this key's workspace (`not_found`); another workspace's id \
         answers the same.",
    ),
    (
        "PayloadTooLarge",
        "413",
        "The body is over 1 MiB (`payload_too_large`).",
    ),
    (
        "ValidationFailed",
        "422",
        "A field or query parameter fails validation (`validation_error`); `param` names it.",
    ),
    (
        "RateLimited",
        "429",
        "Over this key's request rate (`rate_limited`); retry after `Retry-After` seconds.",
    ),
    (
        "InternalError",
        "500",
        "The server failed (`internal_error`); the failure is logged, the body has no detail.",
    ),
];

fn error_response(description: &str, retry_after: bool) -> Response {
    let mut r = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if retry_after {
        r = r.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::Integer)
                        .minimum(Some(1)),
                ))
                .description(Some("Seconds until the key may make another request."))
                .build(),
        );
    }
    r.build()
}

/// Whether the operation opted out of authentication (`security(())`).
fn is_public(op: &Operation) -> bool {
    op.security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()))
}

impl Modify for Conventions {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tnx_...")
                    .description(Some(
                        "A workspace API key (`tenex-voice keys create --workspace NAME`).",
                    ))
                    .build(),
            ),
        );
        for (name, status, description) in SHARED {
            components.responses.insert(
                (*name).to_owned(),
                error_response(description, *status == "429").into(),
            );
        }
        doc.security = Some(vec![SecurityRequirement::new(
            "api_key",
            Vec::<String>::new(),
        )]);
        for (path, item) in doc.paths.paths.iter_mut() {
            let names_resource = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                // Handler names repeat across resources (`get`, `list`): qualify
                // them with the tag so every operation id is unique.
                if let (Some(id), Some(tag)) = (&op.operation_id, op.tags.iter().flatten().next()) {
                    op.operation_id = Some(format!("{tag}_{id}"));
                }
                let public = is_public(op);
                let has_body = op.request_body.is_some();
                let has_query = op.parameters.iter().flatten().any(|p| match p {
                    RefOr::T(p) => p.parameter_in == utoipa::openapi::path::ParameterIn::Query,
                    RefOr::Ref(_) => false,
                });
                let mut add = |status: &str, name: &str| {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                        });
                };
                if !public {
                    add("401", "Unauthorized");
                    add("429", "RateLimited");
                }
                if has_body {
                    add("400", "BadRequest");
                    add("413", "PayloadTooLarge");
                    add("422", "ValidationFailed");
                }
                if has_query {
                    add("422", "ValidationFailed");
                }
                if names_resource {
                    add("404", "NotFound");
                }
                add("500", "InternalError");
            }
        }
    }
}

/// The API's document.
pub(super) fn document() -> OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::authenticated().into_openapi());
    doc.merge(super::public().into_openapi());
    Conventions.modify(&mut doc);
    doc
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| match document().to_pretty_json() {
    Ok(json) => json,
    Err(e) => {
        tracing::error!(error = %e, "the OpenAPI document does not serialize");
        String::from("{}")
    }
});

/// The OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    security(()),
    responses((status = 200, description = "The OpenAPI 3 document of this API.",
        content_type = "application/json", body = Object)),
)]
pub(super) async fn json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// The docs page.
///
/// Renders `openapi.json` in the browser, self-contained: no scripts, styles
/// or fonts from elsewhere.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    security(()),
    responses((status = 200, description = "An HTML page rendering the OpenAPI document.",
        content_type = "text/html")),
)]
pub(super) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self' 'unsafe-inline'; \
                 style-src 'unsafe-inline'; connect-src 'self'",
            ),
        ],
        include_str!("docs.html"),
    )
}
