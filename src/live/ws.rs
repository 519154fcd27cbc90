//! `GET /dht`: a live node's API as JSON-RPC 2.0 over a WebSocket, and its events as
//! notifications.
//!
//! In: text frames, each one JSON-RPC request (`{"jsonrpc": "2.0", "id": 1, "method":
//! "lookup", "params": {"id": "…"}}`; batches are not taken), and the node's events
//! ([`Events`]). Out: one response per request, in the order the calls end, and for
//! each subscription a notification per matching event:
//! `{"jsonrpc": "2.0", "method": "event", "params": {"subscription": 1, "event":
//! {"type": "peer_verified", …}}}`.
//!
//! The methods are the HTTP API's routes, run by the very same handlers, so their
//! validation, results and errors are the same ([`METHODS`]). An HTTP error becomes
//! a JSON-RPC error whose `code` is the HTTP status (400, 404, 503, 504, …) and whose
//! `message` is the API's; JSON-RPC's own codes mark what is not a call at all
//! (-32700 not JSON, -32600 not a request, -32601 no such method, -32602 bad params).
//!
//! Bounded everywhere: at most [`SOCKETS`] WebSockets per node, frames of at most
//! [`MAX_FRAME`] bytes, at most [`IN_FLIGHT`] calls running per socket, and each
//! socket's subscriptions read the event stream through a queue of [`BACKLOG`]
//! events: a subscriber that falls further behind is closed (code 1008, "too slow"),
//! never buffered without limit. The `Host` and `Origin` rules of the HTTP API hold
//! for the upgrade request ([`super::http`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit, Semaphore};

use super::api::{self, ApiError, ApiState};
use crate::proto::node::Event;

/// The most WebSockets one node serves at once.
pub const SOCKETS: usize = 16;
/// The largest frame a client may send.
pub const MAX_FRAME: usize = 64 * 1024;
/// Calls one socket may have running at once.
pub const IN_FLIGHT: usize = 16;
/// Events a socket's subscriptions may fall behind before the socket is closed.
pub const BACKLOG: usize = 1024;

/// The methods, as the HTTP routes they run.
pub const METHODS: &[(&str, &str)] = &[
    ("status", "GET /api/status"),
    ("peers", "GET /api/peers"),
    ("ping", "GET /api/ping"),
    ("lookup", "GET /api/lookup/{id}"),
    ("connect", "GET /api/connect/{id}"),
    ("immutable_put", "PUT /api/immutable (params: value)"),
    ("immutable_get", "GET /api/immutable/{key}"),
    (
        "mutable_put",
        "PUT /api/mutable/{salt}?seq= (params: salt, value, seq)",
    ),
    (
        "mutable_get",
        "GET /api/mutable/{public_key}/{salt}?seq=&latest=",
    ),
    (
        "announce",
        "POST /api/announce/{topic} (params: topic, relays)",
    ),
    ("unannounce", "DELETE /api/announce/{topic}"),
    ("topic", "GET /api/topic/{topic}"),
    (
        "stream",
        "POST /api/stream/{id} (params: id, data or data_hex)",
    ),
    ("metrics", "GET /metrics (the text, as `text`)"),
    ("swarm", "this process's nodes and their APIs"),
    (
        "subscribe",
        "events, all or those of the types listed (params: types)",
    ),
    ("unsubscribe", "ends a subscription (params: subscription)"),
];

/// A node's events for its WebSockets, and the bounds they share.
#[derive(Clone, Debug)]
pub struct Events {
    tx: broadcast::Sender<Arc<Value>>,
    sockets: Arc<Semaphore>,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            tx: broadcast::channel(BACKLOG).0,
            sockets: Arc::new(Semaphore::new(SOCKETS)),
        }
    }
}

impl Events {
    /// Hands `event` to every subscriber (nothing is made when there is none).
    pub fn publish(&self, event: &Event) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(event_json(event)));
        }
    }

    /// Hands an event already in its JSON form to every subscriber.
    pub fn publish_json(&self, event: Value) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(event));
        }
    }
}

