//! The HTTP API of a live node, on 127.0.0.1 only: JSON in and out.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/status` | id, UDP address, peers known and verified, sessions, uptime |
//! | `GET /api/peers` | the routing table, closest first |
//! | `GET /api/ping` | pings the 3 closest peers: their ids and round-trip times in ms |
//! | `GET /api/lookup/{id-hex}` | iterative FIND_NODE: the k closest and the hops taken |
//! | `GET /metrics` | the node's counters in the Prometheus text format |
//!
//! Errors are `{"error": "…"}` with a 4xx or 5xx status: 400 for bad input, 404 for
//! unknown routes, 503 while the node knows no peers, 504 when a query does not
//! finish within the API's timeout. Nothing hangs.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::driver::{Control, Finished, Snapshot};
use crate::proto::node::{Command, CommandError, QueryError, QueryOutcome};
use crate::proto::NodeId;

/// What every handler needs: the way to the node and what it is.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The node's control channel.
    pub control: mpsc::Sender<Control>,
    /// Its UDP address.
    pub udp: SocketAddr,
    /// How long a query may take before the API answers 504.
    pub query_timeout: Duration,
}

/// An API error: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

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
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .with_state(state)
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
    finished.map_err(|error| match error {
        CommandError::NoPeers => ApiError(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
        other => ApiError(StatusCode::CONFLICT, other.to_string()),
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

async fn status(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let s = snapshot(&state).await?;
    Ok(Json(json!({
        "id": s.id.to_string(),
        "udp": state.udp.to_string(),
        "peers_known": s.peers.len(),
        "peers_verified": s.peers.len(),
        "sessions": s.sessions,
        "uptime_secs": s.uptime.as_secs_f64(),
    })))
}

async fn peers(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
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

async fn ping(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
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

async fn lookup(
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
            Ok(Json(json!({
                "target": target.to_string(),
                "found": result.closest.first().map(|c| c.id) == Some(target),
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

async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let s = snapshot(&state).await?;
    let st = s.stats;
    let counters: [(&str, u64); 28] = [
        ("datagrams_sent", st.datagrams_sent),
        ("bytes_sent", st.bytes_sent),
        ("datagrams_received", st.datagrams_received),
        ("bytes_received", st.bytes_received),
        ("datagrams_malformed", st.datagrams_malformed),
        ("beacons_sent", st.beacons_sent),
        ("beacons_accepted", st.beacons_accepted),
        ("beacons_foreign", st.beacons_foreign),
        ("beacons_stale", st.beacons_stale),
        ("beacons_forged", st.beacons_forged),
        ("beacons_known", st.beacons_known),
        ("beacons_not_probed", st.beacons_not_probed),
        ("requests_received", st.requests_received),
        ("requests_sent", st.requests_sent),
        ("requests_retried", st.requests_retried),
        ("requests_timed_out", st.requests_timed_out),
        ("responses_received", st.responses_received),
        ("responses_unexpected", st.responses_unexpected),
        ("lookups_started", st.lookups_started),
        ("lookups_finished", st.lookups_finished),
        ("handshakes_started", st.sessions.handshakes_started),
        ("handshakes_completed", st.sessions.handshakes_completed),
        ("handshakes_rejected", st.sessions.handshakes_rejected),
        ("handshakes_timed_out", st.sessions.handshakes_timed_out),
        ("frames_opened", st.sessions.frames_opened),
        ("frames_replayed", st.sessions.frames_replayed),
        ("frames_undecryptable", st.sessions.frames_undecryptable),
        ("half_open_refused", st.sessions.half_open_refused),
    ];
    let mut body = String::new();
    for (name, value) in counters {
        let _ = writeln!(
            body,
            "# TYPE dswarm_{name}_total counter\ndswarm_{name}_total {value}"
        );
    }
    let _ = writeln!(
        body,
        "# TYPE dswarm_peers gauge\ndswarm_peers {}",
        s.peers.len()
    );
    let _ = writeln!(
        body,
        "# TYPE dswarm_sessions gauge\ndswarm_sessions {}",
        s.sessions
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
