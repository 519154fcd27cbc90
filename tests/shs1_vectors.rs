//! SHS1 known-answer tests against the vectors in `tests/data/shs1.json` (each case:
//! the long-term seeds, the ephemeral secrets, the four messages, every intermediate
//! and the session keys, as the Secret Handshake paper names them).
//!
//! Every case is replayed through [`ClientHandshake`] and [`ServerHandshake`] with the
//! case's ephemeral X25519 secrets and long-term seeds; the four messages, every
//! intermediate, the session keys of both roles and one box-stream frame per direction
//! must match byte for byte. Every negative message is then fed to its receiver in the
//! state just before its step: it must be refused without a panic, and the refused
//! handshake must refuse to go on.
//!
//! `DSWARM_SHS1_VECTORS=<path>` runs another vector file of the same format.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use dswarm::proto::boxstream::{Decoder, Encoder, Header};
use dswarm::proto::crypto::{clamp, Crypto, RealCrypto};
use dswarm::proto::handshake::{
    self, ClientHandshake, HandshakeError, Secrets, ServerHandshake, SessionKeys, ACCEPT_LEN,
    AUTH_LEN, HELLO_LEN,
};
use dswarm::proto::{Identity, NodeId};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Cases and negatives in the shipped file.
const DEFAULT_CASES: usize = 25;
const DEFAULT_NEGATIVES: usize = 500;

struct Vectors {
    path: PathBuf,
    is_default: bool,
    root: Value,
}

