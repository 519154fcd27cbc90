#!/usr/bin/env node
// One SHS1 peer of the reference implementation (npm secret-handshake), over TCP on
// 127.0.0.1, for dswarm's interoperability tests (tests/shs1_interop.rs).
//
//   node peer.js server <network-key> <secret-key> <send-hex>
//   node peer.js client <port> <server-public-key> <network-key> <secret-key> <send-hex>
//
// Keys are hex or base64 (an SSB id like "@...=.ed25519" is accepted for the server
// key). <secret-key> is a 32-byte Ed25519 seed or a 64-byte libsodium secret key
// (seed ‖ public key). <send-hex> is the one box-stream message to send.
//
// The server listens on 127.0.0.1 port 0 (the OS picks) and prints
//   port <port>
//   pubkey <base64> <hex>
// The server accepts one connection, then both roles run the handshake, send their
// message followed by the box-stream goodbye, read until the peer's goodbye, and print
//   peer <hex of the peer's proven public key>
//   received <hex of everything received>
//   done
// and exit 0. Any error prints "error: ..." on stderr and exits 1. Whatever happens,
// the process exits by itself after 10 s (exit code 2).
'use strict'

const net = require('net')
const pull = require('pull-stream')
const toPull = require('stream-to-pull-stream')
const SHS = require('secret-handshake')
const chloride = require('chloride')

const SELF_TIMEOUT_MS = 10000
const HANDSHAKE_TIMEOUT_MS = 5000

function fail (message) {
  process.stderr.write('error: ' + message + '\n')
  process.exit(1)
}

setTimeout(function () {
  process.stderr.write('error: peer.js timed out after ' + SELF_TIMEOUT_MS + ' ms\n')
  process.exit(2)
}, SELF_TIMEOUT_MS).unref()

function parseBytes (text, lengths, what) {
  if (typeof text !== 'string') fail('missing ' + what)
  let s = text
  if (s.startsWith('@')) s = s.slice(1)
  if (s.endsWith('.ed25519')) s = s.slice(0, -'.ed25519'.length)
  let buf
  if (/^[0-9a-fA-F]*$/.test(s) && s.length % 2 === 0 && lengths.includes(s.length / 2)) {
    buf = Buffer.from(s, 'hex')
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(s)) {
    buf = Buffer.from(s, 'base64')
  } else {
    fail(what + ' is neither hex nor base64: ' + text)
  }
  if (!lengths.includes(buf.length)) {
    fail(what + ' has ' + buf.length + ' bytes, expected ' + lengths.join(' or '))
  }
  return buf
}

function keypair (text) {
  const bytes = parseBytes(text, [32, 64], 'secret key')
  const keys = chloride.crypto_sign_seed_keypair(bytes.slice(0, 32))
  if (bytes.length === 64 && !bytes.slice(32).equals(keys.publicKey)) {
    fail('the 64-byte secret key does not end with its public key')
  }
  return keys
}

function parseMessage (text) {
  if (typeof text !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(text)) {
    fail('the message to send must be non-empty hex')
  }
  return Buffer.from(text, 'hex')
}

// Runs the box stream of a finished handshake: one message out, everything in.
function exchange (secure, message) {
  let sent = false
  let received = null
  function finish () {
    if (!sent || received === null) return
    process.stdout.write('peer ' + secure.remote.toString('hex') + '\n')
    process.stdout.write('received ' + received.toString('hex') + '\n')
    process.stdout.write('done\n', function () { process.exit(0) })
  }
  pull(pull.values([message]), secure.sink)
  pull(secure.source, pull.collect(function (err, chunks) {
    if (err) fail('box stream: ' + (err.message || err))
    received = Buffer.concat(chunks)
    finish()
  }))
  return function onSinkDone (err) {
    if (err) fail('socket: ' + (err.message || err))
    sent = true
    finish()
  }
}

// Connects a net.Socket to a secret-handshake stream factory.
function run (socket, makeShake, message) {
  socket.on('error', function (err) { fail('socket: ' + err.message) })
  let onSinkDone = null
  const wire = toPull.duplex(socket, function (err) {
    if (onSinkDone) onSinkDone(err)
    else if (err) fail('socket: ' + (err.message || err))
  })
  const shake = makeShake(function (err, secure) {
    if (err) fail('handshake: ' + (err.message || err))
    onSinkDone = exchange(secure, message)
  })
  pull(wire, shake, wire)
}

function main (argv) {
  const role = argv[0]
  if (role === 'server') {
    if (argv.length !== 4) fail('usage: peer.js server <network-key> <secret-key> <send-hex>')
    const networkKey = parseBytes(argv[1], [32], 'network key')
    const keys = keypair(argv[2])
    const message = parseMessage(argv[3])
    const authorize = function (id, cb) { cb(null, true) }
    const createServer = SHS.createServer(keys, authorize, networkKey, HANDSHAKE_TIMEOUT_MS)
    const server = net.createServer(function (socket) {
      server.close()
      run(socket, createServer, message)
    })
    server.on('error', function (err) { fail('listen: ' + err.message) })
    server.listen(0, '127.0.0.1', function () {
      process.stdout.write('port ' + server.address().port + '\n')
      process.stdout.write('pubkey ' + keys.publicKey.toString('base64') + ' ' +
        keys.publicKey.toString('hex') + '\n')
    })
  } else if (role === 'client') {
    if (argv.length !== 6) {
      fail('usage: peer.js client <port> <server-public-key> <network-key> <secret-key> <send-hex>')
    }
    const port = Number(argv[1])
    if (!Number.isInteger(port) || port <= 0 || port > 65535) fail('bad port ' + argv[1])
    const serverKey = parseBytes(argv[2], [32], 'server public key')
    const networkKey = parseBytes(argv[3], [32], 'network key')
    const keys = keypair(argv[4])
    const message = parseMessage(argv[5])
    const createClient = SHS.createClient(keys, networkKey, HANDSHAKE_TIMEOUT_MS)
    const socket = net.connect(port, '127.0.0.1', function () {
      run(socket, function (cb) { return createClient(serverKey, cb) }, message)
    })
    socket.on('error', function (err) { fail('connect: ' + err.message) })
  } else {
    fail('usage: peer.js server ... | peer.js client ... (see the top of peer.js)')
  }
}

main(process.argv.slice(2))
