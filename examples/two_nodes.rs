//! Two nodes driven by hand: the loop every driver of a [`Node`] runs (the simulator's
//! engines and the live adapter included), with a list of datagrams in flight for a
//! network and a number for a clock. Node 1 bootstraps from node 0's address: they
//! prove their keys to each other in an SHS1 handshake, each lists the other in its
//! routing table, and node 1 then pings node 0 over their session.
//!
//!     cargo run --example two_nodes
//!
//! In: nothing. Out: every event of both nodes, with the time it came, on stdout.

use std::net::SocketAddr;
use std::time::Duration;

use dswarm::proto::node::Config;
use dswarm::proto::{Command, Event, Identity, Node, QueryOutcome, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Each datagram arrives this long after it was sent.
const LATENCY: Duration = Duration::from_millis(10);

/// A datagram on its way: when it arrives, to which node, from which address.
struct InFlight {
    at: Time,
    to: usize,
    from: SocketAddr,
    payload: Vec<u8>,
}

fn main() {
    let addrs: [SocketAddr; 2] = ["10.0.0.1:7000", "10.0.0.2:7000"].map(|a| a.parse().unwrap());
    // The wall clock's reading at `Time::ZERO` (signed beacons carry it).
    let unix_start = Duration::from_secs(1_700_000_000);
    let mut nodes: Vec<Node> = (0..2)
        .map(|i| {
            let config = Config {
                port: addrs[i].port(),
                address: Some(addrs[i]),
                bootstrap: if i == 1 { vec![addrs[0]] } else { vec![] },
                ..Config::default()
            };
            let identity = Identity::from_seed([i as u8 + 1; 32]);
            let rng = ChaCha8Rng::seed_from_u64(i as u64);
            Node::new(Time::ZERO, unix_start, config, identity, rng)
        })
        .collect();
    let ids = [nodes[0].id(), nodes[1].id()];
    println!("node 0 is {}\nnode 1 is {}", ids[0], ids[1]);

    let mut now = Time::ZERO;
    let bootstrap = nodes[1]
        .start(now, Command::Bootstrap)
        .expect("a new node with a bootstrap address can bootstrap");
    let mut ping = None;
    let mut in_flight: Vec<InFlight> = Vec::new();
    let end = Time::ZERO + Duration::from_secs(10);

    while now < end {
        // 1. Each node's events come out (an answer to one may start a command),
        //    then what it wants sent goes on the wire.
        for (i, node) in nodes.iter_mut().enumerate() {
            while let Some(event) = node.poll_event() {
                println!("{now} node {i}: {event:?}");
                if let Event::QueryFinished { query, outcome, .. } = &event {
                    if i == 1 && *query == bootstrap {
                        // Bootstrapped: node 0 is in node 1's table, over a session.
                        ping = Some(
                            node.start(now, Command::Ping(ids[0]))
                                .expect("a known peer"),
                        );
                    } else if Some(*query) == ping {
                        let QueryOutcome::Pong { peer, rtt } = outcome else {
                            panic!("the ping failed: {outcome:?}");
                        };
                        assert_eq!(*peer, ids[0]);
                        println!("node 0 answered node 1's ping in {rtt:?}: done");
                        return;
                    }
                }
            }
            while let Some(transmit) = node.poll_transmit() {
                // Beacons go to a multicast group: nobody here listens to it.
                if let Some(to) = addrs.iter().position(|a| *a == transmit.dst) {
                    in_flight.push(InFlight {
                        at: now + LATENCY,
                        to,
                        from: addrs[i],
                        payload: transmit.payload,
                    });
                }
            }
        }
        // 2. The clock moves to the next thing due: a datagram's arrival or a
        //    node's deadline.
        let next_arrival = in_flight.iter().map(|d| d.at).min();
        let next_deadline = nodes.iter().filter_map(Node::poll_timeout).min();
        let Some(next) = next_arrival.into_iter().chain(next_deadline).min() else {
            break;
        };
        now = next.max(now);
        // 3. What is due goes in: datagrams first, then deadlines.
        let (due, later) = in_flight.drain(..).partition(|d| d.at <= now);
        in_flight = later;
        for datagram in due {
            nodes[datagram.to].handle_datagram(now, datagram.from, &datagram.payload);
        }
        for node in &mut nodes {
            if node.poll_timeout().is_some_and(|deadline| deadline <= now) {
                node.handle_timeout(now);
            }
        }
    }
    panic!("node 1 did not bootstrap and ping node 0 within 10 simulated seconds");
}
