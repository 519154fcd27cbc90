#!/usr/bin/env bash
# Side-by-side: one dswarm stream (`dswarm bench-stream`, beside plain TCP) against
# one HyperDHT stream (hyperdht-stream.js), both on 127.0.0.1 in one process each,
# run one after the other.
#
#   benches/compare/stream.sh [MIB] [CONNECTS]      (defaults 64 20)
#
# Needs cargo, node (>= 18), npm and python3. Raw outputs go to a temporary
# directory whose path is printed at the end.
set -euo pipefail

MIB="${1:-64}"
CONNECTS="${2:-20}"
CHUNK="${CHUNK:-65536}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/dswarm-stream.XXXXXX")"

case "$MIB$CONNECTS$CHUNK" in
  *[!0-9]*) echo "usage: $0 [MIB] [CONNECTS]" >&2; exit 2 ;;
esac

if [ ! -d "$HERE/node_modules/hyperdht" ]; then
  echo "== npm ci in benches/compare" >&2
  (cd "$HERE" && npm ci --no-audit --no-fund) >&2
fi

echo "== cargo build --release -p dswarm-sim" >&2
(cd "$ROOT" && cargo build --release -p dswarm-sim) >&2
DSWARM="${CARGO_TARGET_DIR:-$ROOT/target}/release/dswarm"
case "$DSWARM" in /*) ;; *) DSWARM="$ROOT/$DSWARM" ;; esac

echo "== dswarm bench-stream --mib $MIB --connects $CONNECTS --chunk $CHUNK" >&2
dswarm_rc=0
timeout 600 "$DSWARM" bench-stream --mib "$MIB" --connects "$CONNECTS" --chunk "$CHUNK" \
  --json "$LOGS/dswarm.json" >"$LOGS/dswarm.out" 2>"$LOGS/dswarm.err" || dswarm_rc=$?
cat "$LOGS/dswarm.out" >&2

echo "== node hyperdht-stream.js $MIB $CONNECTS $CHUNK" >&2
hyper_rc=0
(cd "$HERE" && timeout 600 node hyperdht-stream.js "$MIB" "$CONNECTS" "$CHUNK") \
  >"$LOGS/hyperdht.out" 2>"$LOGS/hyperdht.err" || hyper_rc=$?
cat "$LOGS/hyperdht.err" >&2

HYPERDHT_VERSION="$(cd "$HERE" && node -p "require('hyperdht/package.json').version" 2>/dev/null || echo '?')"

python3 - "$LOGS" "$MIB" "$CONNECTS" "$CHUNK" "$(nproc)" "$dswarm_rc" "$hyper_rc" \
  "$HYPERDHT_VERSION" "$(node --version)" <<'PY'
import json, math, sys

logs, mib, connects, chunk, cores, drc, hrc, hver, nodever = sys.argv[1:]
try:
    ds = json.load(open(f"{logs}/dswarm.json"))
except (OSError, ValueError):
    ds = {}
hd = {}
for line in open(f"{logs}/hyperdht.out").read().splitlines():
    if line.strip().startswith("{"):
        try:
            hd = json.loads(line)
        except ValueError:
            pass

def get(d, *path):
    for key in path:
        if not isinstance(d, dict) or d.get(key) is None:
            return None
        d = d[key]
    return d

def fmt(v, digits):
    if v is None:
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return f"{v:.{digits}f}"

def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"

tcp = get(ds, "tcp", "mb_per_s")
rows = [
    # label, dswarm, HyperDHT, digits
    ("goodput MB/s (10^6 bytes/s)", get(ds, "dswarm", "mb_per_s"), hd.get("mb_per_s"), 1),
    ("transfer wall s", get(ds, "dswarm", "seconds"), hd.get("seconds"), 3),
    ("transfer CPU s (whole process)", get(ds, "dswarm", "cpu_seconds"), hd.get("cpu_seconds"), 2),
    ("connect to first byte, direct, p50 ms", get(ds, "direct", "first_byte_p50_ms"), hd.get("first_byte_p50_ms"), 2),
    ("connect to first byte, direct, p99 ms", get(ds, "direct", "first_byte_p99_ms"), hd.get("first_byte_p99_ms"), 2),
    ("connect to first byte, relayed, p50 ms", get(ds, "relayed", "first_byte_p50_ms"), hd.get("relayed_first_byte_p50_ms"), 2),
    ("connect to first byte, relayed, p99 ms", get(ds, "relayed", "first_byte_p99_ms"), hd.get("relayed_first_byte_p99_ms"), 2),
]
head = ("metric", "dswarm", f"HyperDHT {hver}", "ratio (dswarm/HyperDHT)")
table = [head] + [(label, fmt(a, d), fmt(b, d), ratio(a, b)) for label, a, b, d in rows]
table.append(("plain TCP on loopback, MB/s", fmt(tcp, 1), "-",
              "dswarm/TCP " + ratio(get(ds, "dswarm", "mb_per_s"), tcp)))
widths = [max(len(r[i]) for r in table) for i in range(4)]
def line(r):
    return "| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) + " |"
print()
print(f"{mib} MiB in {chunk}-byte writes, {connects} connects each way, 127.0.0.1, one process each, run one after the other")
print(f"machine: {cores} cores (nproc); node {nodever}; hyperdht {hver}")
print(line(table[0]))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table[1:]:
    print(line(r))
m = ds.get("memory") or {}
if m:
    print(f"dswarm memory (footprint.streams): idle stream {m.get('idle_opener_bytes', 0):.0f} B opener, "
          f"{m.get('idle_acceptor_bytes', 0):.0f} B acceptor; busy stream peak "
          f"{m.get('busy_sender_peak_bytes', 0) / 1024:.1f} KiB sender, "
          f"{m.get('busy_receiver_peak_bytes', 0) / 1024:.1f} KiB receiver")
notes = []
for side, d in (("dswarm direct", ds.get("direct")), ("dswarm relayed", ds.get("relayed"))):
    if d:
        notes.append(f"{side}: {d.get('done')} of {d.get('tried')} connects, paths {sorted(set(d.get('paths', [])))}")
if hd:
    notes.append(f"HyperDHT: {hd.get('connects')} direct and {hd.get('relayed_connects')} relayed connects; "
                 f"failures {hd.get('failures')}")
if drc != "0":
    notes.append(f"dswarm bench-stream exited with status {drc}")
if hrc != "0":
    notes.append(f"hyperdht-stream.js exited with status {hrc}")
if not ds:
    notes.append("no JSON from dswarm bench-stream")
if not hd:
    notes.append("no JSON line from hyperdht-stream.js")
for n in notes:
    print("note: " + n)
print(f"raw outputs: {logs}")
sys.exit(0 if drc == "0" and hrc == "0" and ds and hd else 1)
PY
