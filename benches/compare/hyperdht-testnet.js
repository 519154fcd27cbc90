#!/usr/bin/env node
// HyperDHT side of benches/compare: a `createTestnet(N)` on 127.0.0.1 in this one
// process, measured the way `dswarm bench-live` measures itself.
//
//   node hyperdht-testnet.js [NODES] [LOOKUPS] [SEED]
//
// Prints progress on stderr and exactly one JSON line on stdout:
//   build_wall_s, build_cpu_s   createTestnet(N) until it returns (every node has
//                               finished its own bootstrap query, nodes started one
//                               after the other, as hyperdht/testnet does)
//   formed_wall_s, formed_cpu_s until every node also has >= VERIFIED (20) peers in
//                               its routing table (polled every 100 ms, as bench-live)
//   peak_rss_mib                process.resourceUsage().maxRSS (the whole run)
//   lookup_p50_ms, lookup_p99_ms  findNode(existing id) from a random node, until the
//                               query stream closes; one lookup at a time; targets
//                               are the nodes that have a DHT id (not the ephemeral
//                               bootstrapper, see below)
//   rpcs_per_lookup             FIND_NODE requests the query sent (Query#_visit calls,
//                               one per node asked; retransmissions not counted)
//   retransmits_per_lookup      retransmissions of those requests (informational)
//   exact_closest               fraction of lookups whose closest reply is the target
//                               (or whose origin is the target, as bench-live counts)
//   nodes, lookups, finished, nodes_with_id, total_wall_s, total_cpu_s,
//   min_table_at_build
//
// Exits by itself: destroys the testnet, and a global timer ends the process with
// status 3 after TIMEOUT_S (default 600) seconds whatever happens.

'use strict'

const createTestnet = require('hyperdht/testnet')
const b4a = require('b4a')

const NODES = parseInt(process.argv[2] || '1000', 10)
const LOOKUPS = parseInt(process.argv[3] || '1000', 10)
const SEED = parseInt(process.argv[4] || '1', 10)
const VERIFIED = parseInt(process.env.VERIFIED || '20', 10)
const TIMEOUT_S = parseInt(process.env.TIMEOUT_S || '600', 10)

if (!(NODES >= 2) || !(LOOKUPS >= 0)) {
  console.error('usage: node hyperdht-testnet.js [NODES>=2] [LOOKUPS>=0] [SEED]')
  process.exit(2)
}

const killer = setTimeout(() => {
  console.error(`hyperdht-testnet: global timeout of ${TIMEOUT_S} s reached, exiting`)
  process.exit(3)
}, TIMEOUT_S * 1000)
killer.unref()

// splitmix32-style seeded PRNG (mulberry32): deterministic lookup choices.
function mulberry32(seed) {
  let a = seed >>> 0
  return function () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const now = () => Number(process.hrtime.bigint()) / 1e9
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = Math.min(Math.max(Math.ceil(p * sorted.length), 1), sorted.length)
  return sorted[rank - 1]
}

async function lookup(node, target) {
  const q = node.findNode(target)
  let visits = 0
  const visit = q._visit
  q._visit = function (to) {
    visits++
    return visit.call(this, to)
  }
  const retriesBefore = node.stats.requests.retries
  const start = now()
  await q.finished()
  const ms = (now() - start) * 1000
  const first = q.closestReplies.length > 0 ? q.closestReplies[0].from.id : null
  return {
    ms,
    visits,
    retransmits: node.stats.requests.retries - retriesBefore,
    first
  }
}

