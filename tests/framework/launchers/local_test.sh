#!/usr/bin/env bash
# End to end, the local launcher: a 12-task sweep of experiments/fmnist_sweep.yaml (shrunk to
# seconds per task) runs unbroken; a second copy of it has one task SIGKILLed mid-run, must report
# that task as failed with its log, leave no complete-looking result for it, and on the next
# `pqlab sweep` run exactly that task again; then both sweeps' reports must be byte-identical.
#   local_test.sh <pqlab binary> <source dir>
set -uo pipefail
PQLAB=$1
SRC=$2
WORK=$(mktemp -d /tmp/pqlab-sweep-local.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
EXP=$SRC/experiments/fmnist_sweep.yaml
SHRINK=(--set data.eval_samples=2 --set data.layer_samples=2 --set data.batch_size=2 --set model.steps=4)
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
results() { find "runs/fmnist_sweep/$1" -name fmnist_sweep.h5 | wc -l; }

# 1. dry run: 12 tasks, nothing written.
out=$("$PQLAB" sweep "$EXP" "${SHRINK[@]}" --dry-run)
[ "$(grep -c '^[0-9]*-[0-9a-f]\{10\} ' <<<"$out")" = 12 ] && ok "dry run lists 12 tasks" || bad "dry run: $out"
grep -q '^would run 12 task(s) with 2 local worker(s), each as: .*pqlab run --task <task folder>$' <<<"$out" \
  && ok "dry run says what the launcher would do" || bad "dry run preview: $(tail -1 <<<"$out")"
[ ! -e runs ] && ok "dry run writes nothing" || bad "dry run wrote runs/"

# 2. unbroken sweep.
t0=$(now)
"$PQLAB" sweep "$EXP" "${SHRINK[@]}" --id unbroken --workers 2 >unbroken.out 2>unbroken.err
rc=$?
t1=$(now)
[ $rc = 0 ] && [ "$(results unbroken)" = 12 ] && ok "unbroken sweep: 12/12 in $(secs "$t0" "$t1") s" \
  || { bad "unbroken sweep rc=$rc, $(results unbroken) results"; cat unbroken.out unbroken.err; }
computed=$(grep -l 'calibration computed and stored' runs/fmnist_sweep/unbroken/*/log | wc -l)
read=$(grep -l 'calibration read from the cache' runs/fmnist_sweep/unbroken/*/log | wc -l)
[ "$computed" = 1 ] && [ "$read" = 11 ] && ok "one calibration computed, 11 tasks read it from the cache" \
  || bad "calibration computed by $computed tasks, read by $read"
[ -s runs/fmnist_sweep/unbroken/manifest.json ] && ok "manifest written" || bad "no manifest"

# 3. the same sweep again: nothing to run.
out=$("$PQLAB" sweep "$EXP" "${SHRINK[@]}" --id unbroken 2>&1)
grep -q '12 complete, 0 queued or running elsewhere, 0 to run' <<<"$out" && ok "rerun of a complete sweep runs nothing" \
  || bad "rerun: $out"

# 4. kill one task mid-run.
t0=$(now)
"$PQLAB" sweep "$EXP" "${SHRINK[@]}" --id killed --workers 2 >killed.out 2>killed.err &
sweep_pid=$!
victim=""
while kill -0 "$sweep_pid" 2>/dev/null; do
  for s in runs/fmnist_sweep/killed/[4-9]-*/status; do
    [ -f "$s" ] || continue
    read -r word host pid _ <"$s" || continue
    if [ "$word" = running ] && kill -0 "$pid" 2>/dev/null; then
      victim=$(dirname "$s")
      sleep 0.5  # well inside the run: past startup, before the result
      kill -9 "$pid" && break 2
    fi
  done
  sleep 0.05
done
wait "$sweep_pid"
rc=$?
t1=$(now)
[ -n "$victim" ] && ok "killed the task in $victim" || bad "no running task found to kill"
name=$(basename "$victim")
[ $rc = 1 ] && ok "sweep with a killed task exits 1 ($(secs "$t0" "$t1") s)" || bad "sweep exit $rc"
grep -q "task ${name%%-*} ($name): exit 137, log runs/fmnist_sweep/killed/$name/log" killed.err \
  && ok "the failure is listed with its log" || { bad "failure not listed"; cat killed.err; }
[ "$(results killed)" = 11 ] && ok "11 results" || bad "$(results killed) results"
[ ! -e "$victim/fmnist_sweep.h5" ] && ok "the killed task has no complete-looking result" || bad "killed task has a result"
grep -q '^failed 137 ' "$victim/status" && ok "its status says failed 137" || bad "status: $(cat "$victim/status")"

# 5. resume: only the killed task runs.
out=$("$PQLAB" sweep "$EXP" "${SHRINK[@]}" --id killed 2>&1)
rc=$?
grep -q '11 complete, 0 queued or running elsewhere, 1 to run (1 failed or interrupted before)' <<<"$out" \
  && ok "resume runs exactly the killed task" || bad "resume: $out"
[ $rc = 0 ] && [ "$(results killed)" = 12 ] && ok "resumed sweep complete" || bad "resume rc=$rc, $(results killed) results"
[ -z "$(find runs/fmnist_sweep/killed -name '*.partial-*')" ] && ok "the killed run's partial file was cleaned up" \
  || bad "partial files left: $(find runs/fmnist_sweep/killed -name '*.partial-*')"

# 6. identical numbers: the reports' CSVs hold every number at full precision and no timings.
"$PQLAB" report runs/fmnist_sweep/unbroken --out rep_unbroken >/dev/null 2>rep1.err || { bad "report failed"; cat rep1.err; }
"$PQLAB" report runs/fmnist_sweep/killed --out rep_killed >/dev/null 2>rep2.err || { bad "report failed"; cat rep2.err; }
if [ -s rep_unbroken/report.csv ] && cmp -s rep_unbroken/report.csv rep_killed/report.csv; then
  ok "resumed sweep's report.csv is byte-identical to the unbroken one ($(wc -l <rep_killed/report.csv) lines)"
else
  bad "reports differ"; diff rep_unbroken/report.csv rep_killed/report.csv | head
fi

echo "$fails failure(s)"
[ "$fails" = 0 ]
