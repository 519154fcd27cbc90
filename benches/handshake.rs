//! One full SHS1 handshake (both sides, all four messages), sealing and opening a
//! 200-byte session datagram, and the primitive operations a handshake is made of, so
//! that the handshake's cost can be compared with the sum of its parts. The handshake
//! and the datagram run with both suites: the real one and the simulator's fast one.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dswarm::proto::crypto::{Crypto, FastCrypto, RealCrypto};
use dswarm::proto::handshake::{ClientHandshake, ServerHandshake};
use dswarm::proto::identity::{self, Identity};

const NETWORK_KEY: [u8; 32] = [7; 32];

fn full_handshake(
    crypto: &dyn Crypto,
    client: &Identity,
    server: &Identity,
    eph: ([u8; 32], [u8; 32]),
) {
    let mut c = ClientHandshake::new(crypto, NETWORK_KEY, client.clone(), server.id(), eph.0);
    let mut s = ServerHandshake::new(crypto, NETWORK_KEY, server.clone(), eph.1);
    let msg2 = s.handle_hello(crypto, &c.hello()).expect("valid msg1");
    let msg3 = c.handle_hello(crypto, &msg2).expect("valid msg2");
    let (msg4, server_keys) = s.handle_auth(crypto, &msg3).expect("valid msg3");
    let client_keys = c.handle_accept(crypto, &msg4).expect("valid msg4");
    assert_eq!(client_keys.encrypt_key, server_keys.decrypt_key);
}

fn handshake(c: &mut Criterion) {
    let client = Identity::from_seed([1; 32]);
    let server = Identity::from_seed([2; 32]);
    let mut group = c.benchmark_group("shs1");
    group.bench_function("full handshake, both sides", |b| {
        b.iter(|| full_handshake(&RealCrypto, &client, &server, ([3; 32], [4; 32])))
    });
    group.bench_function("full handshake, both sides, fast suite", |b| {
        b.iter(|| full_handshake(&FastCrypto, &client, &server, ([3; 32], [4; 32])))
    });
    group.finish();

    let crypto = RealCrypto;
    let mut group = c.benchmark_group("primitives");
    let public = crypto.x25519_public(&[5; 32]);
    group.bench_function("x25519", |b| {
        b.iter(|| crypto.x25519(black_box(&[6; 32]), black_box(&public)))
    });
    group.bench_function("x25519 public key", |b| {
        b.iter(|| crypto.x25519_public(black_box(&[6; 32])))
    });
    group.bench_function("ed25519 sign", |b| {
        b.iter(|| client.sign(black_box(b"0123456789abcdef0123456789abcdef")))
    });
    let signature = client.sign(b"0123456789abcdef0123456789abcdef");
    let id = client.id();
    group.bench_function("ed25519 verify_strict", |b| {
        b.iter(|| {
            identity::verify(
                black_box(&id),
                b"0123456789abcdef0123456789abcdef",
                &signature,
            )
        })
    });
    group.bench_function("ed25519 public to x25519", |b| {
        b.iter(|| crypto.ed25519_public_to_x25519(black_box(&id)))
    });
    group.bench_function("ed25519 secret to x25519", |b| {
        b.iter(|| crypto.ed25519_secret_to_x25519(black_box(&client)))
    });
    group.bench_function("secretbox seal 96 bytes", |b| {
        b.iter(|| crypto.secretbox_seal(black_box(&[1; 32]), &[0; 24], black_box(&[0u8; 96])))
    });
    group.finish();

    let mut group = c.benchmark_group("session");
    let key = [9u8; 32];
    let header = [0u8; 15];
    let plaintext = [0x5au8; 200];
    group.bench_function("seal 200 bytes", |b| {
        b.iter(|| {
            crypto.aead_seal(
                black_box(&key),
                black_box(42),
                &header,
                black_box(&plaintext),
            )
        })
    });
    let sealed = crypto.aead_seal(&key, 42, &header, &plaintext);
    group.bench_function("open 200 bytes", |b| {
        b.iter(|| crypto.aead_open(black_box(&key), black_box(42), &header, black_box(&sealed)))
    });
    let fast = FastCrypto;
    group.bench_function("seal 200 bytes, fast suite", |b| {
        b.iter(|| {
            fast.aead_seal(
                black_box(&key),
                black_box(42),
                &header,
                black_box(&plaintext),
            )
        })
    });
    let sealed = fast.aead_seal(&key, 42, &header, &plaintext);
    group.bench_function("open 200 bytes, fast suite", |b| {
        b.iter(|| fast.aead_open(black_box(&key), black_box(42), &header, black_box(&sealed)))
    });
    group.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
