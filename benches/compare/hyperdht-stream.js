#!/usr/bin/env node
// HyperDHT side of benches/compare/stream.sh: one HyperDHT stream on 127.0.0.1 in
// this one process, measured the way `dswarm bench-stream` measures a dswarm stream.
//
//   node hyperdht-stream.js [MIB] [CONNECTS] [CHUNK]      (defaults 64 20 65536)
//
// A `createTestnet(3)` gives the bootstrap; a server node `listen`s with a key pair
// and a client node `connect`s to its public key (a Noise handshake through the
// DHT, then a UDX stream, direct on loopback).
//
// Prints progress on stderr and exactly one JSON line on stdout:
//   mb_per_s, seconds, cpu_seconds  MIB MiB written in CHUNK-byte writes (waiting
//                                   for 'drain' when write() says so), timed from the
//                                   first write to the last byte read at the server;
//                                   CPU is the whole process's (user + system)
//   first_byte_p50_ms, first_byte_p99_ms
//                                   CONNECTS times: connect(publicKey), write one
//                                   byte, until the server reads it; each a new
//                                   connection from the same client node to the
//                                   same server (the client looks the server up
//                                   again each time)
//   relayed_first_byte_p50_ms, relayed_first_byte_p99_ms
//                                   the same with `relayThrough` a blind relay
//                                   (blind-relay, as hyperdht's own tests set it up)
//                                   on a third node: the bytes go through the relay
//   connects, relayed_connects, failures
//
// Exits by itself: a global timer ends the process with status 3 after TIMEOUT_S
// (default 300) seconds whatever happens.

'use strict'

const createTestnet = require('hyperdht/testnet')
const DHT = require('hyperdht')
const BlindRelay = require('blind-relay')

const MIB = parseInt(process.argv[2] || '64', 10)
const CONNECTS = parseInt(process.argv[3] || '20', 10)
const CHUNK = parseInt(process.argv[4] || '65536', 10)
const TIMEOUT_S = parseInt(process.env.TIMEOUT_S || '300', 10)

if (!(MIB >= 1) || !(CONNECTS >= 1) || !(CHUNK >= 1)) {
  console.error('usage: node hyperdht-stream.js [MIB>=1] [CONNECTS>=1] [CHUNK>=1]')
  process.exit(2)
}

const killer = setTimeout(() => {
  console.error(`hyperdht-stream: global timeout of ${TIMEOUT_S} s reached, exiting`)
  process.exit(3)
}, TIMEOUT_S * 1000)
killer.unref()

const now = () => Number(process.hrtime.bigint()) / 1e9
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = Math.min(Math.max(Math.ceil(p * sorted.length), 1), sorted.length)
  return sorted[rank - 1]
}

function round(x, digits) {
  if (!Number.isFinite(x)) return null
  const f = 10 ** digits
  return Math.round(x * f) / f
}

// Byte i of the stream is i % 251, as in bench-stream; the server checks it.
function pattern(len) {
  const buf = Buffer.alloc(len + 251)
  for (let i = 0; i < buf.length; i++) buf[i] = i % 251
  return buf
}

// The server: every connection's bytes go to whoever waits for that connection.
function serve(node, keyPair, onconnection) {
  const server = node.createServer({ holepunch: true }, onconnection)
  return server.listen(keyPair).then(() => server)
}

async function goodput(client, keyPair, serverNode) {
  const total = MIB * 1024 * 1024
  const data = pattern(CHUNK)
  let resolveDone
  let rejectDone
  const done = new Promise((resolve, reject) => {
    resolveDone = resolve
    rejectDone = reject
  })
  const server = await serve(serverNode, keyPair, (socket) => {
    let got = 0
    let ok = true
    socket.on('data', (buf) => {
      for (let i = 0; i < buf.length; i += 4099) {
        if (buf[i] !== (got + i) % 251) ok = false
      }
      got += buf.length
      if (got >= total) resolveDone({ got, ok, at: now() })
    })
    socket.on('error', rejectDone)
  })
  const socket = client.connect(keyPair.publicKey)
  socket.on('error', rejectDone)
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  const cpu0 = cpu()
  const t0 = now()
  let sent = 0
  while (sent < total) {
    const n = Math.min(CHUNK, total - sent)
    const from = sent % 251
    const more = socket.write(data.subarray(from, from + n))
    sent += n
    if (!more) await new Promise((resolve) => socket.once('drain', resolve))
  }
  const { got, ok, at } = await done
  const seconds = at - t0
  const cpuSeconds = cpu() - cpu0
  socket.destroy()
  await server.close()
  if (got !== total || !ok) throw new Error(`the server read ${got} of ${total} bytes (in order: ${ok})`)
  return { seconds, mb_per_s: total / seconds / 1e6, cpu_seconds: cpuSeconds }
}

