#!/usr/bin/env bash
# Side-by-side: `dswarm bench-live` against a HyperDHT createTestnet, both with
# NODES nodes on 127.0.0.1 in one process each, run one after the other.
#
#   benches/compare/run.sh [NODES] [LOOKUPS]      (defaults 1000 1000)
#
# Needs cargo, node (>= 18), npm and python3. Raw outputs go to a temporary
# directory whose path is printed at the end.
set -euo pipefail

NODES="${1:-1000}"
LOOKUPS="${2:-1000}"
SEED="${SEED:-1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/dswarm-compare.XXXXXX")"

case "$NODES$LOOKUPS" in
  *[!0-9]*) echo "usage: $0 [NODES] [LOOKUPS]" >&2; exit 2 ;;
esac

if [ ! -d "$HERE/node_modules/hyperdht" ]; then
  echo "== npm ci in benches/compare" >&2
  (cd "$HERE" && npm ci --no-audit --no-fund) >&2
fi

echo "== cargo build --release" >&2
(cd "$ROOT" && cargo build --release) >&2
DSWARM="${CARGO_TARGET_DIR:-$ROOT/target}/release/dswarm"
case "$DSWARM" in /*) ;; *) DSWARM="$ROOT/$DSWARM" ;; esac

echo "== dswarm bench-live --nodes $NODES --lookups $LOOKUPS --seed $SEED" >&2
dswarm_rc=0
timeout 900 "$DSWARM" bench-live --nodes "$NODES" --lookups "$LOOKUPS" --seed "$SEED" \
  >"$LOGS/dswarm.out" 2>"$LOGS/dswarm.err" || dswarm_rc=$?
cat "$LOGS/dswarm.out" >&2

echo "== node hyperdht-testnet.js $NODES $LOOKUPS $SEED" >&2
hyper_rc=0
(cd "$HERE" && timeout 900 node hyperdht-testnet.js "$NODES" "$LOOKUPS" "$SEED") \
  >"$LOGS/hyperdht.out" 2>"$LOGS/hyperdht.err" || hyper_rc=$?
cat "$LOGS/hyperdht.err" >&2

HYPERDHT_VERSION="$(cd "$HERE" && node -p "require('hyperdht/package.json').version" 2>/dev/null || echo '?')"
DHTRPC_VERSION="$(cd "$HERE" && node -p "require('dht-rpc/package.json').version" 2>/dev/null || echo '?')"

python3 - "$LOGS" "$NODES" "$LOOKUPS" "$(nproc)" "$dswarm_rc" "$hyper_rc" \
  "$HYPERDHT_VERSION" "$DHTRPC_VERSION" "$(node --version)" <<'PY'
import json, math, re, sys

logs, nodes, lookups, cores, drc, hrc, hver, rver, nodever = sys.argv[1:]
ds_text = open(f"{logs}/dswarm.out").read()
ds = {}
num = r"([0-9.]+|NaN|nan|inf)"
m = re.search(r"formed: every node verified >= (\d+) peers after " + num + r" s wall, " + num + r" s CPU", ds_text)
if m:
    ds["verified"] = int(m.group(1))
    ds["formed_wall_s"], ds["formed_cpu_s"] = float(m.group(2)), float(m.group(3))
m = re.search(r"settled: every bootstrap ended after " + num + r" s wall, " + num + r" s CPU, (\d+) handshakes", ds_text)
if m:
    ds["settled_wall_s"], ds["settled_cpu_s"] = float(m.group(1)), float(m.group(2))
    ds["handshakes"] = int(m.group(3))
m = re.search(r"lookups: (\d+)/(\d+) finished, p50 " + num + r" ms p99 " + num + r" ms, " + num
              + r" RPCs per lookup, exact closest " + num, ds_text)
if m:
    ds["finished"] = int(m.group(1))
    ds["lookup_p50_ms"], ds["lookup_p99_ms"] = float(m.group(3)), float(m.group(4))
    ds["rpcs_per_lookup"], ds["exact_closest"] = float(m.group(5)), float(m.group(6))
m = re.search(r"total: " + num + r" s wall, " + num + r" s CPU, peak memory " + num + r" MiB", ds_text)
if m:
    ds["total_wall_s"], ds["total_cpu_s"], ds["peak_rss_mib"] = map(float, m.groups())

hd = {}
for line in open(f"{logs}/hyperdht.out").read().splitlines():
    line = line.strip()
    if line.startswith("{"):
        try:
            hd = json.loads(line)
        except ValueError:
            pass

def fmt(v, digits):
    if v is None:
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return f"{v:.{digits}f}"

def ratio(a, b):
    if a is None or b is None or b == 0 or any(isinstance(x, float) and math.isnan(x) for x in (a, b)):
        return "-"
    return f"{a / b:.2f}x"

rows = [
    # label, dswarm value, HyperDHT value, digits
    ("build wall s (dswarm: every bootstrap ended; HyperDHT: createTestnet returned)",
     ds.get("settled_wall_s"), hd.get("build_wall_s"), 2),
    ("build CPU s (same points)", ds.get("settled_cpu_s"), hd.get("build_cpu_s"), 2),
    ("wall s until every node has >= 20 peers in its table",
     ds.get("formed_wall_s"), hd.get("formed_wall_s"), 2),
    ("CPU s until every node has >= 20 peers in its table",
     ds.get("formed_cpu_s"), hd.get("formed_cpu_s"), 2),
    ("peak memory (RSS) MiB", ds.get("peak_rss_mib"), hd.get("peak_rss_mib"), 0),
    ("lookup p50 ms", ds.get("lookup_p50_ms"), hd.get("lookup_p50_ms"), 2),
    ("lookup p99 ms", ds.get("lookup_p99_ms"), hd.get("lookup_p99_ms"), 2),
    ("RPCs per lookup", ds.get("rpcs_per_lookup"), hd.get("rpcs_per_lookup"), 1),
    ("exact closest", ds.get("exact_closest"), hd.get("exact_closest"), 4),
    ("lookups finished", ds.get("finished"), hd.get("finished"), 0),
    ("total wall s", ds.get("total_wall_s"), hd.get("total_wall_s"), 2),
    ("total CPU s", ds.get("total_cpu_s"), hd.get("total_cpu_s"), 2),
]

head = ("metric", "dswarm", f"HyperDHT {hver}", "ratio (dswarm/HyperDHT)")
table = [head] + [(label, fmt(a, d), fmt(b, d), ratio(a, b)) for label, a, b, d in rows]
widths = [max(len(r[i]) for r in table) for i in range(4)]
def line(r):
    return "| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) + " |"
print()
print(f"{nodes} nodes, {lookups} lookups of existing ids, 127.0.0.1, one process each, run one after the other")
print(f"machine: {cores} cores (nproc); node {nodever}; hyperdht {hver} (dht-rpc {rver})")
print(line(table[0]))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table[1:]:
    print(line(r))
extra = []
if ds.get("handshakes") is not None:
    extra.append(f"dswarm: {ds['handshakes']} SHS1 handshakes dialled until settled")
if hd:
    extra.append(f"HyperDHT: {hd.get('nodes_with_id')} of {hd.get('nodes')} nodes have a DHT id "
                 f"(the bootstrapper stays ephemeral); smallest routing table when createTestnet "
                 f"returned: {hd.get('min_table_at_build')}; retransmits per lookup: "
                 f"{hd.get('retransmits_per_lookup')}")
if drc != "0":
    extra.append(f"dswarm bench-live exited with status {drc}")
if hrc != "0":
    extra.append(f"hyperdht-testnet.js exited with status {hrc}")
if not ds.get("finished") and drc == "0":
    extra.append("could not parse the dswarm output")
if not hd:
    extra.append("no JSON line from hyperdht-testnet.js")
for e in extra:
    print("note: " + e)
print(f"raw outputs: {logs}")
sys.exit(0 if drc == "0" and hrc == "0" and ds and hd else 1)
PY
