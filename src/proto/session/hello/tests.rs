use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::super::{SessionConfig, SessionEvent, Sessions};
use super::COOKIE_PERIOD;
use crate::proto::crypto::RealCrypto;
use crate::proto::identity::Identity;
use crate::proto::time::Time;
use crate::proto::wire::{decode, Datagram, Handshake, COOKIE_LEN};

const KEY: [u8; 32] = [5; 32];
const SERVER: &str = "10.0.0.2:7000";
const CLIENT: &str = "10.0.0.1:7000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A server that holds `load` half-open handshakes (from other hosts), with
/// `cookie_load` at `load`: loaded, and one more would be above the threshold.
fn loaded_server(load: usize, rng: &mut ChaCha8Rng) -> Sessions {
    let config = SessionConfig {
        cookie_load: load,
        ..SessionConfig::default()
    };
    let mut server = Sessions::new(config, KEY, Identity::from_seed([2; 32]));
    for i in 0..load {
        let mut other = client(40 + i as u8, rng);
        let (_, hello) = other.poll_transmit().unwrap();
        let from = addr(&format!("10.0.9.{}:7000", i + 1));
        feed(&mut server, Time::ZERO, from, &hello, rng);
    }
    assert_eq!(server.handshaking(), load);
    drain(&mut server);
    server
}

/// A client dialling the server, its hello queued.
fn client(seed: u8, rng: &mut ChaCha8Rng) -> Sessions {
    let mut client = Sessions::new(
        SessionConfig::default(),
        KEY,
        Identity::from_seed([seed; 32]),
    );
    let server = Identity::from_seed([2; 32]).id();
    client.connect(Time::ZERO, &RealCrypto, server, addr(SERVER), rng, None);
    client
}

fn feed(to: &mut Sessions, now: Time, from: SocketAddr, bytes: &[u8], rng: &mut ChaCha8Rng) {
    let Ok(Datagram::Handshake(h)) = decode(bytes) else {
        panic!("a handshake datagram");
    };
    to.handle_handshake(now, &RealCrypto, from, h, rng);
}

fn drain(s: &mut Sessions) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| s.poll_transmit().map(|(_, b)| b)).collect()
}

/// The one datagram `s` sent, decoded.
fn only_reply(s: &mut Sessions) -> Handshake {
    let sent = drain(s);
    assert_eq!(sent.len(), 1, "one answer");
    match decode(&sent[0]) {
        Ok(Datagram::Handshake(h)) => h,
        other => panic!("not a handshake: {other:?}"),
    }
}

/// The cookie the loaded `server` answers `hello` from `from` with.
fn cookie_for(
    server: &mut Sessions,
    now: Time,
    from: &str,
    hello: &[u8],
    rng: &mut ChaCha8Rng,
) -> [u8; COOKIE_LEN] {
    feed(server, now, addr(from), hello, rng);
    match only_reply(server) {
        Handshake::Cookie { cookie, .. } => cookie,
        other => panic!("a cookie reply, not {other:?}"),
    }
}

/// Feeds `bytes` from `from` to the loaded `server` and checks that it was refused for
/// its cookie: answered with a fresh cookie, counted, nothing kept.
fn refused(server: &mut Sessions, from: &str, bytes: &[u8], at: Time, rng: &mut ChaCha8Rng) {
    let before = server.stats().cookies_refused;
    let held = server.handshaking();
    feed(server, at, addr(from), bytes, rng);
    assert!(
        matches!(only_reply(server), Handshake::Cookie { .. }),
        "answered with a fresh cookie, not msg2"
    );
    assert_eq!(server.stats().cookies_refused, before + 1);
    assert_eq!(server.handshaking(), held, "nothing kept");
}

/// `hello` (msg1 alone) again with `cookie` beside it.
fn with_cookie(hello: &[u8], cookie: [u8; COOKIE_LEN]) -> Vec<u8> {
    let Ok(Datagram::Handshake(Handshake::Hello { client, msg })) = decode(hello) else {
        panic!("a hello");
    };
    Datagram::Handshake(Handshake::CookieHello {
        client,
        msg,
        cookie,
    })
    .to_bytes()
}