fn load() -> Vectors {
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/shs1.json");
    let (path, is_default) = match std::env::var_os("DSWARM_SHS1_VECTORS") {
        Some(path) if !path.is_empty() => (PathBuf::from(path), false),
        _ => (default, true),
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let root: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    assert_eq!(
        root["format"],
        "shs1-test-vectors",
        "{}: not an SHS1 vector file",
        path.display()
    );
    Vectors {
        path,
        is_default,
        root,
    }
}

impl Vectors {
    fn cases(&self) -> &[Value] {
        self.root["cases"].as_array().expect("`cases` is an array")
    }
}

#[path = "support/hex.rs"]
mod hexes;
use hexes::{from_hex as hex, to_hex};

/// The bytes of the hex string at `path` (slash-separated keys) in `case`.
fn field(case: &Value, path: &str) -> Vec<u8> {
    let mut v = case;
    for key in path.split('/') {
        v = &v[key];
    }
    hex(v
        .as_str()
        .unwrap_or_else(|| panic!("{}: field {path} is not a hex string", case["id"])))
}

fn array<const N: usize>(case: &Value, path: &str) -> [u8; N] {
    let bytes = field(case, path);
    bytes.as_slice().try_into().unwrap_or_else(|_| {
        panic!(
            "{}: field {path} has {} bytes, expected {N}",
            case["id"],
            bytes.len()
        )
    })
}

fn optional_array<const N: usize>(case: &Value, path: &str) -> Option<[u8; N]> {
    let mut v = case;
    for key in path.split('/') {
        v = &v[key];
    }
    if v.is_null() {
        None
    } else {
        Some(array(case, path))
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Everything one case gives as input.
struct Inputs {
    network_key: [u8; 32],
    client: Identity,
    server: Identity,
    client_eph: [u8; 32],
    server_eph: [u8; 32],
    msg1: Vec<u8>,
    msg2: Vec<u8>,
    msg3: Vec<u8>,
    msg4: Vec<u8>,
}

impl Inputs {
    fn of(case: &Value) -> Inputs {
        Inputs {
            network_key: array(case, "network_key"),
            client: Identity::from_seed(array(case, "client/longterm/ed25519_seed")),
            server: Identity::from_seed(array(case, "server/longterm/ed25519_seed")),
            client_eph: array(case, "client/ephemeral/x25519_sk"),
            server_eph: array(case, "server/ephemeral/x25519_sk"),
            msg1: field(case, "messages/msg1"),
            msg2: field(case, "messages/msg2"),
            msg3: field(case, "messages/msg3"),
            msg4: field(case, "messages/msg4"),
        }
    }

    fn client(&self) -> ClientHandshake {
        ClientHandshake::new(
            &RealCrypto,
            self.network_key,
            self.client.clone(),
            self.server.id(),
            self.client_eph,
        )
    }

    fn server(&self) -> ServerHandshake {
        ServerHandshake::new(
            &RealCrypto,
            self.network_key,
            self.server.clone(),
            self.server_eph,
        )
    }
}

/// Collects mismatches so that one run reports all of them.
struct Checker<'a> {
    case: &'a str,
    failures: Vec<String>,
    checks: usize,
}

impl Checker<'_> {
    fn eq(&mut self, what: &str, got: &[u8], want: &[u8]) {
        self.checks += 1;
        if got != want {
            self.failures.push(format!(
                "{}: {what}\n    got  {}\n    want {}",
                self.case,
                to_hex(got),
                to_hex(want)
            ));
        }
    }

    fn ok(&mut self, what: &str, condition: bool) {
        self.checks += 1;
        if !condition {
            self.failures.push(format!("{}: {what}", self.case));
        }
    }

    fn fail(&mut self, what: String) {
        self.checks += 1;
        self.failures.push(format!("{}: {what}", self.case));
    }
}

fn check_keys(c: &mut Checker<'_>, case: &Value, role: &str, identity: &Identity) {
    let crypto = RealCrypto;
    let lt = format!("{role}/longterm");
    let id = identity.id();
    c.eq(
        &format!("{lt}/ed25519_pk"),
        id.as_bytes(),
        &field(case, &format!("{lt}/ed25519_pk")),
    );
    c.eq(
        &format!("{lt}/ed25519_sk (seed ‖ pk)"),
        &[&identity.seed()[..], id.as_bytes()].concat(),
        &field(case, &format!("{lt}/ed25519_sk")),
    );
    let x_pk = field(case, &format!("{lt}/x25519_pk"));
    match crypto.ed25519_public_to_x25519(&id) {
        Some(got) => c.eq(
            &format!("{lt}/x25519_pk (ed25519_public_to_x25519)"),
            &got,
            &x_pk,
        ),
        None => c.fail(format!(
            "{lt}: ed25519_public_to_x25519 refused a valid key"
        )),
    }
    let x_sk: [u8; 32] = array(case, &format!("{lt}/x25519_sk"));
    c.eq(&format!("{lt}/x25519_sk is clamped"), &clamp(x_sk), &x_sk);
    c.eq(
        &format!("{lt}/x25519_sk (ed25519_secret_to_x25519)"),
        &crypto.ed25519_secret_to_x25519(identity),
        &x_sk,
    );
    c.eq(
        &format!("{lt}: X25519(x25519_sk, 9) = x25519_pk"),
        &crypto.x25519_public(&x_sk),
        &x_pk,
    );

    let eph = format!("{role}/ephemeral");
    let e_sk: [u8; 32] = array(case, &format!("{eph}/x25519_sk"));
    let e_pk = field(case, &format!("{eph}/x25519_pk"));
    c.eq(
        &format!("{eph}/x25519_pk = X25519(x25519_sk, 9)"),
        &crypto.x25519_public(&e_sk),
        &e_pk,
    );
    // The reference draws its ephemeral key as an Ed25519 keypair and converts it.
    if let Some(seed) = optional_array::<32>(case, &format!("{eph}/ed25519_seed")) {
        let e_identity = Identity::from_seed(seed);
        c.eq(
            &format!("{eph}/x25519_sk (from ed25519_seed)"),
            &crypto.ed25519_secret_to_x25519(&e_identity),
            &e_sk,
        );
        match crypto.ed25519_public_to_x25519(&e_identity.id()) {
            Some(got) => c.eq(&format!("{eph}/x25519_pk (from ed25519_seed)"), &got, &e_pk),
            None => c.fail(format!(
                "{eph}: ed25519_public_to_x25519 refused the ephemeral key"
            )),
        }
    }
}

fn check_session(c: &mut Checker<'_>, case: &Value, role: &str, keys: &SessionKeys, peer: &NodeId) {
    let s = format!("session/{role}");
    c.eq(&format!("{s} peer"), keys.peer.as_bytes(), peer.as_bytes());
    c.eq(
        &format!("{s}/encrypt_key"),
        &keys.encrypt_key,
        &field(case, &format!("{s}/encrypt_key")),
    );
    c.eq(
        &format!("{s}/encrypt_nonce"),
        &keys.encrypt_nonce,
        &field(case, &format!("{s}/encrypt_nonce")),
    );
    c.eq(
        &format!("{s}/decrypt_key"),
        &keys.decrypt_key,
        &field(case, &format!("{s}/decrypt_key")),
    );
    c.eq(
        &format!("{s}/decrypt_nonce"),
        &keys.decrypt_nonce,
        &field(case, &format!("{s}/decrypt_nonce")),
    );
}

fn check_boxstream(
    c: &mut Checker<'_>,
    case: &Value,
    dir: &str,
    sender: &SessionKeys,
    receiver: &SessionKeys,
) {
    let crypto = RealCrypto;
    let b = format!("boxstream_sample/{dir}");
    let plaintext = field(case, &format!("{b}/plaintext"));
    let header = field(case, &format!("{b}/header"));
    let body = field(case, &format!("{b}/body"));
    let goodbye = field(case, &format!("{b}/goodbye"));

    let mut encoder = Encoder::new(sender.encrypt_key, sender.encrypt_nonce);
    let mut wire = Vec::new();
    encoder.encrypt(&crypto, &plaintext, &mut wire);
    c.eq(
        &format!("{b} header ‖ body (Encoder)"),
        &wire,
        &[&header[..], &body[..]].concat(),
    );
    c.eq(
        &format!("{b}/goodbye (Encoder)"),
        &encoder.goodbye(&crypto),
        &goodbye,
    );

    let mut decoder = Decoder::new(receiver.decrypt_key, receiver.decrypt_nonce);
    match decoder.decrypt_header(&crypto, &header) {
        Ok(Header::Body { len, tag }) => {
            c.ok(
                &format!("{b}/header announces the body length"),
                len == body.len(),
            );
            match decoder.decrypt_body(&crypto, &tag, &body) {
                Ok(got) => c.eq(&format!("{b}/plaintext (Decoder)"), &got, &plaintext),
                Err(e) => c.fail(format!("{b}/body did not open: {e}")),
            }
        }
        other => c.fail(format!("{b}/header: expected a body header, got {other:?}")),
    }
    match decoder.decrypt_header(&crypto, &goodbye) {
        Ok(Header::Goodbye) => c.ok(&format!("{b}/goodbye (Decoder)"), true),
        other => c.fail(format!("{b}/goodbye: expected Goodbye, got {other:?}")),
    }
}

/// Replays one case; returns the number of checks made.
fn check_case(case: &Value, failures: &mut Vec<String>) -> usize {
    let crypto = RealCrypto;
    let id = case["id"].as_str().unwrap_or("<no id>");
    let mut c = Checker {
        case: id,
        failures: Vec::new(),
        checks: 0,
    };
    let inp = Inputs::of(case);
    let n = inp.network_key;
    let a_id = inp.client.id();
    let b_id = inp.server.id();

    check_keys(&mut c, case, "client", &inp.client);
    check_keys(&mut c, case, "server", &inp.server);

    // The state machines, each fed the vector's messages.
    let mut client = inp.client();
    let mut server = inp.server();
    c.eq(
        "messages/msg1 (ClientHandshake::hello)",
        &client.hello(),
        &inp.msg1,
    );
    c.ok("ClientHandshake::server", client.server() == b_id);
    let mut keys = None;
    match server.handle_hello(&crypto, &inp.msg1) {
        Ok(msg2) => c.eq(
            "messages/msg2 (ServerHandshake::handle_hello)",
            &msg2,
            &inp.msg2,
        ),
        Err(e) => c.fail(format!("server refused msg1: {e}")),
    }
    match client.handle_hello(&crypto, &inp.msg2) {
        Ok(msg3) => c.eq(
            "messages/msg3 (ClientHandshake::handle_hello)",
            &msg3,
            &inp.msg3,
        ),
        Err(e) => c.fail(format!("client refused msg2: {e}")),
    }
    match server.handle_auth(&crypto, &inp.msg3) {
        Ok((msg4, server_keys)) => {
            c.eq(
                "messages/msg4 (ServerHandshake::handle_auth)",
                &msg4,
                &inp.msg4,
            );
            match client.handle_accept(&crypto, &inp.msg4) {
                Ok(client_keys) => keys = Some((client_keys, server_keys)),
                Err(e) => c.fail(format!("client refused msg4: {e}")),
            }
        }
        Err(e) => c.fail(format!("server refused msg3: {e}")),
    }

    // The intermediates, through the public functions and the crypto seam.
    let a_sk = inp.client_eph;
    let b_sk = inp.server_eph;
    let a_pub = crypto.x25519_public(&a_sk);
    let b_pub = crypto.x25519_public(&b_sk);
    let i = |name: &str| field(case, &format!("intermediate/{name}"));
    c.eq(
        "intermediate/client_hello_hmac",
        &crypto.auth(&n, &a_pub),
        &i("client_hello_hmac"),
    );
    c.eq(
        "intermediate/server_hello_hmac",
        &crypto.auth(&n, &b_pub),
        &i("server_hello_hmac"),
    );
    c.eq(
        "messages/msg1 (hello)",
        &handshake::hello(&crypto, &n, &a_pub),
        &inp.msg1,
    );
    c.eq(
        "messages/msg2 (hello)",
        &handshake::hello(&crypto, &n, &b_pub),
        &inp.msg2,
    );
    c.ok(
        "open_hello(msg1) = a_pub",
        handshake::open_hello(&crypto, &n, &inp.msg1) == Ok(a_pub),
    );
    c.ok(
        "open_hello(msg2) = b_pub",
        handshake::open_hello(&crypto, &n, &inp.msg2) == Ok(b_pub),
    );

    let dh = |sk: &[u8; 32], pk: &[u8; 32], what: &str, c: &mut Checker<'_>| -> [u8; 32] {
        crypto.x25519(sk, pk).unwrap_or_else(|| {
            c.fail(format!("{what}: x25519 refused"));
            [0; 32]
        })
    };
    let a_x = crypto.ed25519_public_to_x25519(&a_id).unwrap_or([0; 32]);
    let b_x = crypto.ed25519_public_to_x25519(&b_id).unwrap_or([0; 32]);
    let a_x_sk = crypto.ed25519_secret_to_x25519(&inp.client);
    let b_x_sk = crypto.ed25519_secret_to_x25519(&inp.server);

    let ab = dh(&a_sk, &b_pub, "dh(a, b_pub)", &mut c);
    c.eq(
        "intermediate/shared_secret_ab = dh(a, b_pub)",
        &ab,
        &i("shared_secret_ab"),
    );
    let ba = dh(&b_sk, &a_pub, "dh(b, a_pub)", &mut c);
    c.eq(
        "intermediate/shared_secret_ab = dh(b, a_pub)",
        &ba,
        &i("shared_secret_ab"),
    );
    let a_b = dh(&a_sk, &b_x, "dh(a, curve(B))", &mut c);
    c.eq(
        "intermediate/shared_secret_aB = dh(a, curve(B))",
        &a_b,
        &i("shared_secret_aB"),
    );
    let b_a = dh(&b_x_sk, &a_pub, "dh(curve(B_sk), a_pub)", &mut c);
    c.eq(
        "intermediate/shared_secret_aB = dh(curve(B_sk), a_pub)",
        &b_a,
        &i("shared_secret_aB"),
    );
    let a_b_long = dh(&a_x_sk, &b_pub, "dh(curve(A_sk), b_pub)", &mut c);
    c.eq(
        "intermediate/shared_secret_Ab = dh(curve(A_sk), b_pub)",
        &a_b_long,
        &i("shared_secret_Ab"),
    );
    let b_a_long = dh(&b_sk, &a_x, "dh(b, curve(A))", &mut c);
    c.eq(
        "intermediate/shared_secret_Ab = dh(b, curve(A))",
        &b_a_long,
        &i("shared_secret_Ab"),
    );

    let secrets = Secrets {
        ab,
        a_b,
        a_b_long: None,
    };
    let ab_hash = secrets.ab_hash();
    c.eq(
        "intermediate/shared_secret_ab_sha256",
        &ab_hash,
        &i("shared_secret_ab_sha256"),
    );
    let k3 = secrets.msg3_key(&n);
    c.eq(
        "intermediate/msg3_secretbox_key",
        &k3,
        &i("msg3_secretbox_key"),
    );
    c.ok(
        "Secrets::msg4_key without Ab is None",
        secrets.msg4_key(&n).is_none(),
    );
    let secrets = Secrets {
        a_b_long: Some(a_b_long),
        ..secrets
    };
    let k4 = secrets.msg4_key(&n).unwrap_or([0; 32]);
    c.eq(
        "intermediate/msg4_secretbox_key",
        &k4,
        &i("msg4_secretbox_key"),
    );

    let signed_a = handshake::client_signed_bytes(&n, &b_id, &ab_hash);
    c.eq(
        "client_signed_bytes = N ‖ B ‖ sha256(ab)",
        &signed_a,
        &[&n[..], b_id.as_bytes(), &ab_hash].concat(),
    );
    let sig_a = crypto.sign(&inp.client, &signed_a);
    c.eq(
        "intermediate/detached_signature_A",
        &sig_a,
        &i("detached_signature_A"),
    );
    c.ok(
        "sigA verifies under A",
        crypto.verify(&a_id, &signed_a, &sig_a),
    );
    let plain3 = [&sig_a[..], a_id.as_bytes()].concat();
    c.eq(
        "intermediate/msg3_plaintext = sigA ‖ A",
        &plain3,
        &i("msg3_plaintext"),
    );
    c.eq(
        "messages/msg3 = box(k3, sigA ‖ A)",
        &crypto.secretbox_seal(&k3, &[0; 24], &plain3),
        &inp.msg3,
    );
    c.eq(
        "messages/msg3 opens under k3",
        &crypto
            .secretbox_open(&k3, &[0; 24], &inp.msg3)
            .unwrap_or_default(),
        &plain3,
    );

    let signed_b = handshake::server_signed_bytes(&n, &sig_a, &a_id, &ab_hash);
    c.eq(
        "server_signed_bytes = N ‖ sigA ‖ A ‖ sha256(ab)",
        &signed_b,
        &[&n[..], &sig_a[..], a_id.as_bytes(), &ab_hash].concat(),
    );
    let sig_b = crypto.sign(&inp.server, &signed_b);
    c.eq(
        "intermediate/detached_signature_B",
        &sig_b,
        &i("detached_signature_B"),
    );
    c.ok(
        "sigB verifies under B",
        crypto.verify(&b_id, &signed_b, &sig_b),
    );
    c.eq(
        "messages/msg4 = box(k4, sigB)",
        &crypto.secretbox_seal(&k4, &[0; 24], &sig_b),
        &inp.msg4,
    );

    let base = sha256(&[&k4]);
    c.eq(
        "intermediate/boxstream_secret = sha256(k4)",
        &base,
        &i("boxstream_secret"),
    );
    let s = |name: &str| field(case, &format!("session/{name}"));
    c.eq(
        "session/client_to_server/key = sha256(base ‖ B)",
        &sha256(&[&base, b_id.as_bytes()]),
        &s("client_to_server/key"),
    );
    c.eq(
        "session/server_to_client/key = sha256(base ‖ A)",
        &sha256(&[&base, a_id.as_bytes()]),
        &s("server_to_client/key"),
    );
    c.eq(
        "session/client_to_server/nonce = msg2[..24]",
        &inp.msg2[..24],
        &s("client_to_server/nonce"),
    );
    c.eq(
        "session/server_to_client/nonce = msg1[..24]",
        &inp.msg1[..24],
        &s("server_to_client/nonce"),
    );

    // What each role ends with, and one frame each way.
    if let Some((client_keys, server_keys)) = keys {
        check_session(&mut c, case, "client", &client_keys, &b_id);
        check_session(&mut c, case, "server", &server_keys, &a_id);
        c.eq(
            "client encrypt_key = client_to_server/key",
            &client_keys.encrypt_key,
            &s("client_to_server/key"),
        );
        c.eq(
            "client encrypt_nonce = client_to_server/nonce",
            &client_keys.encrypt_nonce,
            &s("client_to_server/nonce"),
        );
        c.eq(
            "server encrypt_key = server_to_client/key",
            &server_keys.encrypt_key,
            &s("server_to_client/key"),
        );
        c.eq(
            "server encrypt_nonce = server_to_client/nonce",
            &server_keys.encrypt_nonce,
            &s("server_to_client/nonce"),
        );
        check_boxstream(&mut c, case, "client_to_server", &client_keys, &server_keys);
        check_boxstream(&mut c, case, "server_to_client", &server_keys, &client_keys);
    }

    failures.append(&mut c.failures);
    c.checks
}

