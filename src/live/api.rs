//! The HTTP API of a live node, on 127.0.0.1 only: JSON in and out.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/status` | id, UDP address, peers known and verified, sessions, records held, uptime, whether it listens for streams, its open streams |
//! | `GET /api/peers` | the routing table, closest first |
//! | `GET /api/ping` | pings the 3 closest peers: their ids and round-trip times in ms |
//! | `GET /api/lookup/{id-hex}` | FIND_PEER of that node: `found`, `found_as` (`listed`: it answered; `declared`: its signed declaration was read) and its declared `relays`, the closest that answered and the hops taken |
//! | `GET /api/connect/{id-hex}` | finds a peer by its key and opens a session: the path taken (`direct`, `punched`, `relayed`, `mailbox`) |
//! | `PUT /api/immutable` | stores the raw body (at most 1000 bytes) under its SHA-256 |
//! | `GET /api/immutable/{key-hex}` | the value stored under a key |
//! | `PUT /api/mutable/{salt}[?seq=N]` | stores the body as this node's record for `salt` |
//! | `GET /api/mutable/{pubkey-hex}/{salt}[?seq=N&latest=true]` | a node's record for `salt` |
//! | `POST /api/announce/{topic-hex}` | announces this node under a topic; optional body `{"relays": ["ip:port"]}` |
//! | `DELETE /api/announce/{topic-hex}` | withdraws the announcement |
//! | `GET /api/topic/{topic-hex}` | the peers announced under a topic |
//! | `POST /api/stream/{id-hex}` | finds the peer, opens a stream to it, sends the body (at most 64 KiB), ends it, and answers with what the peer sent back (at most 1 MiB); `x-dswarm-path` and `x-dswarm-handshake` say how |
//! | `GET /metrics` | the node's counters in the Prometheus text format |
//! | `GET /dht` | a WebSocket: every route above as a JSON-RPC 2.0 method, and the node's events as notifications (see [`super::ws`]) |
//! | `GET /` | the dashboard: one self-contained page that watches the node (and every node of its process) over `/dht` |
//!
//! A salt is the path segment's UTF-8 bytes (percent-decoded), at most 32. Values come
//! back as `value` (the text, or `null` when the bytes are not UTF-8) and `value_hex`.
//! Writes answer how many of the k closest nodes stored the record, which refused it
//! and why, and how many did not answer.
//!
//! Requests a web page could have sent (a foreign `Host` or `Origin`) are refused with
//! 403 before any route, and connections are bounded: see [`super::http`].
//!
//! Errors are `{"error": "…"}` with a 4xx or 5xx status: 400 for bad input (hex, JSON,
//! query strings, salts and relay lists over their limits), 404 for unknown routes and
//! records not found, 405 for a known route with another method, 413 for a value over
//! 1000 bytes, 503 while the node knows no peers, 504 when a query does not finish
//! within the API's timeout. Nothing hangs. Errors axum produces itself (a query string
//! that does not parse, a body over the read limit) are rewritten into the same JSON.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::driver::{Control, Finished, Snapshot};
use super::http::{self, Guard};
use super::stream::{LiveStream, StreamControl};
use super::ws::{self, Events};
use crate::proto::id::Key;
use crate::proto::lookup::Found;
use crate::proto::node::{
    Command, CommandError, ConnectPath, QueryError, QueryOutcome, StoreResult,
};
use crate::proto::store::{MutableRecord, MAX_RELAYS, MAX_SALT, MAX_VALUE};
use crate::proto::stream::StreamError;
use crate::proto::NodeId;

/// The most of a request body the API reads at all. Values are held to [`MAX_VALUE`]
/// after reading, so that a slightly oversized one gets a precise message; this bound
/// only keeps a client from making the node buffer megabytes.
const BODY_LIMIT: usize = 64 * 1024;

/// What every handler needs: the way to the node and what it is.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The node's control channel.
    pub control: mpsc::Sender<Control>,
    /// Its id, which is also the public key its mutable records are signed with.
    pub id: NodeId,
    /// Its UDP address.
    pub udp: SocketAddr,
    /// How long a query may take before the API answers 504.
    pub query_timeout: Duration,
    /// Who may call, and what was refused.
    pub guard: Guard,
    /// Its events, for the WebSocket's subscribers.
    pub events: Events,
}

