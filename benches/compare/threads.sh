#!/usr/bin/env bash
# The direct engine on several threads against one: the same binary, the same
# scenario, runs interleaved so that a machine whose speed drifts (a shared host)
# drifts for both alike.
#
#   benches/compare/threads.sh [SCENARIO] [ROUNDS] [THREADS...]
#
# Defaults: benches/compare/scale-2k.toml, 3 rounds, threads 1 2. Each round runs
# every thread count once, in turn; the table gives each run's wall and CPU time,
# each round's speedup of every count against the first, and the median over the
# rounds. Every run must print the same trace hash (the engine's promise), or the
# script fails. DSWARM names the binary to measure (default: this checkout's, built
# with cargo build --release). Needs bash and python3.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCENARIO="${1:-$ROOT/benches/compare/scale-2k.toml}"
ROUNDS="${2:-3}"
shift $(($# > 2 ? 2 : $#))
THREADS=("$@")
[ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2)
for value in "$ROUNDS" "${THREADS[@]}"; do
  case "$value" in
    '' | *[!0-9]* | 0) echo "usage: $0 [SCENARIO] [ROUNDS] [THREADS...]  (whole numbers from 1)" >&2; exit 2 ;;
  esac
done
[ -f "$SCENARIO" ] || { echo "$0: no scenario file $SCENARIO" >&2; exit 2; }

if [ -z "${DSWARM:-}" ]; then
  echo "== cargo build --release" >&2
  (cd "$ROOT" && cargo build --release) >&2
  DSWARM="${CARGO_TARGET_DIR:-$ROOT/target}/release/dswarm"
fi
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/dswarm-threads.XXXXXX")"

TIMEFORMAT='%R %U %S'
for round in $(seq 1 "$ROUNDS"); do
  for t in "${THREADS[@]}"; do
    name="$round-$t"
    echo "== round $round, --threads $t" >&2
    rc=0
    { time "$DSWARM" run "$SCENARIO" --threads "$t" >"$LOGS/$name.out" 2>"$LOGS/$name.err"; } \
      2>"$LOGS/$name.time" || rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "$0: run $name exited $rc; its output is in $LOGS" >&2
      exit 1
    fi
  done
done

python3 - "$LOGS" "$ROUNDS" "$(nproc)" "$SCENARIO" "${THREADS[@]}" <<'PY'
import os, statistics, sys

logs, rounds, nproc, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
threads = [int(t) for t in sys.argv[5:]]

def run(round, t):
    name = f"{round}-{t}"
    wall, user, sys_ = (float(x) for x in open(os.path.join(logs, name + ".time")).read().split())
    trace = next(
        (line.split()[1] for line in open(os.path.join(logs, name + ".out")) if line.startswith("trace ")),
        None,
    )
    return wall, user + sys_, trace

runs = {(r, t): run(r, t) for r in range(1, rounds + 1) for t in threads}
traces = {trace for _, _, trace in runs.values()}
print(f"{scenario}, {rounds} rounds on {nproc} cores")
print()
print("| round | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}: wall / CPU" for t in threads)
      + " | " + " | ".join(f"{t} against {threads[0]}" for t in threads[1:]) + " |")
print("|---" * (2 * len(threads)) + "|")
ratios = {t: [] for t in threads[1:]}
for r in range(1, rounds + 1):
    cells = [f"{runs[r, t][0]:.2f} s / {runs[r, t][1]:.2f} s" for t in threads]
    base = runs[r, threads[0]][0]
    for t in threads[1:]:
        ratios[t].append(base / runs[r, t][0])
    print(f"| {r} | " + " | ".join(cells) + " | "
          + " | ".join(f"{ratios[t][-1]:.2f}x" for t in threads[1:]) + " |")
walls = {t: statistics.median(runs[r, t][0] for r in range(1, rounds + 1)) for t in threads}
print("| median | " + " | ".join(f"{walls[t]:.2f} s" for t in threads) + " | "
      + " | ".join(f"{statistics.median(ratios[t]):.2f}x" for t in threads[1:]) + " |")
print()
if len(traces) != 1:
    print(f"FAIL: the runs printed {len(traces)} different trace hashes: {sorted(map(str, traces))}")
    sys.exit(1)
print(f"every run: trace {traces.pop()}")
print(f"raw outputs: {logs}")
PY
