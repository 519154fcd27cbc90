//! Path validation as a peer that moved, and one that lies about its address, see it.

use std::net::SocketAddr;

use super::super::tests::{addr, open_datagram, open_pair};
use super::AMPLIFICATION_LIMIT;
use crate::proto::crypto::RealCrypto;
use crate::proto::session::{OpenError, Sessions};
use crate::proto::wire::{FrameFlags, Message, Notice};
use crate::proto::Time;

const A: &str = "10.0.0.1:7000";
const B: &str = "10.0.0.2:7000";
/// Where a rebinding NAT moves A, or whose address A's frames claim.
const ELSEWHERE: &str = "10.0.0.9:41000";

fn drain(s: &mut Sessions) -> Vec<(SocketAddr, Vec<u8>)> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

#[test]
fn a_session_moves_to_a_new_address_only_once_it_echoes_a_challenge() {
    let (mut p, a_id, b_id) = open_pair();
    let now = Time::ZERO;
    // A's NAT rebinds: its next frame reaches B from elsewhere.
    let (_, frame) =
        p.a.seal(&RealCrypto, &b_id, b"ping", FrameFlags::default())
            .unwrap();
    let opened = open_datagram(&mut p.b, now, ELSEWHERE, &frame).expect("authentic");
    assert_eq!(opened.1, b"ping", "the frame itself is read");
    assert_eq!(p.b.addr_of(&a_id), Some(addr(A)), "not moved yet");
    assert_eq!(p.b.moving_to(&a_id), Some(addr(ELSEWHERE)));
    let sent = drain(&mut p.b);
    assert_eq!(sent.len(), 1, "one challenge: {sent:?}");
    assert_eq!(sent[0].0, addr(ELSEWHERE), "to the address it tests");

    // A receives it (at its new address) and echoes it by its own session's path.
    assert_eq!(
        open_datagram(&mut p.a, now, B, &sent[0].1),
        Err(OpenError::Path),
        "taken by the session layer"
    );
    let echo = drain(&mut p.a);
    assert_eq!(echo.len(), 1);
    assert_eq!(echo[0].0, addr(B));
    assert_eq!(
        open_datagram(&mut p.b, now, ELSEWHERE, &echo[0].1),
        Err(OpenError::Path)
    );
    assert_eq!(p.b.addr_of(&a_id), Some(addr(ELSEWHERE)), "moved");
    assert_eq!(p.b.moving_to(&a_id), None);
    assert_eq!(p.b.stats().paths_validated, 1);
    assert_eq!(p.b.stats().path_challenges, 1);
}

#[test]
fn a_spoofed_source_gets_at_most_three_times_what_came_from_it_and_moves_nothing() {
    let (mut p, a_id, b_id) = open_pair();
    let now = Time::ZERO;
    let victim = addr(ELSEWHERE);
    let (mut received, mut sent) = (0u64, 0u64);
    for i in 0..50u32 {
        // A seals a small request and sends it with the victim's address as source.
        let (_, frame) =
            p.a.seal(&RealCrypto, &b_id, &i.to_be_bytes(), FrameFlags::default())
                .unwrap();
        received += frame.len() as u64;
        open_datagram(&mut p.b, now, ELSEWHERE, &frame).expect("authentic");
        // B answers each with a large reply, as FIND_NODE's would be.
        let (dst, answer) =
            p.b.seal(&RealCrypto, &a_id, &[7; 900], FrameFlags::default())
                .unwrap();
        if dst == victim {
            sent += answer.len() as u64;
        }
        for (dst, bytes) in drain(&mut p.b) {
            if dst == victim {
                sent += bytes.len() as u64;
            }
        }
        assert!(
            sent <= AMPLIFICATION_LIMIT * received,
            "after {i}: {sent} bytes to the victim for {received} from it"
        );
    }
    assert!(sent > 0, "the unproven address was tried");
    assert_eq!(p.b.addr_of(&a_id), Some(addr(A)), "nothing redirected");
    assert!(p.b.stats().path_sends_limited > 0);
    assert_eq!(p.b.stats().paths_validated, 0);
}

#[test]
fn a_guessed_token_moves_nothing() {
    let (mut p, a_id, b_id) = open_pair();
    let now = Time::ZERO;
    let (_, frame) =
        p.a.seal(&RealCrypto, &b_id, b"x", FrameFlags::default())
            .unwrap();
    open_datagram(&mut p.b, now, ELSEWHERE, &frame).unwrap();
    drain(&mut p.b);
    // A cannot read a challenge it never received: it guesses.
    for token in [0, 1, u64::MAX] {
        let mut plaintext = Vec::new();
        Message::Notice(Notice::PathResponse { token }).encode(&mut plaintext);
        let (_, guess) =
            p.a.seal(&RealCrypto, &b_id, &plaintext, FrameFlags::default())
                .unwrap();
        assert_eq!(
            open_datagram(&mut p.b, now, ELSEWHERE, &guess),
            Err(OpenError::Path)
        );
    }
    assert_eq!(p.b.addr_of(&a_id), Some(addr(A)));
    assert_eq!(p.b.stats().path_responses_unmatched, 3);
}

#[test]
fn an_answer_to_an_unproven_address_is_refused_beyond_the_limit() {
    let (mut p, a_id, b_id) = open_pair();
    let now = Time::ZERO;
    let (_, frame) =
        p.a.seal(&RealCrypto, &b_id, b"probe", FrameFlags::default())
            .unwrap();
    open_datagram(&mut p.b, now, ELSEWHERE, &frame).unwrap();
    drain(&mut p.b);
    let elsewhere = addr(ELSEWHERE);
    let small =
        p.b.seal_to(&RealCrypto, &a_id, elsewhere, b"ack", FrameFlags::default());
    assert!(small.is_some(), "a small answer where the frame came from");
    let large = p.b.seal_to(
        &RealCrypto,
        &a_id,
        elsewhere,
        &[0; 600],
        FrameFlags::default(),
    );
    assert!(large.is_none(), "beyond three times what came from there");
    let stranger = p.b.seal_to(
        &RealCrypto,
        &a_id,
        addr("10.0.0.77:9"),
        b"ack",
        FrameFlags::default(),
    );
    assert!(stranger.is_none(), "an address nothing came from");
    assert!(p
        .b
        .seal_to(
            &RealCrypto,
            &a_id,
            addr(A),
            &[0; 600],
            FrameFlags::default()
        )
        .is_some());
}