/// An API error: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    /// An error of `status` saying `message`.
    pub fn new(status: StatusCode, message: String) -> ApiError {
        ApiError(status, message)
    }

    /// Its status and message.
    pub fn parts(self) -> (StatusCode, String) {
        (self.0, self.1)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// The router of one node's API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/peers", get(peers))
        .route("/api/ping", get(ping))
        .route("/api/lookup/{id}", get(lookup))
        .route("/api/connect/{id}", get(connect))
        .route("/api/immutable", put(immutable_put))
        .route("/api/immutable/{key}", get(immutable_get))
        .route("/api/mutable/{salt}", put(mutable_put))
        .route("/api/mutable/{public_key}/{salt}", get(mutable_get))
        .route("/api/announce/{topic}", post(announce).delete(unannounce))
        .route("/api/topic/{topic}", get(topic))
        .route("/api/stream/{id}", post(stream))
        .route("/metrics", get(metrics))
        .route("/dht", get(ws::upgrade))
        .route("/", get(dashboard))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(
            state.guard.clone(),
            http::check,
        ))
        .with_state(state)
}

/// Rewrites the errors axum answers by itself (extractor rejections in plain text, an
/// empty 405) into `{"error": …}`, keeping their status and other headers.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        text => text.to_string(),
    };
    let body = json!({ "error": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

fn bad_request(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message)
}

/// The node's task has ended: nothing can answer.
fn gone() -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the node has stopped".into(),
    )
}

/// Sends a control message built around a reply channel, and waits for the reply.
async fn ask<T>(
    state: &ApiState,
    message: impl FnOnce(oneshot::Sender<T>) -> Control,
) -> Result<oneshot::Receiver<T>, ApiError> {
    let (reply, answer) = oneshot::channel();
    state
        .control
        .send(message(reply))
        .await
        .map_err(|_| gone())?;
    Ok(answer)
}

async fn snapshot(state: &ApiState) -> Result<Snapshot, ApiError> {
    let answer = ask(state, |reply| Control::Snapshot { reply }).await?;
    answer.await.map_err(|_| gone())
}

async fn run(state: &ApiState, command: Command) -> Result<Finished, ApiError> {
    let name = command_name(&command);
    let answer = ask(state, |reply| Control::Run { command, reply }).await?;
    let finished = tokio::time::timeout(state.query_timeout, answer)
        .await
        .map_err(|_| {
            ApiError(
                StatusCode::GATEWAY_TIMEOUT,
                "the query did not finish in time".into(),
            )
        })?
        .map_err(|_| gone())?;
    if let Ok(finished) = &finished {
        // The driver answers the caller, not the event stream: its subscribers hear of
        // the API's queries here.
        let mut event = super::ws::event_json(&crate::proto::node::Event::QueryFinished {
            query: finished.query,
            elapsed: finished.elapsed,
            outcome: finished.outcome.clone(),
        });
        event["command"] = Value::from(name);
        state.events.publish_json(event);
    }
    finished.map_err(|error| match error {
        CommandError::NoPeers => ApiError(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
        // The handlers check sizes first; this is the node's own check agreeing.
        CommandError::TooLarge { .. } => ApiError(StatusCode::PAYLOAD_TOO_LARGE, error.to_string()),
        other => ApiError(StatusCode::CONFLICT, other.to_string()),
    })
}

/// A command's name, for the events of the queries the API runs.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::PingClosest(_) => "ping",
        Command::FindNode(_) => "lookup",
        Command::Connect(_) => "connect",
        Command::ImmutablePut(_) => "immutable_put",
        Command::ImmutableGet(_) => "immutable_get",
        Command::MutablePut { .. } => "mutable_put",
        Command::MutableGet { .. } => "mutable_get",
        Command::Announce { .. } => "announce",
        Command::Unannounce(_) => "unannounce",
        Command::TopicLookup(_) => "topic",
        _ => "other",
    }
}