/// An event as a subscriber sees it: `{"type": "peer_verified", "id": …, "addr": …}`,
/// the variant's name in snake case and its fields beside it; durations in ms.
pub fn event_json(event: &Event) -> Value {
    let value = serde_json::to_value(event).unwrap_or(Value::Null);
    let (name, fields) = match value {
        Value::Object(object) if object.len() == 1 => object.into_iter().next().expect("one entry"),
        Value::String(name) => (name, Value::Null),
        other => ("unknown".to_owned(), other),
    };
    let mut out = Map::new();
    out.insert("type".into(), Value::from(snake(&name)));
    match fields {
        Value::Object(fields) => {
            for (key, value) in fields {
                match duration_ms(&value) {
                    Some(ms) => out.insert(format!("{key}_ms"), Value::from(ms)),
                    None => out.insert(key, value),
                };
            }
        }
        Value::Null => {}
        other => {
            out.insert("detail".into(), other);
        }
    }
    Value::Object(out)
}

/// Milliseconds of a serialised `Duration` (`{"secs": …, "nanos": …}`).
fn duration_ms(value: &Value) -> Option<f64> {
    let object = value.as_object().filter(|o| o.len() == 2)?;
    let secs = object.get("secs")?.as_u64()?;
    let nanos = object.get("nanos")?.as_u64()?;
    Some(secs as f64 * 1e3 + nanos as f64 / 1e6)
}

fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `GET /dht`: upgrades to a WebSocket, or 503 when [`SOCKETS`] are open already.
pub async fn upgrade(State(state): State<ApiState>, ws: WebSocketUpgrade) -> Response {
    let Ok(permit) = state.events.sockets.clone().try_acquire_owned() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{SOCKETS} WebSockets are open already, the most this node serves"),
        )
        .into_response();
    };
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| serve(socket, state, permit))
}

/// A JSON-RPC error object.
fn error(code: i64, message: impl Into<String>) -> Value {
    json!({ "code": code, "message": message.into() })
}

fn response(id: &Value, outcome: Result<Value, Value>) -> Message {
    let body = match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
    };
    Message::Text(body.to_string().into())
}

/// One socket's subscriptions: which event types each wants (`None`: all).
#[derive(Default)]
struct Subscriptions {
    next: u64,
    wanted: BTreeMap<u64, Option<Vec<String>>>,
}

async fn serve(mut socket: WebSocket, state: ApiState, _permit: OwnedSemaphorePermit) {
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(IN_FLIGHT);
    let calls = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut subscriptions = Subscriptions::default();
    let mut events: Option<broadcast::Receiver<Arc<Value>>> = None;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        let reply = response(&Value::Null, Err(error(-32700, "frames are JSON text")));
                        if socket.send(reply).await.is_err() { return; }
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue, // pings are answered by the library
                };
                let Some((id, method, params)) = parse(&text, &mut socket).await else {
                    continue;
                };
                match method.as_str() {
                    "subscribe" => {
                        let outcome = subscribe(&params, &mut subscriptions);
                        if outcome.is_ok() && events.is_none() {
                            events = Some(state.events.tx.subscribe());
                        }
                        if socket.send(response(&id, outcome)).await.is_err() { return; }
                    }
                    "unsubscribe" => {
                        let outcome = unsubscribe(&params, &mut subscriptions);
                        if subscriptions.wanted.is_empty() {
                            events = None;
                        }
                        if socket.send(response(&id, outcome)).await.is_err() { return; }
                    }
                    _ => {
                        let Ok(permit) = calls.clone().try_acquire_owned() else {
                            let busy = error(-32000, format!("{IN_FLIGHT} calls are running on this socket already"));
                            if socket.send(response(&id, Err(busy))).await.is_err() { return; }
                            continue;
                        };
                        let (state, out) = (state.clone(), out_tx.clone());
                        tokio::spawn(async move {
                            let outcome = call(&state, &method, params).await;
                            let _ = out.send(response(&id, outcome)).await;
                            drop(permit);
                        });
                    }
                }
            }
            Some(reply) = out_rx.recv() => {
                if socket.send(reply).await.is_err() { return; }
            }
            event = next_event(&mut events) => match event {
                Ok(event) => {
                    for (&subscription, types) in &subscriptions.wanted {
                        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
                        if types.as_ref().is_some_and(|t| !t.iter().any(|w| w == kind)) {
                            continue;
                        }
                        let note = json!({
                            "jsonrpc": "2.0",
                            "method": "event",
                            "params": { "subscription": subscription, "event": &*event },
                        });
                        if socket.send(Message::Text(note.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let reason = format!("too slow: {missed} events missed; connect and subscribe again");
                    let close = CloseFrame { code: 1008, reason: reason.into() };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => events = None,
            },
        }
    }
}

/// The next event for this socket's subscriptions; never, without any.
async fn next_event(
    events: &mut Option<broadcast::Receiver<Arc<Value>>>,
) -> Result<Arc<Value>, broadcast::error::RecvError> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// A request's id, method and params, or `None` after answering why it is not one.
async fn parse(text: &str, socket: &mut WebSocket) -> Option<(Value, String, Value)> {
    let request: Value = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(e) => {
            let reply = response(&Value::Null, Err(error(-32700, format!("not JSON: {e}"))));
            let _ = socket.send(reply).await;
            return None;
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str);
    let version = request.get("jsonrpc").and_then(Value::as_str);
    let (Some(method), Some("2.0")) = (method, version) else {
        let why = "a request is {\"jsonrpc\": \"2.0\", \"id\": …, \"method\": …, \"params\": {…}}";
        let _ = socket.send(response(&id, Err(error(-32600, why)))).await;
        return None;
    };
    let params = request.get("params").cloned().unwrap_or(json!({}));
    Some((id, method.to_owned(), params))
}

fn subscribe(params: &Value, subscriptions: &mut Subscriptions) -> Result<Value, Value> {
    let types = match params.get("types") {
        None | Some(Value::Null) => None,
        Some(Value::Array(types)) => Some(
            types
                .iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| error(-32602, "`types` is a list of event type names"))?,
        ),
        Some(_) => return Err(error(-32602, "`types` is a list of event type names")),
    };
    subscriptions.next += 1;
    subscriptions.wanted.insert(subscriptions.next, types);
    Ok(Value::from(subscriptions.next))
}

