//! Two stream sets joined back to back, frames handed over at once: opening, the
//! firewall, the end of a stream and its timeouts. Loss, duplication and reordering
//! are the property test's (`tests/prop_stream.rs`).

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;

const A: NodeId = NodeId([1; 32]);
const B: NodeId = NodeId([2; 32]);

fn pair(listen: Option<Firewall>) -> (StreamSet, StreamSet) {
    let a = StreamSet::new(StreamConfig::default(), A);
    let mut b = StreamSet::new(StreamConfig::default(), B);
    if let Some(firewall) = listen {
        b.listen(firewall);
    }
    (a, b)
}

/// Hands every frame over until neither side has one; returns how many went.
fn exchange(now: Time, a: &mut StreamSet, b: &mut StreamSet) -> usize {
    let mut moved = 0;
    loop {
        let mut quiet = true;
        while let Some((peer, frame)) = a.poll_frame(now) {
            assert_eq!(peer, B);
            b.on_frame(now, A, frame);
            quiet = false;
            moved += 1;
        }
        while let Some((peer, frame)) = b.poll_frame(now) {
            assert_eq!(peer, A);
            a.on_frame(now, B, frame);
            quiet = false;
            moved += 1;
        }
        if quiet {
            return moved;
        }
    }
}

fn events(set: &mut StreamSet) -> Vec<StreamEvent> {
    std::iter::from_fn(|| set.poll_event()).collect()
}

fn read_all(set: &mut StreamSet, stream: StreamId) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match set.read(stream, &mut buf) {
            Ok(Read::Bytes(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Read::End) => return (out, true),
            Ok(Read::Blocked) | Err(_) => return (out, false),
        }
    }
}

#[test]
fn a_stream_carries_bytes_both_ways_and_finishes_at_both_ends() {
    let (mut a, mut b) = pair(Some(Firewall::Open));
    let t = Time::ZERO;
    let stream = a.open(t, B).unwrap();
    assert_eq!(stream.number & 1, 0, "the lower id opens even numbers");
    let request: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut written = 0;
    let mut received = Vec::new();
    let mut remote = None;
    let mut now = t;
    while received.len() < request.len() {
        written += a.write(stream, &request[written..]).unwrap();
        if written == request.len() {
            a.finish(stream).unwrap();
        }
        exchange(now, &mut a, &mut b);
        for event in events(&mut b) {
            if let StreamEvent::Opened { stream, incoming } = event {
                assert!(incoming);
                remote = Some(stream);
            }
        }
        let remote = remote.expect("B took the stream");
        received.extend(read_all(&mut b, remote).0);
        now = now + Duration::from_millis(1);
    }
    assert_eq!(received, request);
    let remote = remote.unwrap();
    assert_eq!(
        remote,
        StreamId {
            peer: A,
            number: stream.number
        }
    );
    b.write(remote, b"thanks").unwrap();
    b.finish(remote).unwrap();
    exchange(now, &mut a, &mut b);
    assert_eq!(read_all(&mut a, stream), (b"thanks".to_vec(), true));
    assert_eq!(read_all(&mut b, remote), (Vec::new(), true));
    exchange(now, &mut a, &mut b);
    assert!(events(&mut a).contains(&StreamEvent::Finished(stream)));
    assert!(events(&mut b).contains(&StreamEvent::Finished(remote)));
    assert_eq!(a.stats().bytes_sent, request.len() as u64);
    assert_eq!(b.stats().bytes_received, request.len() as u64);
    // Finished streams linger for the idle timeout, to answer late frames, then go.
    let later = now + StreamConfig::default().idle_timeout;
    a.handle_timeout(later);
    b.handle_timeout(later);
    assert!(a.is_empty() && b.is_empty());
}

#[test]
fn a_refused_or_unheard_opener_is_told_at_once_and_the_listener_sees_nothing() {
    for (listen, code) in [
        (None, ResetCode::NotListening),
        (
            Some(Firewall::Deny(BTreeSet::from([A]))),
            ResetCode::Refused,
        ),
        (
            Some(Firewall::Allow(BTreeSet::from([B]))),
            ResetCode::Refused,
        ),
        (
            Some(Firewall::Rule(std::sync::Arc::new(|peer: &NodeId| {
                *peer != A
            }))),
            ResetCode::Refused,
        ),
    ] {
        let (mut a, mut b) = pair(listen);
        let stream = a.open(Time::ZERO, B).unwrap();
        a.write(stream, b"let me in").unwrap();
        exchange(Time::ZERO, &mut a, &mut b);
        assert!(
            events(&mut b).is_empty(),
            "no event, no byte at the listener"
        );
        assert!(b.is_empty());
        assert_eq!(b.stats().refused, 1);
        let reset = StreamEvent::Reset {
            stream,
            error: StreamError::Reset {
                code,
                by_peer: true,
            },
        };
        assert_eq!(events(&mut a).last(), Some(&reset));
        assert_eq!(a.write(stream, b"again"), Err(StreamError::Unknown));
    }
}