/// `GET /`: the dashboard, one self-contained page (its script inline, nothing fetched
/// from elsewhere) that watches this node, and every node of its process, over `/dht`.
async fn dashboard() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        DASHBOARD,
    )
        .into_response()
}

/// The dashboard page.
pub const DASHBOARD: &str = include_str!("dashboard.html");

/// This process's nodes, for the `swarm` method: each one's id and API address.
pub(super) fn swarm(state: &ApiState) -> Value {
    let mut members = state.guard.roster.members();
    if members.is_empty() {
        members.push((state.id, state.guard.address));
    }
    let nodes: Vec<Value> = members
        .iter()
        .map(|(id, api)| json!({ "id": id.to_string(), "api": api.to_string() }))
        .collect();
    json!({ "self": state.id.to_string(), "nodes": nodes })
}

/// The error for an outcome a handler did not expect of its command.
fn failed(outcome: QueryOutcome) -> ApiError {
    match outcome {
        QueryOutcome::Failed(QueryError::Timeout) => {
            ApiError(StatusCode::GATEWAY_TIMEOUT, "the query timed out".into())
        }
        other => ApiError(StatusCode::BAD_GATEWAY, format!("{other:?}")),
    }
}

fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not found".into())
}

/// Parses a 64-hex-digit key from a path segment.
fn parse_key(what: &str, text: &str) -> Result<Key, ApiError> {
    text.parse()
        .map_err(|error| bad_request(format!("bad {what} `{text}`: {error}")))
}

