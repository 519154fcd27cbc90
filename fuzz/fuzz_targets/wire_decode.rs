//! `wire::decode` and `wire::decode_message` take any bytes: `Ok` or `Err`, never a
//! panic; what decodes encodes back to bytes that decode to the same value.
#![no_main]

use dswarm::proto::wire::{decode, decode_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(datagram) = decode(data) {
        let bytes = datagram.to_bytes();
        assert_eq!(decode(&bytes).as_ref(), Ok(&datagram));
    }
    if let Ok(message) = decode_message(data) {
        let mut bytes = Vec::new();
        message.encode(&mut bytes);
        assert_eq!(decode_message(&bytes).as_ref(), Ok(&message));
    }
});
