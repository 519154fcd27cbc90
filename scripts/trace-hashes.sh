#!/usr/bin/env bash
# The trace hash of every shipped scenario at its default seed, and, for those on the
# direct engine, at several thread counts: what another machine must reproduce bit for
# bit, and the check that the thread count changes nothing.
#
#   scripts/trace-hashes.sh [THREADS...]        (default: 1 2 3 4 8)
#
# Prints one Markdown row a scenario: engine, the trace hash, and the wall time of each
# run. Fails if a scenario's runs disagree, or if a run ends without a trace (a
# failed expectation still has one; its exit status is shown). SCENARIOS (a
# space-separated list of files) narrows the set; DSWARM names the binary (default:
# this checkout's, built with cargo build --release). Long: the 10,000-node scenarios
# take minutes a run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
THREADS=("$@")
[ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2 3 4 8)
for t in "${THREADS[@]}"; do
  case "$t" in
    '' | *[!0-9]* | 0) echo "usage: $0 [THREADS...]  (whole numbers from 1)" >&2; exit 2 ;;
  esac
done
if [ -z "${DSWARM:-}" ]; then
  (cd "$ROOT" && cargo build --release) >&2
  DSWARM="${CARGO_TARGET_DIR:-$ROOT/target}/release/dswarm"
fi
read -r -a FILES <<<"${SCENARIOS:-$(ls "$ROOT"/scenarios/*.toml | tr '\n' ' ')}"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/dswarm-hashes.XXXXXX")"

TIMEFORMAT='%R'
failed=0
echo "| scenario | engine | trace hash | runs: threads, wall, exit |"
echo "|---|---|---|---|"
for file in "${FILES[@]}"; do
  name="$(basename "$file" .toml)"
  engine="$(sed -n 's/^engine *= *"\([a-z]*\)".*/\1/p' "$file" | head -n 1)"
  engine="${engine:-turmoil}"
  counts=("${THREADS[@]}")
  [ "$engine" = direct ] || counts=(1)
  hashes=()
  runs=()
  for t in "${counts[@]}"; do
    log="$LOGS/$name-$t"
    rc=0
    { time "$DSWARM" run "$file" --threads "$t" >"$log.out" 2>"$log.err"; } 2>"$log.time" || rc=$?
    hash="$(sed -n 's/^trace \([0-9a-f]*\)$/\1/p' "$log.out" | head -n 1)"
    hashes+=("${hash:-none}")
    runs+=("$t: $(tail -n 1 "$log.time") s, $rc")
    echo "== $name --threads $t: ${hash:-no trace} (exit $rc)" >&2
  done
  distinct="$(printf '%s\n' "${hashes[@]}" | sort -u | wc -l)"
  if [ "$distinct" -ne 1 ] || [ "${hashes[0]}" = none ]; then
    failed=1
    echo "| $name | $engine | DIFFER: ${hashes[*]} | $(IFS=';'; echo "${runs[*]}") |"
  else
    echo "| $name | $engine | ${hashes[0]} | $(IFS=';'; echo "${runs[*]}") |"
  fi
done
echo
echo "raw outputs: $LOGS"
exit "$failed"