/// A value must fit in one record.
fn check_value(value: &[u8]) -> Result<(), ApiError> {
    if value.len() > MAX_VALUE {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "value of {} bytes is over the limit of {MAX_VALUE}",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// A salt is the path segment's bytes, at most [`MAX_SALT`].
fn check_salt(salt: &str) -> Result<(), ApiError> {
    if salt.len() > MAX_SALT {
        return Err(bad_request(format!(
            "salt of {} bytes is over the limit of {MAX_SALT}",
            salt.len()
        )));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A value as text where it is UTF-8 (`null` otherwise), and always as hex.
fn value_json(value: &[u8]) -> (Value, Value) {
    let text = std::str::from_utf8(value).map_or(Value::Null, Value::from);
    (text, Value::from(hex(value)))
}

/// How a write went: the key, who stored it, who refused it and why, who was silent.
fn store_json(result: &StoreResult) -> Value {
    let refused: Vec<Value> = result
        .refused
        .iter()
        .map(|(peer, why)| json!({ "peer": peer.to_string(), "reason": why.to_string() }))
        .collect();
    json!({
        "key": result.key.to_string(),
        "stored": result.stored,
        "refused": refused,
        "unanswered": result.unanswered,
    })
}

fn record_json(record: &MutableRecord) -> Value {
    let (value, value_hex) = value_json(&record.value);
    let (salt, salt_hex) = value_json(&record.salt);
    json!({
        "public_key": record.public_key.to_string(),
        "salt": salt,
        "salt_hex": salt_hex,
        "seq": record.seq,
        "key": record.key().to_string(),
        "value": value,
        "value_hex": value_hex,
        "signature": hex(&record.signature),
    })
}

/// Adds `fields` to a JSON object.
fn with(mut object: Value, fields: Value) -> Value {
    if let (Value::Object(object), Value::Object(fields)) = (&mut object, fields) {
        object.extend(fields);
    }
    object
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub(super) async fn status(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let s = snapshot(&state).await?;
    Ok(Json(json!({
        "id": s.id.to_string(),
        "udp": state.udp.to_string(),
        "peers_known": s.peers.len(),
        "peers_verified": s.peers.len(),
        "sessions": s.sessions,
        "records_held": s.records_held,
        "uptime_secs": s.uptime.as_secs_f64(),
        "nat": s.nat.name(),
        "reflexive": s.reflexive.map(|a| a.to_string()),
        "mailbox": s.mailbox.map(|a| a.to_string()),
        "listening": s.listening,
        "streams": s.streams.iter().map(|info| json!({
            "peer": info.stream.peer.to_string(),
            "number": info.stream.number,
            "incoming": info.incoming,
            "sent": info.sent,
            "received": info.received,
            "buffered": info.buffered,
            "window": info.window,
            "srtt_ms": info.srtt_ms,
        })).collect::<Vec<_>>(),
    })))
}

pub(super) async fn peers(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let s = snapshot(&state).await?;
    let peers: Vec<Value> = s
        .peers
        .iter()
        .map(|c| {
            json!({
                "id": c.id.to_string(),
                "addr": c.addr.to_string(),
                "bucket": s.id.bucket_index(&c.id),
                "verified": true,
                "failures": c.failures,
            })
        })
        .collect();
    Ok(Json(json!({ "id": s.id.to_string(), "peers": peers })))
}

pub(super) async fn ping(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let finished = run(&state, Command::PingClosest(3)).await?;
    let QueryOutcome::PingedClosest(results) = finished.outcome else {
        return Err(ApiError(
            StatusCode::BAD_GATEWAY,
            format!("{:?}", finished.outcome),
        ));
    };
    let peers: Vec<Value> = results
        .iter()
        .map(|r| json!({ "id": r.peer.to_string(), "rtt_ms": r.rtt.map(ms) }))
        .collect();
    Ok(Json(json!({ "peers": peers })))
}

pub(super) async fn lookup(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let target: NodeId = id.parse().map_err(|error| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("bad node id `{id}`: {error}"),
        )
    })?;
    let finished = run(&state, Command::FindNode(target)).await?;
    match finished.outcome {
        QueryOutcome::Found(result) => {
            let closest: Vec<Value> = result
                .closest
                .iter()
                .map(|c| json!({ "id": c.id.to_string(), "addr": c.addr.to_string() }))
                .collect();
            let relays: Vec<String> = match &result.found {
                Some(Found::Declared { relays }) => relays.iter().map(|a| a.to_string()).collect(),
                _ => Vec::new(),
            };
            Ok(Json(json!({
                "target": target.to_string(),
                "found": result.found.is_some(),
                "found_as": result.found.as_ref().map(Found::name),
                "relays": relays,
                "hops": result.hops,
                "contacted": result.contacted,
                "failed": result.failed,
                "elapsed_ms": ms(finished.elapsed),
                "closest": closest,
            })))
        }
        QueryOutcome::Failed(QueryError::Timeout) => Err(ApiError(
            StatusCode::GATEWAY_TIMEOUT,
            "the lookup timed out".into(),
        )),
        other => Err(ApiError(StatusCode::BAD_GATEWAY, format!("{other:?}"))),
    }
}

/// Finds `id` by its key and opens a session with it: the path taken, and how long.
async fn connect_to(
    state: &ApiState,
    id: &str,
) -> Result<(NodeId, ConnectPath, Duration), ApiError> {
    let peer: NodeId = id.parse().map_err(|error| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("bad node id `{id}`: {error}"),
        )
    })?;
    let finished = run(state, Command::Connect(peer)).await?;
    match finished.outcome {
        QueryOutcome::Connected { peer, path } => Ok((peer, path, finished.elapsed)),
        QueryOutcome::Failed(QueryError::NotFound) => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("peer {peer} is neither listed nor announced"),
        )),
        QueryOutcome::Failed(QueryError::Timeout) => Err(ApiError(
            StatusCode::GATEWAY_TIMEOUT,
            "the connect timed out".into(),
        )),
        other => Err(ApiError(StatusCode::BAD_GATEWAY, format!("{other:?}"))),
    }
}

/// `GET /api/connect/{id}`: find the peer by its key and open a session with it;
/// which path it took (direct, punched, relayed, mailbox).
pub(super) async fn connect(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (peer, path, elapsed) = connect_to(&state, &id).await?;
    Ok(Json(json!({
        "peer": peer.to_string(),
        "path": path.name(),
        "elapsed_ms": ms(elapsed),
    })))
}

/// The most of a peer's answer `POST /api/stream` passes on.
const STREAM_ANSWER_MAX: usize = 1 << 20;