#[test]
fn known_answers_match_byte_for_byte() {
    let vectors = load();
    let cases = vectors.cases();
    let mut failures = Vec::new();
    let mut checks = 0;
    for case in cases {
        checks += check_case(case, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed over {} cases of {}:\n{}",
        failures.len(),
        cases.len(),
        vectors.path.display(),
        failures.join("\n")
    );
    println!(
        "{}: {} cases, {checks} checks, all byte-exact",
        vectors.path.display(),
        cases.len()
    );
}

/// The errors a negative of `kind` may end with. Any error is a rejection; this pins
/// the reason too, so that a message is refused for the right cause.
fn expected_errors(kind: &str) -> &'static [HandshakeError] {
    use HandshakeError::*;
    match kind {
        "msg1_wrong_network_key" | "msg1_bit_flip" | "msg1_random" => &[NetworkKey],
        "msg2_wrong_network_key" | "msg2_random" => &[NetworkKey],
        "msg1_truncated" | "msg3_truncated" | "msg4_truncated" => &[Length],
        "msg1_low_order_ephemeral" | "msg2_low_order_ephemeral" => &[LowOrderKey],
        "msg3_random" | "msg3_wrong_box_key" | "msg3_wrong_number" => &[Decrypt],
        "msg4_random" | "msg4_wrong_box_key" => &[Decrypt],
        // A random "client key" is mostly not a curve point, else its signature fails.
        "msg3_random_plaintext" => &[WeakKey, Signature],
        "msg3_signature_wrong_server_pk" => &[Signature],
        "msg3_weak_client_key" => &[WeakKey, Signature],
        "msg4_signed_by_other_key" | "msg4_random_signature" => &[Signature],
        // Unknown kinds (another vector file): any rejection will do.
        _ => &[],
    }
}

