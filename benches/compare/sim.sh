#!/usr/bin/env bash
# Side by side, one workload: dswarm's direct engine, dswarm's turmoil engine and
# stock turmoil::Sim 0.7.2, at 100, 200 and 1,000 hosts (or the sizes given).
#
#   benches/compare/sim.sh [HOSTS...]            (default 100 200 1000)
#
# The workload: every host pings a random peer once a simulated second and answers
# pings, one-way latency 5-50 ms seeded, 10 simulated seconds (SIM_SECONDS). dswarm's
# nodes join through 3 bootstrap nodes first; that join is timed apart and left out
# of the comparison (stock turmoil hosts know every address from the start).
# Each run gets LIMIT seconds of wall time (default 600, coreutils timeout); one that
# runs out is reported as not finished, with how far it got when the tool says so.
#
# Environment: SIM_SECONDS (10), SEED (1), TICK_MS (turmoil::Sim's tick, 1),
# LIMIT (600). Needs cargo, python3 and coreutils. Raw outputs go to a temporary
# directory whose path is printed at the end.
set -euo pipefail

SIM_SECONDS="${SIM_SECONDS:-10}"
SEED="${SEED:-1}"
TICK_MS="${TICK_MS:-1}"
LIMIT="${LIMIT:-600}"
HOSTS=("$@")
[ ${#HOSTS[@]} -gt 0 ] || HOSTS=(100 200 1000)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/dswarm-sim-compare.XXXXXX")"

for value in "${HOSTS[@]}" "$SIM_SECONDS" "$SEED" "$TICK_MS" "$LIMIT"; do
  case "$value" in
    '' | *[!0-9]*) echo "usage: $0 [HOSTS...]  (whole numbers; see the header for the environment)" >&2; exit 2 ;;
  esac
done
# The tools stop themselves a little before the hard limit, so that they can still
# say how far they got.
SOFT=$((LIMIT > 10 ? LIMIT - 5 : LIMIT))

echo "== cargo build --release (dswarm)" >&2
(cd "$ROOT" && cargo build --release) >&2
DSWARM="${CARGO_TARGET_DIR:-$ROOT/target}/release/dswarm"
case "$DSWARM" in /*) ;; *) DSWARM="$ROOT/$DSWARM" ;; esac
echo "== cargo build --release (benches/compare/turmoil-sim)" >&2
# Its own target directory: CARGO_TARGET_DIR would mix it with dswarm's.
(cd "$HERE/turmoil-sim" && CARGO_TARGET_DIR="$HERE/turmoil-sim/target" cargo build --release --locked) >&2
STOCK="$HERE/turmoil-sim/target/release/turmoil-sim"

# run NAME COMMAND...: runs one measurement under the limit, its output in $LOGS.
run() {
  local name="$1"
  shift
  echo "== $name: $*" >&2
  local rc=0
  timeout "$LIMIT" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" || rc=$?
  echo "$rc" >"$LOGS/$name.rc"
  tail -n 3 "$LOGS/$name.err" >&2 || true
  cat "$LOGS/$name.out" >&2
}

for n in "${HOSTS[@]}"; do
  for engine in direct turmoil; do
    run "dswarm-$engine-$n" "$DSWARM" bench-sim --engine "$engine" --nodes "$n" \
      --seconds "$SIM_SECONDS" --seed "$SEED" --timeout "$SOFT" --json
  done
  run "stock-$n" "$STOCK" --hosts "$n" --seconds "$SIM_SECONDS" --tick-ms "$TICK_MS" \
    --seed "$SEED" --timeout "$SOFT"
done

python3 - "$LOGS" "$LIMIT" "$SIM_SECONDS" "$TICK_MS" "$(nproc)" "${HOSTS[@]}" <<'PY'
import json, os, sys

logs, limit, sim_seconds, tick_ms, nproc = sys.argv[1:6]
hosts = [int(h) for h in sys.argv[6:]]

def result(name):
    """The tool's JSON line, or a stand-in saying why there is none."""
    out = os.path.join(logs, name + ".out")
    err = os.path.join(logs, name + ".err")
    rc = int(open(os.path.join(logs, name + ".rc")).read().strip() or 0)
    for line in open(out).read().splitlines():
        if line.startswith("{"):
            return json.loads(line)
    if rc == 124:
        why = f"killed at the {limit} s limit"
    else:
        lines = [l for l in open(err).read().splitlines() if l.strip()]
        why = (lines[-1] if lines else f"exit {rc}")[:160]
    return {"finished": False, "error": why}

def dswarm(r):
    """Ping-phase figures of a bench-sim line."""
    ping = r.get("ping") or {}
    join = r.get("join") or {}
    return {
        "finished": r.get("finished", False),
        "error": r.get("error"),
        "wall": ping.get("wall_seconds"),
        "sim": ping.get("sim_seconds"),
        "speed": r.get("speed"),
        "events": ping.get("delivered"),
        "events_per_second": r.get("events_per_second"),
        "rss": r.get("peak_rss_mib"),
        "per_node": r.get("rss_per_node_kib"),
        "join_wall": join.get("wall_seconds"),
        "answered": f"{ping['pings_answered']}/{ping['pings_issued']}" if ping else None,
    }

def stock(r):
    return {
        "finished": r.get("finished", False),
        "error": r.get("error"),
        "wall": r.get("wall_seconds"),
        "sim": float(r["sim_seconds"]) if "sim_seconds" in r else None,
        "speed": r.get("speed"),
        "events": r.get("events"),
        "events_per_second": r.get("events_per_second"),
        "rss": r.get("peak_rss_mib"),
        "per_node": r.get("rss_per_node_kib"),
        "join_wall": None,
        "answered": f"{r['pongs_received']}/{r['pings_sent']}" if "pings_sent" in r else None,
    }

def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"

rows = []
for n in hosts:
    rows.append((n, "dswarm direct", dswarm(result(f"dswarm-direct-{n}"))))
    rows.append((n, "dswarm turmoil", dswarm(result(f"dswarm-turmoil-{n}"))))
    rows.append((n, f"turmoil::Sim ({tick_ms} ms tick)", stock(result(f"stock-{n}"))))

print(f"nproc {nproc}; {sim_seconds} simulated seconds of pings; limit {limit} s wall per run")
print()
head = ["hosts", "simulator", "sim s", "wall s", "sim-s/wall-s", "events", "events/s",
        "peak RSS MiB", "KiB/node", "answered", "dswarm join wall s", "status"]
table = [head]
for n, tool, r in rows:
    status = "ok" if r["finished"] else "NOT FINISHED: " + str(r["error"])
    table.append([fmt(n), tool, fmt(r["sim"], 1), fmt(r["wall"]), fmt(r["speed"], 3),
                  fmt(r["events"]), fmt(r["events_per_second"], 0), fmt(r["rss"], 1),
                  fmt(r["per_node"], 1), r["answered"] or "-", fmt(r["join_wall"]), status])
widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
for row in table:
    print(" | ".join(c.rjust(w) if i != 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
          + " | " + row[-1])

print()
print("Ratios of simulated seconds per wall second (how many times faster than stock")
print("turmoil::Sim; for equal simulated time, turmoil::Sim's wall time / dswarm's):")
print()
print("hosts | turmoil::Sim / dswarm-direct | turmoil::Sim / dswarm-turmoil")
for n in hosts:
    d, t, s = (r for m, _, r in rows if m == n)
    def ratio(ours):
        if not ours["speed"] or not s["speed"]:
            return "-"
        text = f"{ours['speed'] / s['speed']:,.1f}x"
        # An unfinished stock run's speed is what it reached before the limit.
        return text + (" (turmoil::Sim unfinished: its speed so far)" if not s["finished"] else "")
    print(f"{n} | {ratio(d)} | {ratio(t)}")
print()
print("Events: datagrams handed to a host. dswarm's include its handshakes, lookups and")
print("table upkeep, so it moves more datagrams per ping than the stock ping-pong.")
PY
echo "raw outputs: $LOGS" >&2
