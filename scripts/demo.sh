#!/usr/bin/env bash
# The ten-instance demo of the original Dswarm, done with separate processes: ten
# `dswarm node` processes on 127.0.0.1 find each other by loopback multicast, then one
# of them pings its 3 closest peers and looks another up through its HTTP API.
#
#   scripts/demo.sh [NODES]        (default 10; needs curl)
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-10}
cargo build --release --quiet
bin=target/release/dswarm
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

for i in $(seq 1 "$nodes"); do
  "$bin" node --quiet --key-file "$dir/node$i.key" > "$dir/node$i.out" 2>&1 &
  pids+=($!)
done
# Each node prints `node <id> udp <addr> api http://<addr>` first.
for i in $(seq 1 "$nodes"); do
  for _ in $(seq 1 50); do grep -q '^node ' "$dir/node$i.out" && break; sleep 0.1; done
  head -1 "$dir/node$i.out"
done
api=$(head -1 "$dir/node1.out" | awk '{print $6}')
other=$(head -1 "$dir/node2.out" | awk '{print $2}')

echo "waiting for the swarm to form..."
for _ in $(seq 1 50); do
  verified=$(curl -s "$api/api/status" | sed -n 's/.*"peers_verified":\([0-9]*\).*/\1/p')
  [ "${verified:-0}" -ge $((nodes - 1)) ] && break
  sleep 0.2
done
echo "status:  $(curl -s "$api/api/status")"
echo "ping:    $(curl -s "$api/api/ping")"
echo "lookup:  $(curl -s "$api/api/lookup/$other" | head -c 300)..."