/// Feeds one negative to its receiver, which first handles the case's valid earlier
/// messages; then tries to carry on with the valid message of that step and of the
/// next. `Err` describes what went wrong.
fn reject(
    inp: &Inputs,
    step: &str,
    receiver: &str,
    message: &[u8],
) -> Result<HandshakeError, String> {
    let crypto = RealCrypto;
    let after_refusal = |what: &str, result: Result<(), HandshakeError>| -> Result<(), String> {
        match result {
            Err(_) => Ok(()),
            Ok(()) => Err(format!(
                "after refusing the negative, the {receiver} accepted the valid {what}"
            )),
        }
    };
    match (step, receiver) {
        ("msg1", "server") => {
            let mut s = inp.server();
            let err = match s.handle_hello(&crypto, message) {
                Ok(_) => return Err("server accepted the negative msg1 (sent msg2)".into()),
                Err(e) => e,
            };
            after_refusal("msg1", s.handle_hello(&crypto, &inp.msg1).map(drop))?;
            after_refusal("msg3", s.handle_auth(&crypto, &inp.msg3).map(drop))?;
            Ok(err)
        }
        ("msg2", "client") => {
            let mut c = inp.client();
            let err = match c.handle_hello(&crypto, message) {
                Ok(_) => return Err("client accepted the negative msg2 (sent msg3)".into()),
                Err(e) => e,
            };
            after_refusal("msg2", c.handle_hello(&crypto, &inp.msg2).map(drop))?;
            after_refusal("msg4", c.handle_accept(&crypto, &inp.msg4).map(drop))?;
            Ok(err)
        }
        ("msg3", "server") => {
            let mut s = inp.server();
            match s.handle_hello(&crypto, &inp.msg1) {
                Ok(msg2) if msg2[..] == inp.msg2[..] => {}
                other => return Err(format!("setup: valid msg1 gave {other:?}")),
            }
            let err = match s.handle_auth(&crypto, message) {
                Ok((_, keys)) => {
                    return Err(format!(
                        "server accepted the negative msg3 (peer {:?})",
                        keys.peer
                    ))
                }
                Err(e) => e,
            };
            after_refusal("msg3", s.handle_auth(&crypto, &inp.msg3).map(drop))?;
            after_refusal("msg1", s.handle_hello(&crypto, &inp.msg1).map(drop))?;
            Ok(err)
        }
        ("msg4", "client") => {
            let mut c = inp.client();
            match c.handle_hello(&crypto, &inp.msg2) {
                Ok(msg3) if msg3[..] == inp.msg3[..] => {}
                other => {
                    return Err(format!(
                        "setup: valid msg2 gave {:?}",
                        other.map(|m| to_hex(&m))
                    ))
                }
            }
            let err = match c.handle_accept(&crypto, message) {
                Ok(keys) => {
                    return Err(format!(
                        "client accepted the negative msg4 (peer {:?})",
                        keys.peer
                    ))
                }
                Err(e) => e,
            };
            after_refusal("msg4", c.handle_accept(&crypto, &inp.msg4).map(drop))?;
            after_refusal("msg2", c.handle_hello(&crypto, &inp.msg2).map(drop))?;
            Ok(err)
        }
        _ => Err(format!("unknown step/receiver {step}/{receiver}")),
    }
}