#[test]
fn under_load_a_hello_gets_a_small_cookie_reply_and_no_state_or_key() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut server = loaded_server(4, &mut rng);
    let mut c = client(10, &mut rng);
    let (_, hello) = c.poll_transmit().unwrap();
    feed(&mut server, Time::ZERO, addr(CLIENT), &hello, &mut rng);
    let sent = drain(&mut server);
    assert_eq!(sent.len(), 1);
    assert!(
        matches!(
            decode(&sent[0]),
            Ok(Datagram::Handshake(Handshake::Cookie { .. }))
        ),
        "a cookie, not msg2"
    );
    assert!(sent[0].len() * 3 < hello.len(), "it amplifies nothing");
    assert_eq!(server.handshaking(), 4, "nothing kept for it");
    assert_eq!(server.stats().cookies_sent, 1);
    // Once the period's secret is drawn, a hello costs the server no randomness at all:
    // no ephemeral key, no session number.
    let mut other = client(11, &mut rng);
    let (_, hello) = other.poll_transmit().unwrap();
    let before = rng.clone();
    feed(
        &mut server,
        Time::ZERO,
        addr("10.0.3.3:7000"),
        &hello,
        &mut rng,
    );
    assert_eq!(rng, before, "no key drawn");
    assert_eq!(server.handshaking(), 4);
    assert_eq!(server.stats().cookies_sent, 2);
}

#[test]
fn a_client_under_load_follows_the_cookie_and_completes_its_handshake() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut server = loaded_server(4, &mut rng);
    let mut c = client(10, &mut rng);
    let now = Time::ZERO;
    // Both ways until quiet.
    for _ in 0..10 {
        for bytes in drain(&mut c) {
            feed(&mut server, now, addr(CLIENT), &bytes, &mut rng);
        }
        for bytes in drain(&mut server) {
            feed(&mut c, now, addr(SERVER), &bytes, &mut rng);
        }
    }
    let server_id = Identity::from_seed([2; 32]).id();
    let client_id = Identity::from_seed([10; 32]).id();
    assert!(c.is_open(&server_id), "the client's session is open");
    assert!(server.is_open(&client_id), "the server's session is open");
    assert!(matches!(
        c.poll_event(),
        Some(SessionEvent::Established { .. })
    ));
    assert_eq!(server.stats().cookies_sent, 1);
    assert_eq!(server.stats().cookie_hellos, 1);
    assert_eq!(server.stats().cookies_refused, 0);
    assert_eq!(c.stats().cookies_followed, 1);
}

#[test]
fn a_forged_stale_or_misaddressed_cookie_is_refused_and_keeps_nothing() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut server = loaded_server(4, &mut rng);
    let mut c = client(10, &mut rng);
    let (_, hello) = c.poll_transmit().unwrap();
    let now = Time::ZERO + Duration::from_secs(30);
    let cookie = cookie_for(&mut server, now, CLIENT, &hello, &mut rng);
    let mut forged = cookie;
    forged[0] ^= 1;
    refused(
        &mut server,
        CLIENT,
        &with_cookie(&hello, forged),
        now,
        &mut rng,
    );
    // The right cookie, from another port of the same host, or another host.
    let good = with_cookie(&hello, cookie);
    refused(&mut server, "10.0.0.1:7001", &good, now, &mut rng);
    refused(&mut server, "10.0.0.3:7000", &good, now, &mut rng);
    // The right cookie beside another hello (another ephemeral key).
    let mut other = client(11, &mut rng);
    let (_, other_hello) = other.poll_transmit().unwrap();
    refused(
        &mut server,
        CLIENT,
        &with_cookie(&other_hello, cookie),
        now,
        &mut rng,
    );
    // Two periods on: stale.
    let later = now + COOKIE_PERIOD * 2;
    refused(&mut server, CLIENT, &good, later, &mut rng);
    assert_eq!(server.stats().cookie_hellos, 0);
}

