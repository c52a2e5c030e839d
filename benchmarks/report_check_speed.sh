#!/usr/bin/env bash
# CPU seconds (user+system, /usr/bin/time) of `inception-cost report`, `inception-cost check`
# and the two test files that run them, for a checkout from before a change and this tree,
# alternated (before, after, after, before, ...) ROUNDS times; keep the best of each.
#   benchmarks/report_check_speed.sh BEFORE_DIR [ROUNDS]   (prints one line per run)
set -u
BEFORE=$(cd "$1" && pwd); AFTER=$(cd "$(dirname "$0")/.." && pwd); ROUNDS=${2:-2}
OUT=$(mktemp -d)
cpu() {  # cpu TREE LABEL CMD... : run CMD in TREE with TREE first on PYTHONPATH
  local tree=$1 label=$2; shift 2
  (cd "$tree" && PYTHONPATH="$tree" /usr/bin/time -f "%U+%S" "$@" >/dev/null 2>"$OUT/err")
  echo "$label $(basename "$tree") $(tail -1 "$OUT/err" | bc) load=$(cut -d' ' -f1 /proc/loadavg)"
}
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then trees="$BEFORE $AFTER"; else trees="$AFTER $BEFORE"; fi
  for tree in $trees; do
    rm -rf "$OUT/reports"
    cpu "$tree" report python -m inception_cost report --out "$OUT/reports"
    cpu "$tree" check python -m inception_cost check --baseline reports/
  done
done
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then trees="$BEFORE $AFTER"; else trees="$AFTER $BEFORE"; fi
  for tree in $trees; do
    cpu "$tree" pytest python -m pytest tests/test_examples_and_tour.py \
        tests/test_check_and_report.py -q -p no:randomly
  done
done
rm -rf "$OUT"
