use super::*;
use crate::proto::crypto::RealCrypto;
use crate::proto::wire::decode;

/// The flags of a frame from a node behind a NAT.
const UNLISTED: FrameFlags = FrameFlags {
    unlisted: true,
    keep: false,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const A: &str = "10.0.0.1:7000";
const B: &str = "10.0.0.2:7000";

pub(super) struct Pair {
    pub(super) a: Sessions,
    pub(super) b: Sessions,
    rng: ChaCha8Rng,
    now: Time,
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pair(key_a: [u8; 32], key_b: [u8; 32]) -> Pair {
    Pair {
        a: Sessions::new(
            SessionConfig::default(),
            key_a,
            Identity::from_seed([1; 32]),
        ),
        b: Sessions::new(
            SessionConfig::default(),
            key_b,
            Identity::from_seed([2; 32]),
        ),
        rng: ChaCha8Rng::seed_from_u64(7),
        now: Time::ZERO,
    }
}

impl Pair {
    /// Delivers every queued datagram both ways until quiet, dropping those `drop`
    /// says to (by position in the overall sequence); returns how many went.
    fn pump(&mut self, mut drop: impl FnMut(usize) -> bool) -> usize {
        let mut n = 0;
        loop {
            let mut moved = false;
            while let Some((dst, bytes)) = self.a.poll_transmit() {
                assert_eq!(dst, addr(B));
                moved = true;
                n += 1;
                if !drop(n) {
                    deliver(&mut self.b, self.now, addr(A), &bytes, &mut self.rng);
                }
            }
            while let Some((dst, bytes)) = self.b.poll_transmit() {
                assert_eq!(dst, addr(A));
                moved = true;
                n += 1;
                if !drop(n) {
                    deliver(&mut self.a, self.now, addr(B), &bytes, &mut self.rng);
                }
            }
            if !moved {
                return n;
            }
        }
    }

    fn connect(&mut self) {
        let b_id = Identity::from_seed([2; 32]).id();
        self.a
            .connect(self.now, &RealCrypto, b_id, addr(B), &mut self.rng, None);
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
    }
}

fn deliver(to: &mut Sessions, now: Time, from: SocketAddr, bytes: &[u8], rng: &mut ChaCha8Rng) {
    match decode(bytes).expect("sessions send valid datagrams") {
        Datagram::Handshake(h) => {
            to.handle_handshake(now, &RealCrypto, from, h, rng);
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn events(s: &mut Sessions) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn seal_open(
    from: &mut Sessions,
    to: &mut Sessions,
    peer: &NodeId,
    src: &str,
    text: &[u8],
) -> Result<Vec<u8>, OpenError> {
    let (_, datagram) = from
        .seal(&RealCrypto, peer, text, FrameFlags::default())
        .expect("session open");
    let Datagram::Sealed { header, ciphertext } = decode(&datagram).unwrap() else {
        panic!("a sealed frame");
    };
    to.open_frame(Time::ZERO, &RealCrypto, addr(src), header, &ciphertext)
        .map(|(_, plain)| plain)
}

#[test]
fn a_handshake_opens_sessions_on_both_sides_that_carry_frames_both_ways() {
    let mut p = pair([5; 32], [5; 32]);
    p.connect();
    assert_eq!(p.pump(|_| false), 4, "four messages");
    let (a_id, b_id) = (
        Identity::from_seed([1; 32]).id(),
        Identity::from_seed([2; 32]).id(),
    );
    assert_eq!(
        events(&mut p.a),
        vec![SessionEvent::Established {
            peer: b_id,
            addr: addr(B),
            initiator: true,
            early: false,
        }]
    );
    assert_eq!(
        events(&mut p.b),
        vec![SessionEvent::Established {
            peer: a_id,
            addr: addr(A),
            initiator: false,
            early: false,
        }]
    );
    assert_eq!(
        seal_open(&mut p.a, &mut p.b, &b_id, A, b"ping"),
        Ok(b"ping".to_vec())
    );
    assert_eq!(
        seal_open(&mut p.b, &mut p.a, &a_id, B, b"pong"),
        Ok(b"pong".to_vec())
    );
}

#[test]
fn another_network_key_never_completes() {
    let mut p = pair([5; 32], [6; 32]);
    p.connect();
    assert_eq!(p.pump(|_| false), 1, "msg1 is dropped by the server");
    assert_eq!(p.b.stats().handshakes_rejected, 1);
    for _ in 0..5 {
        p.advance(Duration::from_secs(10));
        p.pump(|_| false);
    }
    let b_id = Identity::from_seed([2; 32]).id();
    assert_eq!(
        events(&mut p.a),
        vec![SessionEvent::Failed {
            peer: b_id,
            addr: addr(B),
            reason: HandshakeFailure::Timeout
        }]
    );
    assert!(events(&mut p.b).is_empty());
    assert!(!p.a.is_open(&b_id));
}

#[test]
fn dialling_another_key_at_the_address_is_never_a_session() {
    let mut p = pair([5; 32], [5; 32]);
    let expected = Identity::from_seed([3; 32]).id();
    p.a.connect(p.now, &RealCrypto, expected, addr(B), &mut p.rng, None);
    p.pump(|_| false);
    assert_eq!(
        p.b.stats().handshakes_rejected,
        1,
        "msg3 does not open for the impostor"
    );
    for _ in 0..5 {
        p.advance(Duration::from_secs(10));
        p.pump(|_| false);
    }
    assert!(!p.a.is_open(&expected));
    assert!(
        events(&mut p.b).is_empty(),
        "the server learned nothing it accepts"
    );
    assert!(matches!(
        events(&mut p.a).as_slice(),
        [SessionEvent::Failed {
            reason: HandshakeFailure::Timeout,
            ..
        }]
    ));
}

/// What `a` sent, in order: its `Auth` datagrams (msg3) by when they went out.
fn msg3_times(sent: &[(Time, Vec<u8>)]) -> Vec<Duration> {
    sent.iter()
        .filter(|(_, bytes)| {
            matches!(
                decode(bytes),
                Ok(Datagram::Handshake(Handshake::Auth { .. }))
            )
        })
        .map(|(at, _)| *at - Time::ZERO)
        .collect()
}

#[test]
fn a_key_the_address_does_not_hold_is_given_up_after_two_msg3_resends_timed_by_the_round_trip() {
    // msg1 and msg2 take 100 ms together: msg4 should follow msg3 as soon, so msg3 is
    // resent after three round trips (300 ms), then 600 ms, and the dial fails 1.2 s
    // after the last resend: 2.2 s in all, where 500 ms, 1 s, 2 s and 4 s more took
    // 7.6 s.
    let mut p = pair([5; 32], [5; 32]);
    let invented = Identity::from_seed([3; 32]).id();
    p.a.connect(p.now, &RealCrypto, invented, addr(B), &mut p.rng, None);
    let (_, hello) = p.a.poll_transmit().unwrap();
    deliver(&mut p.b, p.now, addr(A), &hello, &mut p.rng);
    let (_, reply) = p.b.poll_transmit().unwrap();
    p.advance(Duration::from_millis(100));
    deliver(&mut p.a, p.now, addr(B), &reply, &mut p.rng);
    let mut sent = Vec::new();
    let mut failed = None;
    while p.now < Time::ZERO + Duration::from_secs(10) {
        while let Some((_, bytes)) = p.a.poll_transmit() {
            deliver(&mut p.b, p.now, addr(A), &bytes, &mut p.rng);
            sent.push((p.now, bytes));
        }
        if failed.is_none() && !events(&mut p.a).is_empty() {
            failed = Some(p.now - Time::ZERO);
        }
        p.advance(Duration::from_millis(50));
    }
    let ms = Duration::from_millis;
    assert_eq!(msg3_times(&sent), vec![ms(100), ms(400), ms(1000)]);
    assert_eq!(failed, Some(ms(2200)));
    let server = p.b.stats();
    assert_eq!(
        (server.handshakes_rejected, server.handshake_unmatched),
        (1, 2),
        "the first msg3 did not open, and the server then forgot the handshake"
    );
    let stats = p.a.stats();
    assert_eq!(
        (stats.handshakes_timed_out, stats.handshakes_unproven),
        (1, 1)
    );
}

#[test]
fn msg3_or_msg4_lost_twice_in_a_row_still_opens_the_session() {
    // A msg3 and a msg4 lost, in turn: the third msg3 opens the session, 600 ms
    // after the first (on the 200 ms floor: the pump's round trip takes no time).
    let mut p = pair([5; 32], [5; 32]);
    p.connect();
    p.pump(|n| n == 3);
    p.advance(Duration::from_millis(200));
    p.pump(|n| n == 2);
    let b_id = Identity::from_seed([2; 32]).id();
    assert!(!p.a.is_open(&b_id));
    p.advance(Duration::from_millis(400));
    p.pump(|_| false);
    assert!(p.a.is_open(&b_id));
    assert_eq!(p.a.stats().handshakes_completed, 1);
}

#[test]
fn lost_messages_are_retransmitted_and_duplicates_answered_the_same() {
    for lost in 1..=4 {
        let mut p = pair([5; 32], [5; 32]);
        p.connect();
        p.pump(|n| n == lost);
        for _ in 0..4 {
            p.advance(Duration::from_secs(2));
            p.pump(|_| false);
        }
        let b_id = Identity::from_seed([2; 32]).id();
        assert!(p.a.is_open(&b_id), "message {lost} lost once");
        assert_eq!(
            seal_open(&mut p.a, &mut p.b, &b_id, A, b"x"),
            Ok(b"x".to_vec())
        );
        assert_eq!(p.a.stats().handshakes_completed, 1);
        assert_eq!(
            p.b.stats().handshakes_completed,
            1,
            "a duplicate never opens a second session"
        );
    }
}

#[test]
fn replayed_tampered_and_stray_frames_are_refused() {
    let mut p = pair([5; 32], [5; 32]);
    p.connect();
    p.pump(|_| false);
    let b_id = Identity::from_seed([2; 32]).id();
    let (_, datagram) =
        p.a.seal(&RealCrypto, &b_id, b"once", FrameFlags::default())
            .unwrap();
    let Datagram::Sealed { header, ciphertext } = decode(&datagram).unwrap() else {
        panic!()
    };
    let (receiver, counter) = (header.receiver, header.counter);
    let open = |s: &mut Sessions, r, c, ct: &[u8]| {
        let frame = SealedHeader {
            receiver: r,
            counter: c,
            ..header
        };
        s.open_frame(Time::ZERO, &RealCrypto, addr(A), frame, ct)
    };
    assert!(open(&mut p.b, receiver, counter, &ciphertext).is_ok());
    assert_eq!(
        open(&mut p.b, receiver, counter, &ciphertext),
        Err(OpenError::Replay)
    );
    let mut tampered = ciphertext.clone();
    tampered[0] ^= 1;
    assert_eq!(
        open(&mut p.b, receiver, counter + 1, &tampered),
        Err(OpenError::Decrypt)
    );
    assert_eq!(
        open(&mut p.b, receiver, counter + 1, &ciphertext),
        Err(OpenError::Decrypt),
        "counter is bound"
    );
    assert_eq!(
        open(&mut p.b, SessionId(receiver.0 ^ 1), counter, &ciphertext),
        Err(OpenError::UnknownSession)
    );
    let stats = p.b.stats();
    assert_eq!(
        (
            stats.frames_opened,
            stats.frames_replayed,
            stats.frames_undecryptable
        ),
        (1, 1, 2)
    );
}

#[test]
fn reordered_frames_within_the_window_are_accepted_once() {
    let mut w = ReplayWindow::default();
    for c in [5, 3, 9, 4, 1] {
        assert!(w.check(c), "{c}");
        w.record(c);
    }
    for c in [5, 3, 9, 4, 1] {
        assert!(!w.check(c), "{c} replayed");
    }
    assert!(w.check(2));
    w.record(2000);
    assert!(!w.check(2000 - 128), "too old for the window");
    assert!(w.check(2000 - 127));
    assert!(!w.check(9));
    w.record(2000 - 127);
    assert!(
        !w.check(2000 - 127),
        "the oldest place in the window is kept"
    );
    w.record(2000 + 70);
    assert!(!w.check(2000), "kept across a shift of more than one word");
    assert!(w.check(2001));
    assert!(!w.check(2000 - 127), "shifted out: too old now");
    w.record(2000 + 70 + 500);
    assert!(!w.check(2000 + 70), "a jump past the window clears it");
    assert!(w.check(2000 + 70 + 499));
}

#[test]
fn half_open_handshakes_are_bounded_per_source() {
    let config = SessionConfig {
        half_open_per_source_max: 3,
        ..SessionConfig::default()
    };
    let mut server = Sessions::new(config, [5; 32], Identity::from_seed([2; 32]));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut clients: Vec<Sessions> = (0..5)
        .map(|i| {
            Sessions::new(
                SessionConfig::default(),
                [5; 32],
                Identity::from_seed([10 + i; 32]),
            )
        })
        .collect();
    for client in &mut clients {
        client.connect(
            Time::ZERO,
            &RealCrypto,
            Identity::from_seed([2; 32]).id(),
            addr(B),
            &mut rng,
            None,
        );
        let (_, hello) = client.poll_transmit().unwrap();
        deliver(&mut server, Time::ZERO, addr(A), &hello, &mut rng);
    }
    assert_eq!(server.handshaking(), 3);
    assert_eq!(server.stats().half_open_refused, 2);
    // They expire, and the slots are free again.
    server.handle_timeout(Time::ZERO + Duration::from_secs(60));
    assert_eq!(server.handshaking(), 0);
}

/// A hello for `server` from a new client holding `network_key`.
fn hello_to(server: &Identity, network_key: [u8; 32], seed: u8, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut client = Sessions::new(
        SessionConfig::default(),
        network_key,
        Identity::from_seed([seed; 32]),
    );
    client.connect(Time::ZERO, &RealCrypto, server.id(), addr(B), rng, None);
    client.poll_transmit().unwrap().1
}

#[test]
fn rotating_ports_buys_a_flood_no_more_half_open_handshakes() {
    let config = SessionConfig {
        half_open_per_source_max: 3,
        ..SessionConfig::default()
    };
    let server_identity = Identity::from_seed([2; 32]);
    let mut server = Sessions::new(config, [5; 32], server_identity.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for port in 0..6u8 {
        let hello = hello_to(&server_identity, [5; 32], 10 + port, &mut rng);
        let from = addr(&format!("10.0.0.9:{}", 4000 + u16::from(port)));
        deliver(&mut server, Time::ZERO, from, &hello, &mut rng);
    }
    assert_eq!(server.handshaking(), 3);
    assert_eq!(server.stats().half_open_refused, 3);
    // Another host still gets its handshake.
    let hello = hello_to(&server_identity, [5; 32], 30, &mut rng);
    deliver(
        &mut server,
        Time::ZERO,
        addr("10.0.0.10:4000"),
        &hello,
        &mut rng,
    );
    assert_eq!(server.handshaking(), 4);
}

#[test]
fn a_hello_without_the_network_key_costs_no_key_and_evicts_nobody() {
    let config = SessionConfig {
        half_open_max: 3,
        ..SessionConfig::default()
    };
    let server_identity = Identity::from_seed([2; 32]);
    let mut server = Sessions::new(config, [5; 32], server_identity.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for i in 0..3u8 {
        let hello = hello_to(&server_identity, [5; 32], 10 + i, &mut rng);
        let from = addr(&format!("10.0.1.{}:7000", i + 1));
        deliver(&mut server, Time::ZERO, from, &hello, &mut rng);
    }
    let forged = hello_to(&server_identity, [6; 32], 20, &mut rng);
    let before = rng.clone();
    deliver(
        &mut server,
        Time::ZERO,
        addr("10.0.2.1:7000"),
        &forged,
        &mut rng,
    );
    assert_eq!(server.stats().handshakes_rejected, 1);
    assert_eq!(
        server.stats().half_open_evicted,
        0,
        "an honest one was pushed out"
    );
    assert_eq!(server.handshaking(), 3);
    assert_eq!(rng, before, "no ephemeral key was drawn for it");
}

#[test]
fn at_the_half_open_limit_the_oldest_makes_room_for_a_new_hello() {
    let config = SessionConfig {
        half_open_max: 3,
        ..SessionConfig::default()
    };
    let server_identity = Identity::from_seed([2; 32]);
    let mut server = Sessions::new(config, [5; 32], server_identity.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut clients: Vec<Sessions> = (0..5)
        .map(|i| {
            Sessions::new(
                SessionConfig::default(),
                [5; 32],
                Identity::from_seed([10 + i; 32]),
            )
        })
        .collect();
    let source = |i: usize| addr(&format!("10.0.1.{}:7000", i + 1));
    for (i, client) in clients.iter_mut().enumerate() {
        client.connect(
            Time::ZERO,
            &RealCrypto,
            server_identity.id(),
            addr(B),
            &mut rng,
            None,
        );
        let (_, hello) = client.poll_transmit().unwrap();
        let at = Time::ZERO + Duration::from_millis(i as u64);
        deliver(&mut server, at, source(i), &hello, &mut rng);
    }
    assert_eq!(server.handshaking(), 3);
    assert_eq!(server.stats().half_open_evicted, 2);
    assert_eq!(server.stats().half_open_refused, 0);
    // The newest client finishes its handshake; the evicted first one cannot.
    let now = Time::ZERO + Duration::from_millis(10);
    while let Some((_, reply)) = server.poll_transmit() {
        for (i, client) in clients.iter_mut().enumerate() {
            deliver(client, now, addr(B), &reply, &mut rng);
            while let Some((_, auth)) = client.poll_transmit() {
                deliver(&mut server, now, source(i), &auth, &mut rng);
            }
        }
    }
    assert!(server.is_open(&Identity::from_seed([14; 32]).id()));
    assert!(!server.is_open(&Identity::from_seed([10; 32]).id()));
}

#[test]
fn idle_sessions_close_and_can_be_dialled_again() {
    let mut p = pair([5; 32], [5; 32]);
    p.connect();
    p.pump(|_| false);
    events(&mut p.a);
    let b_id = Identity::from_seed([2; 32]).id();
    p.advance(SessionConfig::default().idle_timeout + Duration::from_secs(1));
    assert!(!p.a.is_open(&b_id));
    assert_eq!(events(&mut p.a), vec![SessionEvent::Closed { peer: b_id }]);
    p.connect();
    p.pump(|_| false);
    assert!(p.a.is_open(&b_id));
}

/// A pair with a session open between them, and their ids.
pub(super) fn open_pair() -> (Pair, NodeId, NodeId) {
    let mut p = pair([5; 32], [5; 32]);
    p.connect();
    p.pump(|_| false);
    let ids = (
        Identity::from_seed([1; 32]).id(),
        Identity::from_seed([2; 32]).id(),
    );
    (p, ids.0, ids.1)
}

/// A session one end keeps (its frames say so) stays open at both ends past the idle
/// timeout of sessions nobody keeps: the table's checks and refreshes ride it instead
/// of dialling. It still closes after the kept idle timeout.
#[test]
fn a_session_either_end_keeps_outlives_the_idle_timeout_at_both_ends() {
    let (mut p, a_id, b_id) = open_pair();
    let keep = FrameFlags {
        unlisted: false,
        keep: true,
    };
    let (_, frame) = p.a.seal(&RealCrypto, &b_id, b"ping", keep).unwrap();
    assert!(open_datagram(&mut p.b, p.now, A, &frame).is_ok());
    let config = SessionConfig::default();
    assert!(config.kept_idle_timeout > config.idle_timeout);
    p.advance(config.idle_timeout + Duration::from_secs(1));
    assert!(p.a.is_open(&b_id), "kept where the frame was sealed");
    assert!(p.b.is_open(&a_id), "kept where it was read");
    p.advance(config.kept_idle_timeout - config.idle_timeout);
    assert!(!p.a.is_open(&b_id) && !p.b.is_open(&a_id));
}

/// `keep` marks the session at this end only; a frame sealed without the flag
/// gives it up again.
#[test]
fn keep_holds_this_end_until_a_frame_says_otherwise() {
    let (mut p, a_id, b_id) = open_pair();
    p.a.keep(&b_id);
    let idle = SessionConfig::default().idle_timeout;
    p.advance(idle + Duration::from_secs(1));
    assert!(p.a.is_open(&b_id));
    assert!(!p.b.is_open(&a_id), "B was never told");
    let (_, frame) =
        p.a.seal(&RealCrypto, &b_id, b"x", FrameFlags::default())
            .unwrap();
    assert_eq!(
        open_datagram(&mut p.b, p.now, A, &frame),
        Err(OpenError::UnknownSession)
    );
    p.advance(idle + Duration::from_secs(1));
    assert!(!p.a.is_open(&b_id), "not kept since its last frame");
}

#[test]
fn could_open_tells_who_holds_the_keys_and_changes_nothing() {
    let mut p = pair([5; 32], [5; 32]);
    p.connect();
    p.pump(|_| false);
    let b_id = Identity::from_seed([2; 32]).id();
    let (_, datagram) =
        p.a.seal(&RealCrypto, &b_id, b"for b only", FrameFlags::default())
            .unwrap();
    assert!(p.b.could_open(&RealCrypto, &datagram));
    assert!(
        !p.a.could_open(&RealCrypto, &datagram),
        "the sender cannot read its own frame back"
    );
    let mut flipped = datagram.clone();
    flipped[2] ^= 1; // the unlisted bit is authenticated too
    assert!(!p.b.could_open(&RealCrypto, &flipped));
    assert!(!p.b.could_open(&RealCrypto, b"not a frame"));
    // Asking left the replay window alone: the frame still opens, once.
    let Datagram::Sealed { header, ciphertext } = decode(&datagram).unwrap() else {
        panic!()
    };
    let frame = header;
    assert!(p
        .b
        .open_frame(Time::ZERO, &RealCrypto, addr(A), frame, &ciphertext)
        .is_ok());
    assert_eq!(p.b.stats().frames_opened, 1);
}

impl Pair {
    /// A dials B with `early` beside msg3 and carries the handshake as far as msg3:
    /// msg1 and msg2 delivered (neither brings an early message), msg3 handed back
    /// undelivered.
    fn dial_to_msg3(&mut self, early: (Vec<u8>, FrameFlags)) -> Vec<u8> {
        let b_id = Identity::from_seed([2; 32]).id();
        self.a.connect(
            self.now,
            &RealCrypto,
            b_id,
            addr(B),
            &mut self.rng,
            Some(early),
        );
        let (_, hello) = self.a.poll_transmit().unwrap();
        assert!(deliver_early(&mut self.b, addr(A), &hello, &mut self.rng).is_none());
        let (_, reply) = self.b.poll_transmit().unwrap();
        assert!(deliver_early(&mut self.a, addr(B), &reply, &mut self.rng).is_none());
        self.a.poll_transmit().unwrap().1
    }
}

/// Delivers `bytes` and hands back what came beside msg3, if anything.
fn deliver_early(
    to: &mut Sessions,
    from: SocketAddr,
    bytes: &[u8],
    rng: &mut ChaCha8Rng,
) -> Option<EarlyMessage> {
    match decode(bytes).expect("sessions send valid datagrams") {
        Datagram::Handshake(h) => {
            let mut early = to.handle_handshake(Time::ZERO, &RealCrypto, from, h, rng);
            assert!(early.len() <= 1, "{early:?}");
            early.pop()
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_first_message_rides_beside_msg3_and_opens_once() {
    let mut p = pair([5; 32], [5; 32]);
    let (a_id, b_id) = (
        Identity::from_seed([1; 32]).id(),
        Identity::from_seed([2; 32]).id(),
    );
    let request = b"find node 42".to_vec();
    let auth = p.dial_to_msg3((request.clone(), UNLISTED));
    assert!(
        auth.len() > 119,
        "msg3 carries a frame: {} bytes",
        auth.len()
    );
    // The server proves the client with msg3, then opens the frame beside it.
    let early = deliver_early(&mut p.b, addr(A), &auth, &mut p.rng).expect("the early message");
    assert_eq!(
        early,
        EarlyMessage {
            peer: a_id,
            unlisted: true,
            plaintext: request
        }
    );
    assert_eq!(p.b.stats().early_opened, 1);
    // msg4 is lost: the client sends msg3 again, frame and all; the server answers
    // with msg4 again but does not hand the message out twice.
    let (_, accept) = p.b.poll_transmit().unwrap();
    assert!(deliver_early(&mut p.b, addr(A), &auth, &mut p.rng).is_none());
    assert_eq!(p.b.poll_transmit().map(|(_, d)| d), Some(accept.clone()));
    deliver_early(&mut p.a, addr(B), &accept, &mut p.rng);
    let established: Vec<_> = events(&mut p.a);
    assert!(
        matches!(
            established.as_slice(),
            [SessionEvent::Established { early: true, .. }]
        ),
        "{established:?}"
    );
    // The session goes on at counter 2, in both directions' windows.
    assert_eq!(
        seal_open(&mut p.a, &mut p.b, &b_id, A, b"next").unwrap(),
        b"next"
    );
    assert_eq!(
        seal_open(&mut p.b, &mut p.a, &a_id, B, b"answer").unwrap(),
        b"answer"
    );
}

#[test]
fn the_answer_rides_beside_msg4_and_a_duplicate_msg3_gets_both_again() {
    let mut p = pair([5; 32], [5; 32]);
    let (a_id, b_id) = (
        Identity::from_seed([1; 32]).id(),
        Identity::from_seed([2; 32]).id(),
    );
    let auth = p.dial_to_msg3((b"find node 42".to_vec(), FrameFlags::default()));
    deliver_early(&mut p.b, addr(A), &auth, &mut p.rng).expect("the early message");
    // The server answers while msg4 still waits to go: one datagram carries both.
    let (_, answer) =
        p.b.seal(&RealCrypto, &a_id, b"answer", FrameFlags::default())
            .unwrap();
    assert_eq!(p.b.beside_accept(&a_id, answer), Ok(()));
    let (_, second) =
        p.b.seal(&RealCrypto, &a_id, b"more", FrameFlags::default())
            .unwrap();
    assert!(
        p.b.beside_accept(&a_id, second).is_err(),
        "one frame beside msg4 at most"
    );
    let (_, accept) = p.b.poll_transmit().unwrap();
    assert!(
        p.b.poll_transmit().is_none(),
        "msg4 and the answer are one datagram"
    );
    assert!(matches!(
        decode(&accept),
        Ok(Datagram::Handshake(Handshake::Accept {
            early: Some(_),
            ..
        }))
    ));
    assert_eq!(p.b.stats().early_answers, 1);
    // msg4 is lost and msg3 comes again: the same datagram, answer included.
    assert!(deliver_early(&mut p.b, addr(A), &auth, &mut p.rng).is_none());
    assert_eq!(p.b.poll_transmit().map(|(_, d)| d), Some(accept.clone()));
    // The client opens the session, then the answer, once.
    let opened = deliver_early(&mut p.a, addr(B), &accept, &mut p.rng);
    assert_eq!(
        opened,
        Some(EarlyMessage {
            peer: b_id,
            unlisted: false,
            plaintext: b"answer".to_vec()
        })
    );
    assert!(deliver_early(&mut p.a, addr(B), &accept, &mut p.rng).is_none());
    assert!(matches!(
        events(&mut p.a).as_slice(),
        [SessionEvent::Established { early: true, .. }]
    ));
    // The frames go on from counter 3 on the server's side (2 was sealed above and
    // never sent; the window takes the gap).
    assert_eq!(
        seal_open(&mut p.b, &mut p.a, &a_id, B, b"later").unwrap(),
        b"later"
    );
}

#[test]
fn a_frame_that_overtakes_msg4_and_its_answer_is_read_after_that_answer() {
    let mut p = pair([5; 32], [5; 32]);
    let (a_id, b_id) = (
        Identity::from_seed([1; 32]).id(),
        Identity::from_seed([2; 32]).id(),
    );
    let auth = p.dial_to_msg3((b"store this".to_vec(), FrameFlags::default()));
    deliver_early(&mut p.b, addr(A), &auth, &mut p.rng).expect("the early message");
    let (_, answer) =
        p.b.seal(&RealCrypto, &a_id, b"stored", FrameFlags::default())
            .unwrap();
    assert_eq!(p.b.beside_accept(&a_id, answer), Ok(()));
    let (_, accept) = p.b.poll_transmit().unwrap();
    // The server's next frame travels on its own and arrives first: held.
    let (_, next) =
        p.b.seal(&RealCrypto, &a_id, b"ping", FrameFlags::default())
            .unwrap();
    let Ok(Datagram::Sealed { header, ciphertext }) = decode(&next) else {
        panic!("a sealed frame");
    };
    let held =
        p.a.open_frame(Time::ZERO, &RealCrypto, addr(B), header, &ciphertext);
    assert_eq!(held, Err(OpenError::Held));
    let Ok(Datagram::Handshake(msg4)) = decode(&accept) else {
        panic!("msg4");
    };
    let opened =
        p.a.handle_handshake(Time::ZERO, &RealCrypto, addr(B), msg4, &mut p.rng);
    let texts: Vec<(NodeId, &[u8])> = opened
        .iter()
        .map(|m| (m.peer, m.plaintext.as_slice()))
        .collect();
    assert_eq!(texts, [(b_id, &b"stored"[..]), (b_id, &b"ping"[..])]);
}

#[test]
fn an_answer_after_msg4_went_out_travels_on_its_own() {
    let mut p = pair([5; 32], [5; 32]);
    let a_id = Identity::from_seed([1; 32]).id();
    let auth = p.dial_to_msg3((b"ping".to_vec(), FrameFlags::default()));
    deliver_early(&mut p.b, addr(A), &auth, &mut p.rng).expect("the early message");
    let (_, accept) = p.b.poll_transmit().unwrap();
    let (_, answer) =
        p.b.seal(&RealCrypto, &a_id, b"pong", FrameFlags::default())
            .unwrap();
    assert_eq!(p.b.beside_accept(&a_id, answer.clone()), Err(answer));
    assert!(matches!(
        decode(&accept),
        Ok(Datagram::Handshake(Handshake::Accept { early: None, .. }))
    ));
    assert_eq!(p.b.stats().early_answers, 0);
}

#[test]
fn a_message_too_large_to_ride_beside_msg3_waits_for_the_session() {
    let mut p = pair([5; 32], [5; 32]);
    let b_id = Identity::from_seed([2; 32]).id();
    let large = vec![7; EARLY_MAX + 1];
    p.a.connect(
        p.now,
        &RealCrypto,
        b_id,
        addr(B),
        &mut p.rng,
        Some((large, FrameFlags::default())),
    );
    p.pump(|_| false);
    let established = events(&mut p.a);
    assert!(
        matches!(
            established.as_slice(),
            [SessionEvent::Established { early: false, .. }]
        ),
        "{established:?}"
    );
    assert_eq!(p.b.stats().early_opened, 0);
}

#[test]
fn the_server_lets_msg3s_answer_go_once_the_client_stops_retrying() {
    let mut p = pair([5; 32], [5; 32]);
    let auth = p.dial_to_msg3((b"q".to_vec(), FrameFlags::default()));
    deliver_early(&mut p.b, addr(A), &auth, &mut p.rng);
    assert!(p.b.poll_transmit().is_some(), "msg4");
    // Within the client's retransmissions a duplicate msg3 is answered ...
    p.advance(Duration::from_secs(7));
    deliver_early(&mut p.b, addr(A), &auth, &mut p.rng);
    assert!(p.b.poll_transmit().is_some());
    // ... after them the answer is gone, and the session stays open.
    p.advance(Duration::from_secs(1));
    let unmatched = p.b.stats().handshake_unmatched;
    deliver_early(&mut p.b, addr(A), &auth, &mut p.rng);
    assert!(p.b.poll_transmit().is_none());
    assert_eq!(p.b.stats().handshake_unmatched, unmatched + 1);
    assert!(p.b.is_open(&Identity::from_seed([1; 32]).id()));
}

/// Decodes a sealed datagram and offers it to `to` as if from `src`.
pub(super) fn open_datagram(
    to: &mut Sessions,
    now: Time,
    src: &str,
    bytes: &[u8],
) -> Result<(NodeId, Vec<u8>), OpenError> {
    let Datagram::Sealed { header, ciphertext } = decode(bytes).unwrap() else {
        panic!("a sealed frame")
    };
    to.open_frame(now, &RealCrypto, addr(src), header, &ciphertext)
}

#[test]
fn a_peer_that_lost_the_session_says_so_and_the_session_closes() {
    let mut p = pair([5; 32], [5; 32]);
    p.connect();
    p.pump(|_| false);
    let b_id = Identity::from_seed([2; 32]).id();
    // B restarts: same key, no sessions.
    p.b = Sessions::new(
        SessionConfig::default(),
        [5; 32],
        Identity::from_seed([2; 32]),
    );
    let (_, datagram) =
        p.a.seal(&RealCrypto, &b_id, b"ping", FrameFlags::default())
            .unwrap();
    let opened = open_datagram(&mut p.b, p.now, A, &datagram);
    assert_eq!(opened, Err(OpenError::UnknownSession));
    let Ok(Datagram::Sealed { header, .. }) = decode(&datagram) else {
        panic!()
    };
    let receiver = header.receiver;
    // Its answer names the session number; from another address it means nothing.
    assert_eq!(p.a.on_no_session(addr(A), receiver), None);
    assert_eq!(p.a.on_no_session(addr(B), SessionId(receiver.0 ^ 1)), None);
    assert!(p.a.is_open(&b_id));
    assert_eq!(p.a.on_no_session(addr(B), receiver), Some(b_id));
    assert!(!p.a.is_open(&b_id), "the next message dials again");
    assert_eq!(p.a.stats().sessions_reset, 1);
}

#[test]
fn an_answer_that_overtakes_msg4_is_read_once_msg4_arrives() {
    let mut p = pair([5; 32], [5; 32]);
    let (a_id, b_id) = (
        Identity::from_seed([1; 32]).id(),
        Identity::from_seed([2; 32]).id(),
    );
    let auth = p.dial_to_msg3((b"q".to_vec(), FrameFlags::default()));
    assert!(deliver_early(&mut p.b, addr(A), &auth, &mut p.rng).is_some());
    let (_, accept) = p.b.poll_transmit().unwrap();
    // The server answers at once; its answer reaches the client before msg4 does.
    let (_, answer) =
        p.b.seal(&RealCrypto, &a_id, b"a", FrameFlags::default())
            .unwrap();
    assert_eq!(
        open_datagram(&mut p.a, p.now, B, &answer),
        Err(OpenError::Held)
    );
    let read = deliver_early(&mut p.a, addr(B), &accept, &mut p.rng).expect("the answer, read");
    assert_eq!((read.peer, read.plaintext), (b_id, b"a".to_vec()));
}

/// The replay window against a model that remembers every counter: a counter is
/// accepted if it was never accepted before and is at most 127 below the highest
/// seen (or above it). Steps are drawn around the highest, so that the window's edge,
/// its shifts by less and more than its width, and replays are all met.
#[test]
fn the_replay_window_agrees_with_a_model_that_forgets_nothing() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed, TestRunner};
    use std::collections::BTreeSet;

    let step = prop_oneof![
        8 => -140i64..=4,    // around the window's lower edge, and replays
        2 => 1i64..=300,     // shifts by less and more than the window
        1 => Just(i64::MAX), // a jump far ahead
    ];
    let config = Config {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x5EA1),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    runner
        .run(&proptest::collection::vec(step, 1..400), |steps| {
            let mut window = ReplayWindow::default();
            let mut seen = BTreeSet::new();
            let mut highest = 0u64;
            for step in steps {
                let counter = match step {
                    i64::MAX => highest.saturating_add(1 << 40),
                    d if d < 0 => highest.saturating_sub(d.unsigned_abs()),
                    d => highest.saturating_add(d as u64),
                };
                let fresh = !seen.contains(&counter)
                    && (counter > highest || highest - counter < ReplayWindow::SIZE);
                prop_assert_eq!(window.check(counter), fresh, "counter {}", counter);
                if fresh {
                    window.record(counter);
                    seen.insert(counter);
                    highest = highest.max(counter);
                }
            }
            Ok(())
        })
        .unwrap();
}