async function main() {
  console.error(`hyperdht-testnet: ${NODES} nodes on 127.0.0.1, ${LOOKUPS} lookups, seed ${SEED}`)
  const rng = mulberry32(SEED)
  const wall0 = now()
  const cpu0 = cpu()

  const testnet = await createTestnet(NODES, { host: '127.0.0.1' })
  const buildWall = now() - wall0
  const buildCpu = cpu() - cpu0
  const nodes = testnet.nodes
  const minTable = () => nodes.reduce((m, n) => Math.min(m, n.table.size), Infinity)
  const minTableAtBuild = minTable()
  console.error(
    `hyperdht-testnet: createTestnet(${NODES}) returned after ${buildWall.toFixed(2)} s wall, ` +
      `${buildCpu.toFixed(2)} s CPU; smallest routing table ${minTableAtBuild}`
  )

  // Same criterion as bench-live: every node has >= VERIFIED peers it has heard from.
  const want = Math.min(VERIFIED, NODES - 1)
  let formedWall = null
  let formedCpu = null
  const formDeadline = wall0 + Math.max(60, TIMEOUT_S / 2)
  for (;;) {
    if (minTable() >= want) {
      formedWall = now() - wall0
      formedCpu = cpu() - cpu0
      break
    }
    if (now() > formDeadline) {
      const short = nodes.filter((n) => n.table.size < want).length
      console.error(`hyperdht-testnet: ${short} nodes still have < ${want} peers; giving up waiting`)
      break
    }
    await sleep(100)
  }

  // A node's DHT id is null while it is ephemeral. In hyperdht/testnet the first
  // node (the bootstrapper) bootstraps alone and stays ephemeral: it answers
  // requests but is in nobody's routing table, so it is no lookup target.
  const targets = []
  for (let i = 0; i < nodes.length; i++) if (nodes[i].id !== null) targets.push(i)
  const ephemeral = nodes.map((n, i) => (n.id === null ? i : -1)).filter((i) => i >= 0)
  if (ephemeral.length > 0) {
    console.error(`hyperdht-testnet: ephemeral nodes (no DHT id, not targets): [${ephemeral.join(', ')}]`)
  }
  const distinct = new Set(targets.map((i) => b4a.toString(nodes[i].id, 'hex')))
  if (distinct.size !== targets.length) console.error('hyperdht-testnet: WARNING duplicate node ids')
  if (targets.length === 0) throw new Error('no node has a DHT id')

  const latencies = []
  let rpcs = 0
  let retransmits = 0
  let exact = 0
  let finished = 0
  for (let i = 0; i < LOOKUPS; i++) {
    const from = Math.floor(rng() * nodes.length)
    const to = targets[Math.floor(rng() * targets.length)]
    const target = nodes[to].id
    try {
      const r = await lookup(nodes[from], target)
      finished++
      latencies.push(r.ms)
      rpcs += r.visits
      retransmits += r.retransmits
      if (from === to || (r.first !== null && b4a.equals(r.first, target))) exact++
    } catch (err) {
      console.error(`hyperdht-testnet: lookup ${i} failed: ${err && err.message}`)
    }
  }
  latencies.sort((a, b) => a - b)

  const totalWall = now() - wall0
  const totalCpu = cpu() - cpu0
  const result = {
    nodes: NODES,
    lookups: LOOKUPS,
    finished,
    nodes_with_id: targets.length,
    build_wall_s: round(buildWall, 2),
    build_cpu_s: round(buildCpu, 2),
    formed_wall_s: formedWall === null ? null : round(formedWall, 2),
    formed_cpu_s: formedCpu === null ? null : round(formedCpu, 2),
    min_table_at_build: minTableAtBuild,
    peak_rss_mib: round(process.resourceUsage().maxRSS / 1024, 1),
    lookup_p50_ms: round(percentile(latencies, 0.5), 2),
    lookup_p99_ms: round(percentile(latencies, 0.99), 2),
    rpcs_per_lookup: round(rpcs / Math.max(finished, 1), 1),
    retransmits_per_lookup: round(retransmits / Math.max(finished, 1), 2),
    exact_closest: round(exact / Math.max(LOOKUPS, 1), 4),
    total_wall_s: round(totalWall, 2),
    total_cpu_s: round(totalCpu, 2)
  }

  console.error('hyperdht-testnet: destroying the testnet')
  await Promise.race([testnet.destroy(), sleep(60_000)])
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0))
}

function round(x, digits) {
  if (!Number.isFinite(x)) return null
  const f = 10 ** digits
  return Math.round(x * f) / f
}

main().catch((err) => {
  console.error('hyperdht-testnet: error:', err && err.stack ? err.stack : err)
  process.exit(1)
})