#[test]
fn a_cookie_minted_just_before_the_secret_changes_still_holds() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut server = loaded_server(4, &mut rng);
    let mut c = client(10, &mut rng);
    let (_, hello) = c.poll_transmit().unwrap();
    let minted = Time::ZERO + COOKIE_PERIOD - Duration::from_millis(1);
    let cookie = cookie_for(&mut server, minted, CLIENT, &hello, &mut rng);
    // Another hello a moment later draws the next period's secret.
    let mut other = client(11, &mut rng);
    let (_, other_hello) = other.poll_transmit().unwrap();
    let after = minted + Duration::from_millis(2);
    cookie_for(&mut server, after, "10.0.3.3:7000", &other_hello, &mut rng);
    feed(
        &mut server,
        after,
        addr(CLIENT),
        &with_cookie(&hello, cookie),
        &mut rng,
    );
    assert!(matches!(
        only_reply(&mut server),
        Handshake::HelloReply { .. }
    ));
    assert_eq!(server.stats().cookie_hellos, 1);
    assert_eq!(server.handshaking(), 5);
}

#[test]
fn below_load_hellos_are_answered_as_before_and_no_secret_is_drawn() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut server = loaded_server(0, &mut rng);
    server.config.cookie_load = 4;
    for i in 0..4u8 {
        let mut c = client(10 + i, &mut rng);
        let (_, hello) = c.poll_transmit().unwrap();
        let from = format!("10.0.4.{}:7000", i + 1);
        feed(&mut server, Time::ZERO, addr(&from), &hello, &mut rng);
        assert!(matches!(
            only_reply(&mut server),
            Handshake::HelloReply { .. }
        ));
    }
    // A cookie that means nothing costs a client nothing below load either.
    let mut c = client(20, &mut rng);
    let (_, hello) = c.poll_transmit().unwrap();
    server.config.cookie_load = 5;
    let bogus = with_cookie(&hello, [9; COOKIE_LEN]);
    feed(&mut server, Time::ZERO, addr(CLIENT), &bogus, &mut rng);
    assert!(matches!(
        only_reply(&mut server),
        Handshake::HelloReply { .. }
    ));
    let stats = server.stats();
    assert_eq!(
        (
            stats.cookies_sent,
            stats.cookie_hellos,
            stats.cookies_refused
        ),
        (0, 0, 0)
    );
    assert!(server.cookies.current.is_none(), "no secret drawn");
}

#[test]
fn a_dial_follows_cookies_only_from_its_server_and_only_a_few_at_once() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut c = client(10, &mut rng);
    let (_, hello) = c.poll_transmit().unwrap();
    let Ok(Datagram::Handshake(Handshake::Hello { client: id, .. })) = decode(&hello) else {
        panic!("a hello");
    };
    let reply = |cookie: u8| {
        Datagram::Handshake(Handshake::Cookie {
            client: id,
            cookie: [cookie; COOKIE_LEN],
        })
        .to_bytes()
    };
    // From elsewhere: ignored.
    feed(
        &mut c,
        Time::ZERO,
        addr("10.0.7.7:7000"),
        &reply(1),
        &mut rng,
    );
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.stats().handshake_unmatched, 1);
    // From the server: the hello again, same SHS1 bytes, the cookie beside them.
    for n in 1..=5u8 {
        feed(&mut c, Time::ZERO, addr(SERVER), &reply(n), &mut rng);
        let sent = drain(&mut c);
        if n <= super::COOKIES_FOLLOWED_MAX {
            assert_eq!(sent, vec![with_cookie(&hello, [n; COOKIE_LEN])]);
        } else {
            assert!(sent.is_empty(), "reply {n} was followed at once");
        }
    }
    // The retransmission carries the latest cookie.
    c.handle_timeout(Time::ZERO + Duration::from_secs(1));
    assert_eq!(drain(&mut c), vec![with_cookie(&hello, [5; COOKIE_LEN])]);
}
