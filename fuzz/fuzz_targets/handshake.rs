//! The SHS1 state machines fed arbitrary messages at every step. The first byte
//! picks the step: the server gets an arbitrary msg1, or a real msg1 and then an
//! arbitrary msg3; the client gets an arbitrary msg2, or a real msg2 and then an
//! arbitrary msg4. Errors are fine; panics are not.
#![no_main]

use dswarm::proto::crypto::CryptoSuite;
use dswarm::proto::handshake::{ClientHandshake, ServerHandshake};
use dswarm::proto::Identity;
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const KEY: [u8; 32] = [7; 32];

fn take<const N: usize>(data: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = data.len().min(N);
    out[..n].copy_from_slice(&data[..n]);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let crypto = CryptoSuite::Real.implementation();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let client_id = Identity::from_rng(&mut rng);
    let server_id = Identity::from_rng(&mut rng);
    let mut server = ServerHandshake::new(crypto, KEY, server_id.clone(), [9; 32]);
    let mut client = ClientHandshake::new(crypto, KEY, client_id, server_id.id(), [3; 32]);
    match mode % 4 {
        0 => {
            let _ = server.handle_hello(crypto, &take::<64>(data));
        }
        1 => {
            server
                .handle_hello(crypto, &client.hello())
                .expect("a real hello");
            let _ = server.handle_auth(crypto, &take::<112>(data));
        }
        2 => {
            let _ = client.handle_hello(crypto, &take::<64>(data));
        }
        _ => {
            let msg2 = server
                .handle_hello(crypto, &client.hello())
                .expect("a real hello");
            client.handle_hello(crypto, &msg2).expect("a real msg2");
            let _ = client.handle_accept(crypto, &take::<80>(data));
        }
    }
});