#[test]
fn every_negative_is_rejected_and_ends_the_handshake() {
    let vectors = load();
    let cases = vectors.cases();
    let mut failures = Vec::new();
    let mut rejected = 0;
    let mut total = 0;
    let mut by_kind: std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>> =
        Default::default();
    for case in cases {
        let id = case["id"].as_str().unwrap_or("<no id>");
        let inp = Inputs::of(case);
        let negatives = case["negative"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (index, negative) in negatives.iter().enumerate() {
            total += 1;
            let kind = negative["kind"].as_str().unwrap_or("<no kind>");
            let step = negative["step"].as_str().unwrap_or("");
            let receiver = negative["receiver"].as_str().unwrap_or("");
            let name = format!("{id} negative[{index}] {kind}");
            if negative["expect"] != "reject" {
                failures.push(format!(
                    "{name}: expect is {}, not \"reject\"",
                    negative["expect"]
                ));
                continue;
            }
            let message = hex(negative["message"].as_str().unwrap_or_default());
            match step {
                "msg1" | "msg2" => assert!(message.len() <= HELLO_LEN, "{name}: oversize"),
                "msg3" => assert!(message.len() <= AUTH_LEN, "{name}: oversize"),
                _ => assert!(message.len() <= ACCEPT_LEN, "{name}: oversize"),
            }
            match catch_unwind(AssertUnwindSafe(|| reject(&inp, step, receiver, &message))) {
                Err(_) => failures.push(format!("{name}: panicked")),
                Ok(Err(why)) => failures.push(format!("{name}: {why}")),
                Ok(Ok(err)) => {
                    let allowed = expected_errors(kind);
                    if allowed.is_empty() || allowed.contains(&err) {
                        rejected += 1;
                    } else {
                        failures.push(format!(
                            "{name}: rejected with {err:?}, expected one of {allowed:?}"
                        ));
                    }
                    *by_kind
                        .entry(kind.to_string())
                        .or_default()
                        .entry(format!("{err:?}"))
                        .or_default() += 1;
                }
            }
        }
    }
    let tally: Vec<String> = by_kind
        .iter()
        .map(|(kind, errors)| format!("  {kind}: {errors:?}"))
        .collect();
    println!("rejections by kind:\n{}", tally.join("\n"));
    assert!(
        failures.is_empty(),
        "{} of {total} negatives of {} not handled as required:\n{}",
        failures.len(),
        vectors.path.display(),
        failures.join("\n")
    );
    assert!(total > 0, "{}: no negatives", vectors.path.display());
    if vectors.is_default {
        assert_eq!(cases.len(), DEFAULT_CASES, "cases in the default file");
        assert_eq!(total, DEFAULT_NEGATIVES, "negatives in the default file");
    }
    println!(
        "{}: {} cases, {rejected} negatives rejected",
        vectors.path.display(),
        cases.len()
    );
}

#[test]
fn the_file_holds_the_cases_it_announces() {
    let vectors = load();
    let cases = vectors.cases();
    assert!(!cases.is_empty(), "{}: no cases", vectors.path.display());
    if let Some(count) = vectors.root["case_count"].as_u64() {
        assert_eq!(
            cases.len() as u64,
            count,
            "case_count of {}",
            vectors.path.display()
        );
    }
    let negatives: usize = cases
        .iter()
        .map(|c| c["negative"].as_array().map_or(0, Vec::len))
        .sum();
    if vectors.is_default {
        assert_eq!(cases.len(), DEFAULT_CASES);
        assert_eq!(negatives, DEFAULT_NEGATIVES);
        let published = cases
            .iter()
            .filter(|c| c["id"] == "shs1-shared-published")
            .count();
        assert_eq!(
            published, 1,
            "the published shs1-crypto case is in the file"
        );
    }
    let mut ids: Vec<&str> = cases
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), cases.len(), "case ids are unique");
    println!(
        "{}: {} cases, {negatives} negatives",
        vectors.path.display(),
        cases.len()
    );
}