/// `POST /api/stream/{id}`: the body over a new stream to the peer, its answer back.
pub(super) async fn stream(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (peer, path, _) = connect_to(&state, &id).await?;
    let refused = |error: StreamError| {
        let status = match error {
            StreamError::Reset { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError(status, format!("stream to {peer}: {error}"))
    };
    let exchange = async {
        let open = ask(&state, |reply| {
            Control::Stream(StreamControl::Open { peer, reply })
        });
        let (stream, hash) = open.await?.await.map_err(|_| gone())?.map_err(refused)?;
        let stream = LiveStream::new(stream, hash, state.control.clone());
        stream.write(body.to_vec()).await.map_err(refused)?;
        stream.finish().await;
        let mut answer = Vec::new();
        while let Some(bytes) = stream.read().await.map_err(refused)? {
            answer.extend_from_slice(&bytes);
            if answer.len() > STREAM_ANSWER_MAX {
                stream.reset().await;
                return Err(ApiError(
                    StatusCode::BAD_GATEWAY,
                    format!("the peer's answer is over {STREAM_ANSWER_MAX} bytes"),
                ));
            }
        }
        Ok((answer, hash))
    };
    let (answer, hash) = tokio::time::timeout(state.query_timeout, exchange)
        .await
        .map_err(|_| {
            ApiError(
                StatusCode::GATEWAY_TIMEOUT,
                "the stream did not end in time".into(),
            )
        })??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static("x-dswarm-path"),
                path.name().to_string(),
            ),
            (
                header::HeaderName::from_static("x-dswarm-handshake"),
                hex(&hash),
            ),
        ],
        answer,
    )
        .into_response())
}

pub(super) async fn immutable_put(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_value(&body)?;
    let finished = run(&state, Command::ImmutablePut(body.to_vec())).await?;
    match finished.outcome {
        QueryOutcome::Stored(result) => Ok(Json(store_json(&result))),
        other => Err(failed(other)),
    }
}

pub(super) async fn immutable_get(
    State(state): State<ApiState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = parse_key("key", &key)?;
    let finished = run(&state, Command::ImmutableGet(key)).await?;
    match finished.outcome {
        QueryOutcome::Immutable(Some(value)) => {
            let (text, hex) = value_json(&value);
            Ok(Json(json!({
                "key": key.to_string(),
                "value": text,
                "value_hex": hex,
            })))
        }
        QueryOutcome::Immutable(None) => Err(not_found()),
        other => Err(failed(other)),
    }
}

/// `PUT /api/mutable/{salt}`'s query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MutablePutParams {
    /// The version to write; the node picks one above its last when absent.
    seq: Option<u64>,
}

pub(super) async fn mutable_put(
    State(state): State<ApiState>,
    Path(salt): Path<String>,
    Query(params): Query<MutablePutParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_salt(&salt)?;
    check_value(&body)?;
    let command = Command::MutablePut {
        salt: salt.clone().into_bytes(),
        value: body.to_vec(),
        seq: params.seq,
    };
    let finished = run(&state, command).await?;
    match finished.outcome {
        QueryOutcome::Stored(result) => Ok(Json(with(
            store_json(&result),
            json!({
                "public_key": state.id.to_string(),
                "salt": salt,
                "seq": result.seq,
            }),
        ))),
        other => Err(failed(other)),
    }
}

/// `GET /api/mutable/{pubkey}/{salt}`'s query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct MutableGetParams {
    /// The lowest `seq` acceptable.
    seq: u64,
    /// Ask every holder and keep the highest `seq`.
    latest: bool,
}

pub(super) async fn mutable_get(
    State(state): State<ApiState>,
    Path((public_key, salt)): Path<(String, String)>,
    Query(params): Query<MutableGetParams>,
) -> Result<Json<Value>, ApiError> {
    let public_key: NodeId = public_key
        .parse()
        .map_err(|error| bad_request(format!("bad public key `{public_key}`: {error}")))?;
    check_salt(&salt)?;
    let command = Command::MutableGet {
        public_key,
        salt: salt.into_bytes(),
        seq: params.seq,
        latest: params.latest,
    };
    let finished = run(&state, command).await?;
    match finished.outcome {
        QueryOutcome::Mutable(Some(record)) => Ok(Json(record_json(&record))),
        QueryOutcome::Mutable(None) => Err(not_found()),
        other => Err(failed(other)),
    }
}