async function firstBytes(client, keyPair, serverNode, opts, count, label) {
  const waiting = []
  const server = await serve(serverNode, keyPair, (socket) => {
    socket.on('error', () => {})
    socket.once('data', () => {
      const w = waiting.shift()
      if (w) w(now())
      socket.destroy()
    })
  })
  const times = []
  const failures = []
  for (let i = 0; i < count; i++) {
    const arrived = new Promise((resolve) => waiting.push(resolve))
    const t0 = now()
    const socket = client.connect(keyPair.publicKey, opts)
    socket.on('error', (err) => failures.push(`${label} ${i}: ${err && err.message}`))
    socket.write(Buffer.from([0x42]))
    const at = await Promise.race([arrived, new Promise((resolve) => setTimeout(resolve, 20000, null))])
    if (at === null) {
      waiting.shift()
      failures.push(`${label} ${i}: no first byte in 20 s`)
    } else {
      times.push((at - t0) * 1000)
    }
    socket.destroy()
  }
  await server.close()
  times.sort((a, b) => a - b)
  return { times, failures }
}

async function main() {
  console.error(`hyperdht-stream: ${MIB} MiB in ${CHUNK}-byte writes, ${CONNECTS} connects, 127.0.0.1`)
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const serverNode = testnet.createNode()
  const client = testnet.createNode()
  const relayNode = testnet.createNode()
  await Promise.all([serverNode.fullyBootstrapped(), client.fullyBootstrapped(), relayNode.fullyBootstrapped()])

  const result = { mib: MIB, chunk: CHUNK }
  const g = await goodput(client, DHT.keyPair(), serverNode)
  result.seconds = round(g.seconds, 3)
  result.mb_per_s = round(g.mb_per_s, 1)
  result.cpu_seconds = round(g.cpu_seconds, 2)
  console.error(`hyperdht-stream: ${result.mb_per_s} MB/s`)

  const direct = await firstBytes(client, DHT.keyPair(), serverNode, {}, CONNECTS, 'direct')
  result.connects = direct.times.length
  result.first_byte_p50_ms = round(percentile(direct.times, 0.5), 2)
  result.first_byte_p99_ms = round(percentile(direct.times, 0.99), 2)

  // A blind relay on a third node, set up as hyperdht's own relaying tests do.
  const relay = new BlindRelay.Server({
    createStream(opts) {
      return relayNode.createRawStream({ ...opts, framed: true })
    }
  })
  const relayServer = relayNode.createServer((socket) => {
    const session = relay.accept(socket, { id: socket.remotePublicKey })
    session.on('error', () => {})
  })
  await relayServer.listen()
  const relayed = await firstBytes(
    client,
    DHT.keyPair(),
    serverNode,
    { relayThrough: relayServer.publicKey },
    CONNECTS,
    'relayed'
  )
  result.relayed_connects = relayed.times.length
  result.relayed_first_byte_p50_ms = round(percentile(relayed.times, 0.5), 2)
  result.relayed_first_byte_p99_ms = round(percentile(relayed.times, 0.99), 2)
  result.relay_sessions = relay.stats.sessions.accepted
  result.failures = direct.failures.concat(relayed.failures)
  await relayServer.close()
  await relay.close()

  console.error('hyperdht-stream: destroying the testnet')
  await Promise.race([testnet.destroy(), new Promise((resolve) => setTimeout(resolve, 10000))])
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0))
}

main().catch((err) => {
  console.error('hyperdht-stream: error:', err && err.stack ? err.stack : err)
  process.exit(1)
})