fn unsubscribe(params: &Value, subscriptions: &mut Subscriptions) -> Result<Value, Value> {
    let subscription = params
        .get("subscription")
        .and_then(Value::as_u64)
        .ok_or_else(|| error(-32602, "`subscription` is the number `subscribe` gave"))?;
    Ok(Value::from(
        subscriptions.wanted.remove(&subscription).is_some(),
    ))
}

/// A string parameter.
fn text(params: &Value, name: &str) -> Result<String, Value> {
    match params.get(name) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(error(-32602, format!("`{name}` is a string"))),
        None => Err(error(-32602, format!("`{name}` is missing"))),
    }
}

/// A value parameter: `value` (text) or `value_hex`.
fn value(params: &Value) -> Result<Bytes, Value> {
    bytes(params, "value")
}

/// Bytes given as `name` (text) or `name_hex`.
fn bytes(params: &Value, name: &str) -> Result<Bytes, Value> {
    let hex_name = format!("{name}_hex");
    if let Some(hex) = params.get(&hex_name) {
        let hex = hex
            .as_str()
            .ok_or_else(|| error(-32602, format!("`{hex_name}` is a string of hex digits")))?;
        return decode_hex(hex).map(Bytes::from);
    }
    Ok(Bytes::from(text(params, name)?.into_bytes()))
}