/// `POST /api/announce/{topic}`'s optional body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AnnounceBody {
    /// Addresses through which this node can be reached, as `ip:port`.
    relays: Vec<String>,
}

pub(super) async fn announce(
    State(state): State<ApiState>,
    Path(topic): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let topic = parse_key("topic", &topic)?;
    let body: AnnounceBody = if body.iter().all(u8::is_ascii_whitespace) {
        AnnounceBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|error| bad_request(format!("bad JSON body: {error}")))?
    };
    if body.relays.len() > MAX_RELAYS {
        return Err(bad_request(format!(
            "{} relays are over the limit of {MAX_RELAYS}",
            body.relays.len()
        )));
    }
    let relays = body
        .relays
        .iter()
        .map(|relay| {
            relay
                .parse::<SocketAddr>()
                .map_err(|error| bad_request(format!("bad relay address `{relay}`: {error}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let finished = run(&state, Command::Announce { topic, relays }).await?;
    match finished.outcome {
        QueryOutcome::Stored(result) => Ok(Json(with(
            store_json(&result),
            json!({ "topic": topic.to_string() }),
        ))),
        other => Err(failed(other)),
    }
}

pub(super) async fn unannounce(
    State(state): State<ApiState>,
    Path(topic): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let topic = parse_key("topic", &topic)?;
    let finished = run(&state, Command::Unannounce(topic)).await?;
    match finished.outcome {
        QueryOutcome::Stored(result) => Ok(Json(with(
            store_json(&result),
            json!({ "topic": topic.to_string() }),
        ))),
        other => Err(failed(other)),
    }
}

pub(super) async fn topic(
    State(state): State<ApiState>,
    Path(topic): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let topic = parse_key("topic", &topic)?;
    let finished = run(&state, Command::TopicLookup(topic)).await?;
    match finished.outcome {
        QueryOutcome::Peers(peers) => {
            let peers: Vec<Value> = peers
                .iter()
                .map(|peer| {
                    let relays: Vec<String> = peer.relays.iter().map(ToString::to_string).collect();
                    json!({ "public_key": peer.public_key.to_string(), "relays": relays })
                })
                .collect();
            Ok(Json(json!({ "topic": topic.to_string(), "peers": peers })))
        }
        other => Err(failed(other)),
    }
}

pub(super) async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let s = snapshot(&state).await?;
    let mut body = String::new();
    // Every counter of the one list ([`Stats::for_each`]), then the gauges.
    s.stats.for_each(&mut |counter, value| {
        let name = counter.name;
        let _ = writeln!(
            body,
            "# HELP dswarm_{name}_total {}\n# TYPE dswarm_{name}_total counter\ndswarm_{name}_total {value}",
            counter.help()
        );
    });
    let refused = &state.guard.refused;
    let api_refused = [("host", &refused.host), ("cross_site", &refused.cross_site)];
    let _ = writeln!(
        body,
        "# HELP dswarm_api_refused_total HTTP requests the API refused: a foreign Host, or \
         a web page of another site.\n\
         # TYPE dswarm_api_refused_total counter"
    );
    for (why, count) in api_refused {
        let count = count.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(body, "dswarm_api_refused_total{{why=\"{why}\"}} {count}");
    }
    let gauges: [(&str, &str, usize); 5] = [
        (
            "peers",
            "Verified peers in the routing table.",
            s.peers.len(),
        ),
        ("sessions", "Open sessions.", s.sessions),
        ("records_held", "Records held for others.", s.records_held),
        (
            "streams",
            "Streams open (finished ones linger a while).",
            s.streams.len(),
        ),
        (
            "listening",
            "1 while peers may open streams to this node.",
            usize::from(s.listening),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            body,
            "# HELP dswarm_{name} {help}\n# TYPE dswarm_{name} gauge\ndswarm_{name} {value}"
        );
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
