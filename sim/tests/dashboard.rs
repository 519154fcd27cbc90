//! Watching a live swarm as its user does: `dswarm live` prints a dashboard URL; its
//! `/dht` WebSocket answers JSON-RPC calls and pushes the node's events; and the
//! dashboard, opened in headless Chromium (driven over the Chrome DevTools protocol),
//! shows every node of the process find the others, and runs a lookup from its form.
//!
//! Without Chromium on the machine the browser test is skipped with a note, unless
//! `DSWARM_REQUIRE_CHROMIUM=1` (as `.ci/run` sets) makes that a failure. Its
//! screenshot is kept as a test artefact: `target/dashboard.png`.

// The waits read the wall clock: these are real processes, not a simulation.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

mod cli;

use cli::{chromium, private_group};

/// A `dswarm live` process, killed when dropped.
struct Swarm {
    child: Child,
    /// Each node's id and API address, in the order printed.
    nodes: Vec<(String, SocketAddr)>,
    dashboard: String,
}

impl Drop for Swarm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dswarm live --nodes n` and reads its node lines and dashboard line.
fn swarm(n: usize) -> Swarm {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(["live", "--quiet", "--nodes", &n.to_string()])
        .args(["--multicast-group", &private_group().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dswarm starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut swarm = Swarm {
        child,
        nodes: Vec::new(),
        dashboard: String::new(),
    };
    while swarm.dashboard.is_empty() {
        let line = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("dswarm live prints its nodes and its dashboard");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["node", id, "udp", _, "api", api] => {
                let api = api.trim_start_matches("http://").parse().unwrap();
                swarm.nodes.push((id.to_string(), api));
            }
            ["dashboard", url, ..] => swarm.dashboard = url.to_string(),
            _ => {}
        }
    }
    assert_eq!(swarm.nodes.len(), n);
    assert_eq!(
        swarm.dashboard,
        format!("http://{}/", swarm.nodes[0].1),
        "the first node's API serves the dashboard"
    );
    swarm
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends a JSON-RPC call and returns its response, keeping the notifications that
/// came first.
async fn call(
    ws: &mut Socket,
    id: u64,
    method: &str,
    params: Value,
    seen: &mut Vec<Value>,
) -> Value {
    let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    ws.send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("an answer within 20 s")
            .expect("the socket stays open")
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        if value["id"] == json!(id) {
            return value;
        }
        seen.push(value);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_answers_calls_as_the_api_does_and_pushes_events() {
    let swarm = swarm(3);
    let api = swarm.nodes[0].1;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{api}/dht"))
        .await
        .expect("the WebSocket opens");
    let mut seen = Vec::new();
    let subscribed = call(&mut ws, 1, "subscribe", json!({}), &mut seen).await;
    assert_eq!(subscribed["result"], 1, "{subscribed}");
    let swarm_answer = call(&mut ws, 2, "swarm", json!({}), &mut seen).await;
    assert_eq!(swarm_answer["result"]["nodes"].as_array().unwrap().len(), 3);
    // A ping once the node has peers: the answer, and its query's event.
    let deadline = Instant::now() + Duration::from_secs(20);
    let pong = loop {
        let answer = call(&mut ws, 3, "ping", json!({}), &mut seen).await;
        if answer.get("result").is_some() || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let peers = pong["result"]["peers"].as_array().expect("ping's peers");
    assert!(!peers.is_empty(), "{pong}");
    assert!(peers.iter().any(|p| p["rtt_ms"].is_number()), "{pong}");
    // Events arrive as notifications of the subscription.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen
        .iter()
        .any(|n| n["params"]["event"]["type"] == "query_finished")
    {
        assert!(
            Instant::now() < deadline,
            "no query_finished event in {seen:?}"
        );
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        if let Ok(Some(Ok(Message::Text(text)))) = message {
            seen.push(serde_json::from_str(&text).unwrap());
        }
    }
    let kinds: Vec<&str> = seen
        .iter()
        .filter(|n| n["method"] == "event" && n["params"]["subscription"] == 1)
        .filter_map(|n| n["params"]["event"]["type"].as_str())
        .collect();
    assert!(kinds.contains(&"query_finished"), "{kinds:?}");
    // The API's validation and errors, as JSON-RPC errors.
    let bad = call(&mut ws, 4, "lookup", json!({ "id": "zz" }), &mut seen).await;
    assert_eq!(bad["error"]["code"], 400, "{bad}");
    assert!(bad["error"]["message"]
        .as_str()
        .unwrap()
        .contains("bad node id"));
    let missing = call(&mut ws, 5, "lookup", json!({}), &mut seen).await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let unknown = call(&mut ws, 6, "teleport", json!({}), &mut seen).await;
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let put = call(
        &mut ws,
        7,
        "immutable_put",
        json!({ "value": "hello" }),
        &mut seen,
    )
    .await;
    let key = put["result"]["key"].as_str().expect("a key").to_owned();
    let get = call(
        &mut ws,
        8,
        "immutable_get",
        json!({ "key": key }),
        &mut seen,
    )
    .await;
    assert_eq!(get["result"]["value"], "hello", "{get}");
    let metrics = call(&mut ws, 9, "metrics", json!({}), &mut seen).await;
    let text = metrics["result"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("dswarm_peers "), "{metrics}");
    // A stream to a node that does not listen: the API's 502, as an error.
    let id = json!({ "id": swarm.nodes[2].0, "data": "hi" });
    let refused = call(&mut ws, 10, "stream", id, &mut seen).await;
    assert_eq!(refused["error"]["code"], 502, "{refused}");
    // A web page of another site may not open it.
    let mut request = format!("ws://{api}/dht").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(refused.is_err(), "a foreign Origin was let in");
}

/// A headless Chromium with the DevTools protocol on a port the OS chose; killed when
/// dropped.
struct Browser {
    child: Child,
    endpoint: String,
    _profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}

fn browser(binary: &str) -> Browser {
    let profile = std::env::temp_dir().join(format!("dswarm-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&profile).unwrap();
    let mut child = Command::new(binary)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            "--window-size=1300,1100",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("ws://") {
                let _ = tx.send(line[at..].trim().to_owned());
            }
        }
    });
    let endpoint = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("chromium says where its DevTools listen");
    Browser {
        child,
        endpoint,
        _profile: profile,
    }
}

/// The Chrome DevTools protocol over one WebSocket, one page attached.
struct Devtools {
    ws: Socket,
    next: u64,
    session: Option<String>,
}

impl Devtools {
    async fn send(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut request = json!({ "id": self.next, "method": method, "params": params });
        if let Some(session) = &self.session {
            request["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("DevTools answer")
                .expect("DevTools stay open")
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"] == json!(self.next) {
                assert!(value.get("error").is_none(), "{method}: {value}");
                return value["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({ "expression": expression, "returnByValue": true });
        self.send("Runtime.evaluate", params).await["result"]["value"].clone()
    }

    /// Evaluates `expression` every 250 ms until it is true, for at most `limit`.
    async fn wait_for(&mut self, expression: &str, limit: Duration, what: &str) {
        let deadline = Instant::now() + limit;
        while self.eval(expression).await != json!(true) {
            if Instant::now() > deadline {
                let summary = self
                    .eval("document.getElementById('summary').innerText")
                    .await;
                let answer = self
                    .eval("document.getElementById('answer').innerText")
                    .await;
                panic!("{what}: not within {limit:?}; the page says {summary} / {answer}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_five_nodes_find_each_other_and_runs_a_lookup() {
    let Some(binary) = chromium() else {
        let required = std::env::var_os("DSWARM_REQUIRE_CHROMIUM").is_some();
        assert!(
            !required,
            "DSWARM_REQUIRE_CHROMIUM is set but no chromium was found"
        );
        eprintln!("note: no chromium on this machine; the dashboard is not checked");
        return;
    };
    let swarm = swarm(5);
    let browser = browser(binary);
    let (ws, _) = tokio_tungstenite::connect_async(browser.endpoint.as_str())
        .await
        .expect("DevTools connect");
    let mut devtools = Devtools {
        ws,
        next: 0,
        session: None,
    };
    let target = devtools
        .send("Target.createTarget", json!({ "url": swarm.dashboard }))
        .await;
    let attached = devtools
        .send(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        )
        .await;
    devtools.session = Some(attached["sessionId"].as_str().unwrap().to_owned());

    // Five nodes, each with the four others verified.
    let formed = "(() => { const v = [...document.querySelectorAll('#nodes td.verified')] \
                  .map(td => +td.textContent); return v.length === 5 && Math.min(...v) >= 4; })()";
    devtools
        .wait_for(
            formed,
            Duration::from_secs(30),
            "5 nodes with 4 verified peers",
        )
        .await;
    let graph_nodes = devtools
        .eval("document.querySelectorAll('#graph circle').length")
        .await;
    assert_eq!(graph_nodes, 5, "the graph draws every node");
    let lines = devtools
        .eval("document.querySelectorAll('#chart polyline').length")
        .await;
    assert_eq!(lines, 5, "the chart has a line per node");

    // A lookup of the last node, run from the form of the first.
    let target_id = &swarm.nodes[4].0;
    let run = format!(
        "document.getElementById('ask-method').value = 'lookup'; \
         document.getElementById('ask-arg').value = '{target_id}'; \
         document.getElementById('ask-go').click(); true"
    );
    devtools.eval(&run).await;
    let found = format!(
        "(() => {{ const a = document.getElementById('answer'); \
          return a.classList.contains('ok') && a.innerText.includes('\"found\": true') \
          && a.innerText.includes('{target_id}'); }})()"
    );
    devtools
        .wait_for(&found, Duration::from_secs(20), "the lookup's answer")
        .await;
    let events = devtools
        .eval("document.querySelectorAll('#events div').length")
        .await;
    assert!(
        events.as_u64().unwrap() > 5,
        "the last events show: {events}"
    );

    let shot = devtools
        .send("Page.captureScreenshot", json!({ "format": "png" }))
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.len() > 30_000, "a screenshot of {} bytes", png.len());
    let artefact = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard.png");
    std::fs::write(&artefact, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes)", artefact.display(), png.len());
}
