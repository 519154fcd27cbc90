//! `Node::handle_datagram` with a live session: the first byte picks how the rest
//! arrives (as raw bytes from the peer's address, or sealed in the peer's session so
//! that the message decoder and request handlers see it), then the node must still
//! answer an honest ping.
#![no_main]

use std::sync::Mutex;

use dswarm::harness::pair::Pair;
use libfuzzer_sys::fuzz_target;

// One connected pair for the whole run (a handshake per input would be most of the
// work); each input goes to it in turn, so state carries over as on a real network.
static PAIR: Mutex<Option<Pair>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut guard = PAIR.lock().unwrap_or_else(|p| p.into_inner());
    let pair = guard.get_or_insert_with(|| Pair::connected(1));
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    for chunk in rest.chunks(1200) {
        if how & 1 == 0 {
            pair.raw(chunk);
        } else {
            pair.sealed(chunk);
        }
    }
    if how == 0xFF {
        assert!(pair.answers_ping(), "the node still answers an honest ping");
    }
});