/// What `POST /api/stream` answered: the peer's bytes (as text where UTF-8, and as
/// hex) and the headers that say how.
async fn stream_json(response: Response) -> Value {
    let (path, handshake) = {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (header("x-dswarm-path"), header("x-dswarm-handshake"))
    };
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    json!({
        "path": path,
        "handshake": handshake,
        "data": std::str::from_utf8(&body).ok(),
        "data_hex": hex,
    })
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, Value> {
    let bad = || error(-32602, "hex digits come in pairs");
    if hex.len() % 2 != 0 {
        return Err(bad());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

/// Query-string parameters as the HTTP route would parse them.
fn query<T: serde::de::DeserializeOwned>(params: &Value, names: &[&str]) -> Result<T, Value> {
    let mut object = Map::new();
    for &name in names {
        if let Some(value) = params.get(name) {
            object.insert(name.to_owned(), value.clone());
        }
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| error(-32602, format!("bad params: {e}")))
}

/// Runs `method` through the HTTP handler of its route.
async fn call(state: &ApiState, method: &str, params: Value) -> Result<Value, Value> {
    let state = State(state.clone());
    let json = |result: Result<Json<Value>, ApiError>| result.map(|Json(v)| v);
    let outcome = match method {
        "status" => json(api::status(state).await),
        "peers" => json(api::peers(state).await),
        "ping" => json(api::ping(state).await),
        "lookup" => json(api::lookup(state, Path(text(&params, "id")?)).await),
        "connect" => json(api::connect(state, Path(text(&params, "id")?)).await),
        "immutable_put" => json(api::immutable_put(state, value(&params)?).await),
        "immutable_get" => json(api::immutable_get(state, Path(text(&params, "key")?)).await),
        "mutable_put" => {
            let salt = Path(text(&params, "salt")?);
            let seq = Query(query(&params, &["seq"])?);
            json(api::mutable_put(state, salt, seq, value(&params)?).await)
        }
        "mutable_get" => {
            let path = Path((text(&params, "public_key")?, text(&params, "salt")?));
            let query = Query(query(&params, &["seq", "latest"])?);
            json(api::mutable_get(state, path, query).await)
        }
        "announce" => {
            let topic = Path(text(&params, "topic")?);
            let relays = params.get("relays").cloned().unwrap_or(json!([]));
            let body = Bytes::from(json!({ "relays": relays }).to_string());
            json(api::announce(state, topic, body).await)
        }
        "unannounce" => json(api::unannounce(state, Path(text(&params, "topic")?)).await),
        "topic" => json(api::topic(state, Path(text(&params, "topic")?)).await),
        "stream" => {
            let peer = Path(text(&params, "id")?);
            let data = bytes(&params, "data")?;
            match api::stream(state, peer, data).await {
                Ok(response) => Ok(stream_json(response).await),
                Err(e) => Err(e),
            }
        }
        "metrics" => match api::metrics(state).await {
            Ok(response) => {
                let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
                let text = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
                Ok(json!({ "text": text }))
            }
            Err(e) => Err(e),
        },
        "swarm" => Ok(api::swarm(&state.0)),
        _ => {
            let known: Vec<&str> = METHODS.iter().map(|(name, _)| *name).collect();
            return Err(error(
                -32601,
                format!("no method `{method}`; the methods are {}", known.join(", ")),
            ));
        }
    };
    outcome.map_err(|e| {
        let (status, message) = e.parts();
        error(i64::from(status.as_u16()), message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;

    #[test]
    fn events_read_as_a_type_and_their_fields_with_durations_in_ms() {
        let id = crate::proto::Identity::from_seed([3; 32]).id();
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let json = event_json(&Event::PeerVerified { id, addr });
        assert_eq!(json["type"], "peer_verified");
        assert_eq!(json["addr"], "127.0.0.1:4000");
        assert_eq!(json["id"], json!(id));
        let finished = Event::QueryFinished {
            query: crate::proto::QueryId(7),
            elapsed: Duration::from_micros(1500),
            outcome: crate::proto::node::QueryOutcome::Bootstrapped { peers: 4 },
        };
        let json = event_json(&finished);
        assert_eq!(json["type"], "query_finished");
        assert_eq!(json["elapsed_ms"], 1.5);
        assert_eq!(json["outcome"], json!({"Bootstrapped": {"peers": 4}}));
    }

    #[test]
    fn subscriptions_take_a_list_of_types_or_none() {
        let mut subscriptions = Subscriptions::default();
        assert_eq!(subscribe(&json!({}), &mut subscriptions), Ok(json!(1)));
        assert_eq!(
            subscribe(&json!({"types": ["peer_verified"]}), &mut subscriptions),
            Ok(json!(2))
        );
        assert!(subscribe(&json!({"types": "peer_verified"}), &mut subscriptions).is_err());
        assert_eq!(
            unsubscribe(&json!({"subscription": 1}), &mut subscriptions),
            Ok(json!(true))
        );
        assert_eq!(
            unsubscribe(&json!({"subscription": 1}), &mut subscriptions),
            Ok(json!(false))
        );
    }

    #[test]
    fn hex_values_decode_and_bad_ones_are_refused() {
        assert_eq!(decode_hex("00ff10").unwrap(), vec![0, 255, 16]);
        assert!(decode_hex("abc").is_err());
        assert!(decode_hex("zz").is_err());
    }
}