#[test]
fn a_peer_that_vanishes_ends_the_stream_within_the_idle_timeout() {
    let (mut a, mut b) = pair(Some(Firewall::Open));
    let stream = a.open(Time::ZERO, B).unwrap();
    exchange(Time::ZERO, &mut a, &mut b);
    events(&mut a);
    // B is gone: A's frames go nowhere. A probes, then gives up.
    let config = StreamConfig::default();
    let mut now = Time::ZERO;
    let mut probes = 0;
    while let Some(at) = a.poll_timeout() {
        now = at;
        a.handle_timeout(now);
        probes += std::iter::from_fn(|| a.poll_frame(now)).count();
        if !events(&mut a).is_empty() {
            break;
        }
    }
    assert_eq!(now, Time::ZERO + config.idle_timeout);
    assert!(probes >= 3, "keepalives went first ({probes})");
    assert!(a.is_empty());
    assert_eq!(a.stats().timed_out, 1);
    let _ = stream;
}

#[test]
fn frames_for_streams_nobody_holds_get_no_such_stream_and_resets_get_nothing() {
    let (mut a, mut b) = pair(Some(Firewall::Open));
    b.on_frame(
        Time::ZERO,
        A,
        StreamFrame::Data {
            stream: 4,
            offset: 10,
            end: false,
            open: false,
            bytes: vec![1; 10],
        },
    );
    b.on_frame(
        Time::ZERO,
        A,
        StreamFrame::Reset {
            stream: 6,
            reason: ResetCode::Cancelled,
        },
    );
    let frames: Vec<_> = std::iter::from_fn(|| b.poll_frame(Time::ZERO)).collect();
    assert_eq!(
        frames,
        [(
            A,
            StreamFrame::Reset {
                stream: 4,
                reason: ResetCode::Unknown
            }
        )]
    );
    assert_eq!(b.stats().frames_unknown, 2);
    // A number of B's own parity is not A's to open.
    b.on_frame(
        Time::ZERO,
        A,
        StreamFrame::Data {
            stream: 1,
            offset: 0,
            end: false,
            open: true,
            bytes: Vec::new(),
        },
    );
    assert!(b.is_empty());
    let _ = &mut a;
}

#[test]
fn a_slow_reader_stops_the_writer_at_the_window_and_a_read_lets_it_go_on() {
    let (mut a, mut b) = pair(Some(Firewall::Open));
    let stream = a.open(Time::ZERO, B).unwrap();
    let config = StreamConfig::default();
    let big = vec![7u8; 4 * config.window as usize];
    let mut written = 0;
    let mut now = Time::ZERO;
    for _ in 0..50 {
        written += a.write(stream, &big[written..]).unwrap();
        exchange(now, &mut a, &mut b);
        a.handle_timeout(now);
        b.handle_timeout(now);
        events(&mut a);
        now = now + Duration::from_millis(300);
    }
    let remote = StreamId {
        peer: A,
        number: stream.number,
    };
    let held = b.streams()[0].buffered as u64;
    assert_eq!(held, config.window, "the receiver holds a window, no more");
    assert_eq!(written as u64, config.window + config.send_buffer);
    assert_eq!(a.write(stream, &big[written..]), Ok(0), "the writer waits");
    let (bytes, _) = read_all(&mut b, remote);
    assert_eq!(bytes.len() as u64, config.window);
    exchange(now, &mut a, &mut b);
    assert!(events(&mut a).contains(&StreamEvent::Writable(stream)));
    assert!(a.write(stream, &big[written..]).unwrap() > 0);
}

