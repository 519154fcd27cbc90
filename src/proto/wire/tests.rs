use super::*;

fn nodes_reply(count: usize, v6: bool) -> Message {
    let addr: SocketAddr = if v6 {
        "[2001:db8::1]:65535".parse().unwrap()
    } else {
        "10.1.2.3:7000".parse().unwrap()
    };
    Message::Response {
        tx: TxId(u32::MAX),
        response: Response::Nodes {
            contacts: (0..count)
                .map(|i| WireContact {
                    id: NodeId([i as u8; 32]),
                    addr,
                })
                .collect(),
            token: [0xAB; 16],
        },
    }
}

fn sealed(message: &Message) -> Datagram {
    let mut plaintext = Vec::new();
    message.encode(&mut plaintext);
    plaintext.extend_from_slice(&[0; TAG_LEN]);
    Datagram::Sealed {
        header: SealedHeader {
            flags: FrameFlags::default(),
            receiver: SessionId(7),
            counter: 9,
        },
        ciphertext: plaintext,
    }
}

#[test]
fn the_largest_reply_fits_a_sealed_datagram() {
    let reply = nodes_reply(MAX_CONTACTS, true);
    let bytes = sealed(&reply).to_bytes();
    assert!(bytes.len() <= MAX_DATAGRAM, "{} bytes", bytes.len());
    assert_eq!(decode(&bytes), Ok(sealed(&reply)));
    let mut plain = Vec::new();
    reply.encode(&mut plain);
    assert_eq!(decode_message(&plain), Ok(reply));
}

#[test]
fn beacon_and_who_have_the_same_fixed_size() {
    let beacon = Datagram::Beacon(Beacon {
        id: NodeId([9; 32]),
        port: 17760,
        unix_secs: 1_790_000_000,
        network_tag: [3; 8],
        signature: [4; 64],
    });
    let bytes = beacon.to_bytes();
    assert_eq!(bytes.len(), BEACON_LEN);
    assert_eq!(decode(&bytes), Ok(beacon));
    let who = Datagram::Who {
        network_tag: [3; 8],
    };
    let bytes = who.to_bytes();
    assert_eq!(
        bytes.len(),
        BEACON_LEN,
        "a question no smaller than its answer"
    );
    assert_eq!(decode(&bytes), Ok(who));
}

#[test]
fn handshake_datagrams_carry_the_shs1_messages_exactly() {
    let cases = [
        (
            Handshake::Hello {
                client: SessionId(1),
                msg: [1; 64],
            },
            3 + 4 + 64,
        ),
        (
            Handshake::HelloReply {
                client: SessionId(1),
                server: SessionId(2),
                msg: [2; 64],
            },
            3 + 8 + 64,
        ),
        (
            Handshake::Auth {
                server: SessionId(2),
                msg: [3; 112],
                early: None,
            },
            3 + 4 + 112,
        ),
        (
            Handshake::Accept {
                client: SessionId(1),
                msg: [4; 80],
                early: None,
            },
            3 + 4 + 80,
        ),
        (
            Handshake::CookieHello {
                client: SessionId(1),
                msg: [1; 64],
                cookie: [5; COOKIE_LEN],
            },
            3 + 4 + 64 + COOKIE_LEN,
        ),
    ];
    for (handshake, len) in cases {
        let datagram = Datagram::Handshake(handshake);
        let bytes = datagram.to_bytes();
        assert_eq!(bytes.len(), len);
        assert_eq!(decode(&bytes), Ok(datagram));
    }
}

#[test]
fn a_cookie_reply_is_under_a_third_of_the_hello_that_draws_it() {
    let hello = Datagram::Handshake(Handshake::Hello {
        client: SessionId(1),
        msg: [1; 64],
    })
    .to_bytes();
    let cookie = Datagram::Handshake(Handshake::Cookie {
        client: SessionId(1),
        cookie: [7; COOKIE_LEN],
    });
    let bytes = cookie.to_bytes();
    assert_eq!(hello.len(), HELLO_DATAGRAM_LEN);
    assert_eq!(bytes.len(), COOKIE_DATAGRAM_LEN);
    assert!(3 * bytes.len() < hello.len(), "{} bytes", bytes.len());
    assert_eq!(decode(&bytes), Ok(cookie));
    for len in 0..bytes.len() {
        assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes");
    }
    assert!(decode(&[&bytes[..], &[0]].concat()).is_err());
    assert!(is_session_datagram(&bytes), "a relay carries it");
}

#[test]
fn every_truncation_and_extension_is_an_error() {
    let mut plain = Vec::new();
    nodes_reply(3, false).encode(&mut plain);
    for len in 0..plain.len() {
        assert!(
            decode_message(&plain[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
    plain.push(0);
    assert_eq!(decode_message(&plain), Err(DecodeError::TrailingBytes(1)));
    let hello = Datagram::Handshake(Handshake::Hello {
        client: SessionId(1),
        msg: [1; 64],
    })
    .to_bytes();
    for len in 0..hello.len() {
        assert!(decode(&hello[..len]).is_err(), "prefix of {len} bytes");
    }
    // A sealed frame too short to hold a tag.
    let short = [
        &SealedHeader {
            flags: FrameFlags::default(),
            receiver: SessionId(1),
            counter: 1,
        }
        .encode()[..],
        &[0; TAG_LEN - 1],
    ]
    .concat();
    assert!(matches!(decode(&short), Err(DecodeError::Truncated { .. })));
}

#[test]
fn foreign_and_unknown_headers_are_named() {
    assert_eq!(decode(&[0x00, 1, 1]), Err(DecodeError::BadMagic(0)));
    assert_eq!(
        decode(&[MAGIC, 9, 1]),
        Err(DecodeError::UnsupportedVersion(9))
    );
    for kind in [0x00, 0x03, 0x17, 0x23, 0x30] {
        assert_eq!(
            decode(&[MAGIC, VERSION, kind]),
            Err(DecodeError::UnknownKind(kind))
        );
    }
    assert_eq!(
        decode(&vec![MAGIC; MAX_DATAGRAM + 1]),
        Err(DecodeError::TooLong(MAX_DATAGRAM + 1))
    );
    let mut too_many = Vec::new();
    nodes_reply(0, false).encode(&mut too_many);
    *too_many.last_mut().unwrap() = 21;
    assert_eq!(
        decode_message(&too_many),
        Err(DecodeError::TooManyContacts(21))
    );
}
