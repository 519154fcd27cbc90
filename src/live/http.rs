//! What stands between a live node's HTTP API and whoever reaches its port. On
//! 127.0.0.1 that is every program its users run, and every web page their browsers
//! open: a page can make a browser send requests to 127.0.0.1 (a form's `text/plain`
//! POST needs no preflight), and a DNS name pointed at 127.0.0.1 lets it read the
//! answers too (DNS rebinding).
//!
//! In: the API's listener and router. Out: [`serve`], which answers each connection
//! with the router, within these bounds:
//!
//! - **Requests from web pages are refused** ([`check`], 403): a `Host` other than the
//!   API's own address (`127.0.0.1:PORT`, `[::1]:PORT` or `localhost:PORT`), an
//!   `Origin` other than the API's own or another node's of the same process (the
//!   [`Roster`]: a dashboard served by one node of `dswarm live` watches them all), or
//!   a request the browser marks as coming from another site (`Sec-Fetch-Site:
//!   cross-site`, or `same-site` from a page none of those nodes served). This holds on every
//!   route: the GETs that act (ping, lookup, connect) too. `curl` sends its target as
//!   `Host` and neither of the other two, so it is unaffected.
//! - **Connections are bounded**: at most [`CONNECTIONS`] at once (the next waits for
//!   one to close); a request's head must arrive within [`HEADER_TIMEOUT`], which also
//!   closes a kept-alive connection that sends nothing more; and no connection lives
//!   longer than [`LIFETIME`].
//!
//! Every refusal is counted in [`Refused`], which `/metrics` reports.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::proto::NodeId;

/// The most connections the API holds open at once.
pub const CONNECTIONS: usize = 64;
/// How long a client has to send a request's head, from the moment the connection
/// waits for one: a slow client, or a kept-alive connection that sends nothing more,
/// is closed after this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one connection lives, however busy: a client that trickles requests
/// cannot hold a connection for good.
pub const LIFETIME: Duration = Duration::from_secs(300);

/// Requests refused, by why.
#[derive(Debug, Default)]
pub struct Refused {
    /// A `Host` that is not the API's own address: DNS rebinding, or a mistake.
    pub host: AtomicU64,
    /// An `Origin` or `Sec-Fetch-Site` that says a web page of another site sent it.
    pub cross_site: AtomicU64,
}

/// The nodes of one process (all of `dswarm live`'s; `dswarm node`'s one) and their
/// APIs' addresses: a page one of them serves (the dashboard) may call all of them.
#[derive(Clone, Debug, Default)]
pub struct Roster(Arc<RwLock<Vec<(NodeId, SocketAddr)>>>);

impl Roster {
    /// Adds a node and its API's address.
    pub fn add(&self, id: NodeId, api: SocketAddr) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, api));
    }

    /// Every node and its API's address, in the order they were added.
    pub fn members(&self) -> Vec<(NodeId, SocketAddr)> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Whether `host` (a `Host` header, or an origin's `host:port`) names the API at
/// `address`.
fn names(address: SocketAddr, host: &str) -> bool {
    host == address.to_string() || host == format!("localhost:{}", address.port())
}

/// Who may call: the API's own address, its process's other nodes, and what it
/// counts.
#[derive(Clone, Debug)]
pub struct Guard {
    /// The address the API listens on.
    pub address: SocketAddr,
    /// What it refused.
    pub refused: Arc<Refused>,
    /// The nodes of its process: pages they serve may call this API too.
    pub roster: Roster,
}

impl Guard {
    /// Whether `host` (a `Host` header, or an origin's `host:port`) names the API.
    fn is_own(&self, host: &str) -> bool {
        names(self.address, host)
    }

    /// Whether `host` names the API of a node of this process (this one included).
    fn is_sibling(&self, host: &str) -> bool {
        self.is_own(host)
            || self
                .roster
                .members()
                .iter()
                .any(|&(_, api)| names(api, host))
    }
}

/// Refuses (403) a request a web page could have sent; see the module docs.
pub async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match refusal(&guard, request.headers()) {
        None => next.run(request).await,
        Some(why) => (StatusCode::FORBIDDEN, Json(json!({ "error": why }))).into_response(),
    }
}

/// Why a request with `headers` is refused, counted; `None` to let it through.
fn refusal(guard: &Guard, headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).map(|value| value.to_str().unwrap_or("?"));
    if let Some(host) = text("host").filter(|host| !guard.is_own(host)) {
        guard.refused.host.fetch_add(1, Ordering::Relaxed);
        return Some(format!(
            "Host {host:?} is not this API ({}); it answers only requests to its own address",
            guard.address
        ));
    }
    let origin = text("origin");
    let sibling =
        origin.is_some_and(|origin| guard.is_sibling(origin.strip_prefix("http://").unwrap_or("")));
    let foreign_origin = origin.filter(|_| !sibling);
    // A page of a sibling node (another port of 127.0.0.1) is `same-site`; any other
    // page of the same site is not ours.
    let fetch_site = text("sec-fetch-site")
        .filter(|site| *site == "cross-site" || (*site == "same-site" && !sibling));
    if let Some(from) = foreign_origin.or(fetch_site) {
        guard.refused.cross_site.fetch_add(1, Ordering::Relaxed);
        return Some(format!(
            "refused a request from a web page ({from}); the API answers its owner's tools, \
             not other sites"
        ));
    }
    None
}

/// Serves `router` on `listener` until the task is dropped, within the bounds of the
/// module docs.
pub async fn serve(listener: TcpListener, router: Router) {
    let permits = Arc::new(Semaphore::new(CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::warn!(%error, "API accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                // `/dht`'s WebSocket: the upgraded connection leaves this one (and its
                // lifetime); the WebSocket's own bounds are in `ws`.
                .with_upgrades();
            let _ = tokio::time::timeout(LIFETIME, connection).await;
            drop(permit);
        });
    }
}