#[test]
fn a_peer_that_leaves_after_delivering_everything_can_still_be_read_to_the_end() {
    let (mut a, mut b) = pair(Some(Firewall::Open));
    let stream = a.open(Time::ZERO, B).unwrap();
    a.write(stream, b"all of it").unwrap();
    a.finish(stream).unwrap();
    exchange(Time::ZERO, &mut a, &mut b);
    let remote = StreamId {
        peer: A,
        number: stream.number,
    };
    b.finish(remote).unwrap();
    exchange(Time::ZERO, &mut a, &mut b);
    // A said goodbye before B's application read anything.
    b.peer_gone(&A);
    b.handle_timeout(Time::ZERO + Duration::from_secs(3600));
    assert_eq!(read_all(&mut b, remote), (b"all of it".to_vec(), true));
    exchange(Time::ZERO, &mut a, &mut b);
    assert!(events(&mut b).contains(&StreamEvent::Finished(remote)));

    // Mid-transfer, the same goodbye ends the stream with a reason.
    let (mut a, mut b) = pair(Some(Firewall::Open));
    let stream = a.open(Time::ZERO, B).unwrap();
    a.write(stream, b"half").unwrap();
    exchange(Time::ZERO, &mut a, &mut b);
    a.peer_gone(&B);
    let reset = StreamEvent::Reset {
        stream,
        error: StreamError::PeerLeft,
    };
    assert!(events(&mut a).contains(&reset));
}

#[test]
fn a_finished_stream_lingers_without_the_capacity_its_bytes_needed() {
    let (mut a, mut b) = pair(Some(Firewall::Open));
    let mut now = Time::ZERO;
    let stream = a.open(now, B).unwrap();
    let data = vec![7u8; 200_000];
    let (mut written, mut received, mut remote) = (0, 0, None);
    while received < data.len() {
        written += a.write(stream, &data[written..]).unwrap();
        if written == data.len() {
            a.finish(stream).unwrap();
        }
        exchange(now, &mut a, &mut b);
        for event in events(&mut b) {
            if let StreamEvent::Opened { stream, .. } = event {
                remote = Some(stream);
            }
        }
        received += read_all(&mut b, remote.expect("B took the stream")).0.len();
        now = now + Duration::from_millis(1);
    }
    let remote = remote.unwrap();
    b.finish(remote).unwrap();
    exchange(now, &mut a, &mut b);
    assert_eq!(read_all(&mut a, stream), (Vec::new(), true));
    assert_eq!(read_all(&mut b, remote), (Vec::new(), true));
    exchange(now, &mut a, &mut b);
    assert!(events(&mut a).contains(&StreamEvent::Finished(stream)));
    assert!(events(&mut b).contains(&StreamEvent::Finished(remote)));
    // Both still hold the stream, for the idle timeout; its buffers held up to a
    // window (256 KiB) each, and a lingering stream needs no more than one that
    // never carried a byte.
    assert_eq!((a.len(), b.len()), (1, 1));
    let (mut c, mut d) = pair(Some(Firewall::Open));
    c.open(now, B).unwrap();
    exchange(now, &mut c, &mut d);
    assert_eq!(d.len(), 1);
    assert_eq!(
        a.heap_bytes(),
        c.heap_bytes(),
        "the sender's lingering stream"
    );
    assert_eq!(
        b.heap_bytes(),
        d.heap_bytes(),
        "the receiver's lingering stream"
    );
}

#[test]
fn finished_streams_that_linger_give_way_to_new_ones() {
    let (mut a, mut b) = pair(Some(Firewall::Open));
    let limit = StreamConfig::default().per_peer_max;
    let mut now = Time::ZERO;
    for i in 0..3 * limit {
        let stream = a.open(now, B).unwrap_or_else(|e| panic!("stream {i}: {e}"));
        a.write(stream, b"ping").unwrap();
        a.finish(stream).unwrap();
        exchange(now, &mut a, &mut b);
        let remote = StreamId {
            peer: A,
            number: stream.number,
        };
        assert_eq!(
            read_all(&mut b, remote),
            (b"ping".to_vec(), true),
            "stream {i}"
        );
        b.finish(remote).unwrap();
        exchange(now, &mut a, &mut b);
        assert!(read_all(&mut a, stream).1);
        exchange(now, &mut a, &mut b);
        assert!(
            events(&mut a).contains(&StreamEvent::Finished(stream)),
            "stream {i}"
        );
        now = now + Duration::from_millis(100);
    }
    assert!(a.len() <= limit && b.len() <= limit);
    // Streams still running are not pushed out: at the limit, a new one waits.
    let (mut a, _) = pair(None);
    for _ in 0..limit {
        a.open(Time::ZERO, B).unwrap();
    }
    assert_eq!(a.open(Time::ZERO, B), Err(StreamError::TooMany));
}
