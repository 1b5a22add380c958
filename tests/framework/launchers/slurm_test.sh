#!/usr/bin/env bash
# shellcheck disable=SC2015  # `check && ok ... || bad ...`: ok only prints, so it never falls through
# End to end: `pqlab sweep --launcher slurm` on a real single-node Slurm cluster
# (scripts/local_slurm.sh), with one array task killed while it runs.
#   0. `--dry-run` prints the sbatch command and the batch script, writes and submits nothing.
#   1. a 12-task sweep of experiments/fmnist_sweep.yaml (shrunk) is submitted and waited for; one
#      task's `pqlab run` gets SIGKILL mid-run. The sweep exits 1 and lists that task as failed
#      with its log; 11 results exist; the killed task has no result (a partial file at most).
#   2. the same command again submits only that index, exits 0, and all 12 results exist; no
#      partial file is left anywhere in the sweep (the kill often lands while the task writes the
#      shared calibration cache). A third run, with `--launcher slurm --set sweep.launcher.X`,
#      has nothing to do and keeps the --set launcher keys.
#   3. the same sweep run by the local launcher, unbroken, gives the same numbers: the report
#      CSVs (`pqlab report`) are equal byte for byte, and so is every task's `pqlab inspect`
#      without the lines that hold times, hosts and paths.
# Usage: slurm_test.sh <pqlab binary> <source dir>. Exit 77 (skipped) where no local cluster
# runs and none can be started (not root; or Slurm missing and no apt-get). The cluster is stopped
# at the end only if this test started it; jobs of this test are cancelled either way. Takes about
# 3-4 minutes on 2 cores. KEEP=1 keeps the temp folder (it is kept anyway when a check fails).
set -uo pipefail

PQLAB=${1:?usage: $0 <pqlab binary> <source dir>}
SRC=${2:?usage: $0 <pqlab binary> <source dir>}
PQLAB=$(cd "$(dirname "$PQLAB")" && pwd)/$(basename "$PQLAB")
SRC=$(cd "$SRC" && pwd)
CLUSTER="bash $SRC/scripts/local_slurm.sh"
EXPERIMENT=$SRC/experiments/fmnist_sweep.yaml
SHRINK=(--set data.eval_samples=4 --set data.layer_samples=2 --set model.steps=6)
ID=e2e-killed-$$  # unique job name: other sweeps on a cluster already running are not touched
JOB_NAME=pqlab-fmnist_sweep-$ID
# --set sweep.launcher=slurm rather than --launcher slurm: the latter must also work (phase 2
# checks it), but phase 1 should test the launcher, not the order of options.
SLURM_ARGS=(--set sweep.launcher=slurm --set sweep.launcher.wait=true --set sweep.launcher.poll_seconds=0.5)

T0=$(date +%s.%N)
fails=0
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
say() { printf '[sweep_slurm %6ss] %s\n' "$(secs "$T0" "$(now)")" "$*"; }
ok() { say "ok   $*"; }
bad() { say "FAIL $*"; fails=$((fails + 1)); }
die() { say "FAIL $*"; exit 1; }
phase_t=$T0
phase() { local t; t=$(now); say "--- $1 (previous phase $(secs "$phase_t" "$t") s)"; phase_t=$t; }

# --------------------------------------------------------------------------- the cluster
started_cluster=0
if $CLUSTER status >/dev/null 2>&1; then
  say "a local cluster is already running: using it, and leaving it running"
else
  have_slurm=1
  for b in sbatch squeue scontrol munged slurmctld slurmd; do command -v "$b" >/dev/null 2>&1 || have_slurm=0; done
  if [ "$(id -u)" != 0 ] || { [ "$have_slurm" = 0 ] && ! command -v apt-get >/dev/null; }; then
    echo "sweep_slurm: no local cluster, and none can be started here (scripts/local_slurm.sh needs root, and apt-get where Slurm is missing); skipped"
    exit 77
  fi
  started_cluster=1
fi
TMP=$(mktemp -d /tmp/pqlab-sweep-slurm.XXXXXX)
sweep_pid=""
cleanup() {
  local rc=$?
  # our own background sweep, by PID, if a failure left it running
  [ -n "$sweep_pid" ] && kill -0 "$sweep_pid" 2>/dev/null && kill "$sweep_pid" 2>/dev/null
  if [ -n "${SLURM_CONF:-}" ]; then
    scancel --name="$JOB_NAME" 2>/dev/null
  fi
  if [ "$started_cluster" = 1 ]; then $CLUSTER stop >/dev/null 2>&1 || echo "sweep_slurm: stopping the cluster failed"; fi
  if [ "$rc" = 0 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$TMP"; else echo "sweep_slurm: files kept in $TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A copy of the binary: every phase and every task runs the same one, even if the build tree is
# relinked meanwhile (a developer building while the test runs).
mkdir -p "$TMP/bin" && cp "$PQLAB" "$TMP/bin/pqlab" || die "cannot copy $PQLAB"
PQLAB=$TMP/bin/pqlab

phase "start the cluster"
$CLUSTER start || die "scripts/local_slurm.sh start failed"
eval "$($CLUSTER env)"
export SLURM_CONF
cd "$TMP" || die "no temp dir"
ROOT=$TMP/runs/fmnist_sweep/$ID

results() { find "$1" -mindepth 2 -maxdepth 2 -name fmnist_sweep.h5 -type f | wc -l; }

# --------------------------------------------------------------------------- 0. dry run
phase "0. --dry-run shows the sbatch command and the batch script, and submits nothing"
"$PQLAB" sweep "$EXPERIMENT" "${SLURM_ARGS[@]}" "${SHRINK[@]}" --id "$ID" --dry-run \
  --set sweep.launcher.partition=debug --set sweep.launcher.max_parallel=3 >dry.out 2>dry.err
grep -q "^would submit: sbatch --parsable --array=0-11%3 runs/fmnist_sweep/$ID/slurm/array.sh$" dry.out &&
  grep -q '^#SBATCH --partition=debug$' dry.out && grep -q "^  '$ROOT/11-[0-9a-f]*'$" dry.out &&
  ok "the dry run shows sbatch --array=0-11%3, the partition line and the 12 task folders" ||
  bad "dry run: $(cat dry.out dry.err)"
[ ! -e "$ROOT" ] && [ -z "$(squeue -h --name="$JOB_NAME" 2>/dev/null)" ] && ok "the dry run wrote and submitted nothing" ||
  bad "the dry run wrote $ROOT or submitted a job"

# --------------------------------------------------------------------------- 1. kill one task
phase "1. submit 12 tasks, SIGKILL one while it runs"
"$PQLAB" sweep "$EXPERIMENT" "${SLURM_ARGS[@]}" "${SHRINK[@]}" --id "$ID" >sweep1.out 2>sweep1.err &
sweep_pid=$!
killed_dir="" killed_pid=""
for _ in $(seq 1 1200); do  # 120 s
  for st in "$ROOT"/*/status; do
    [ -f "$st" ] || continue
    read -r word host pid _ < "$st" || continue
    [ "$word" = running ] && [ "$host" = "$(hostname)" ] || continue
    # only a live `pqlab run` (not a reused PID) gets the signal
    [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = "$(basename "$PQLAB")" ] || continue
    killed_dir=$(dirname "$st") killed_pid=$pid
    break 2
  done
  kill -0 "$sweep_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$killed_dir" ] || { cat sweep1.out sweep1.err; die "no task reported 'running <host> <pid>' within 120 s"; }
sleep 1  # let it get going: the kill lands mid-run, not at its first instruction
kill -KILL "$killed_pid" 2>/dev/null || die "task process $killed_pid was gone before the kill"
killed_task=$(basename "$killed_dir")
killed_index=${killed_task%%-*}
say "killed task $killed_task (pid $killed_pid) with SIGKILL"
wait "$sweep_pid"
rc1=$?
sweep_pid=""
phase "1. checks"
cat sweep1.out
[ "$rc1" = 1 ] && ok "the sweep exits 1" || bad "the sweep exited $rc1, expected 1 (stderr: $(tail -5 sweep1.err))"
grep -q "^  task $killed_index ($killed_task): exit 137, log .*$killed_task/log$" sweep1.err &&
  ok "it lists task $killed_index as failed (exit 137) with its log" ||
  bad "no failure line for task $killed_index in stderr: $(grep -A3 'failed tasks' sweep1.err)"
[ "$(grep -c '^  task ' sweep1.err)" = 1 ] && ok "no other task is listed as failed" || bad "other failures: $(grep '^  task ' sweep1.err)"
grep -q "^11/12 tasks complete, 1 failed" sweep1.out && ok "it says 11/12 complete, 1 failed" || bad "summary: $(tail -1 sweep1.out)"
n=$(results "$ROOT")
[ "$n" = 11 ] && ok "exactly 11 results" || bad "$n results, expected 11"
[ ! -e "$killed_dir/fmnist_sweep.h5" ] && ok "the killed task has no result file" || bad "the killed task has $killed_dir/fmnist_sweep.h5"
others=$(cd "$killed_dir" && find . -maxdepth 1 -name 'fmnist_sweep.h5*' ! -name 'fmnist_sweep.h5.partial-*' | paste -sd' ')
partials=$(cd "$killed_dir" && find . -maxdepth 1 -name 'fmnist_sweep.h5.partial-*' -printf '%f\n' | paste -sd' ')
[ -z "$others" ] && ok "nor any complete-looking file (left there: ${partials:-nothing})" ||
  bad "the killed task left $others"
grep -q '^failed 137 ' "$killed_dir/status" && ok "its status says: $(cat "$killed_dir/status")" ||
  bad "its status says: $(cat "$killed_dir/status")"
"$PQLAB" sweep "$EXPERIMENT" "${SLURM_ARGS[@]}" "${SHRINK[@]}" --id "$ID" --status >status.out 2>status.err
grep -Eq "^$killed_task +.* failed$" status.out && [ "$(grep -c ' complete$' status.out)" = 11 ] &&
  ok "--status: 11 complete, task $killed_index failed" || bad "--status says: $(cat status.out status.err)"

# --------------------------------------------------------------------------- 2. resubmit it
phase "2. the same command again: resubmit the failed task only"
"$PQLAB" sweep "$EXPERIMENT" "${SLURM_ARGS[@]}" "${SHRINK[@]}" --id "$ID" >sweep2.out 2>sweep2.err
rc2=$?
phase "2. checks"
cat sweep2.out
[ "$rc2" = 0 ] && ok "the second sweep exits 0" || bad "the second sweep exited $rc2 (stderr: $(tail -5 sweep2.err))"
grep -q "^11 complete, 0 queued or running elsewhere, 1 to run (1 failed or interrupted before)$" sweep2.out &&
  ok "it says 1 to run" || bad "it says: $(sed -n 3p sweep2.out)"
grep -q "^submitted Slurm job [0-9]*, array $killed_index (script" sweep2.out &&
  ok "it submits only index $killed_index" || bad "submission: $(grep submitted sweep2.out)"
[ "$(wc -l < "$ROOT/slurm/jobs")" = 2 ] && ok "two job arrays recorded in slurm/jobs" || bad "slurm/jobs: $(cat "$ROOT/slurm/jobs")"
n=$(results "$ROOT")
[ "$n" = 12 ] && ok "all 12 results exist" || bad "$n results, expected 12"
grep -q '^done ' "$killed_dir/status" && ok "the killed task's status: $(cat "$killed_dir/status")" || bad "status: $(cat "$killed_dir/status")"
# The kill may land while the task writes the sweep's shared calibration cache, whose partial
# file must not outlive the run either (disk: a FLUX calibration is gigabytes).
left=$(find "$ROOT" -name '*.partial-*' | paste -sd' ')
[ -z "$left" ] && ok "no partial file is left in the sweep (calibration cache included)" || bad "partial files left: $left"
# --launcher slurm with launcher keys in --set: the keys must apply to the slurm launcher
"$PQLAB" sweep "$EXPERIMENT" --launcher slurm --set sweep.launcher.wait=true "${SHRINK[@]}" --id "$ID" >sweep3.out 2>sweep3.err
rc3=$?
[ "$rc3" = 0 ] && grep -q "^12 complete, 0 queued or running elsewhere, 0 to run$" sweep3.out &&
  ok "a third run (--launcher slurm --set sweep.launcher.wait=true) has nothing to do" || bad "third run exit $rc3: $(cat sweep3.out sweep3.err)"
grep -A20 '"launcher"' "$ROOT/manifest.json" | grep -q 'wait: true' &&
  ok "--launcher slurm keeps --set sweep.launcher.wait=true (manifest)" ||
  bad "--launcher slurm dropped --set sweep.launcher.wait=true: the manifest's launcher has no 'wait: true'"

# --------------------------------------------------------------------------- 3. same numbers
phase "3. the same sweep, unbroken, with the local launcher"
"$PQLAB" sweep "$EXPERIMENT" --launcher local "${SHRINK[@]}" --id unbroken >local.out 2>local.err
rc4=$?
UNBROKEN=$TMP/runs/fmnist_sweep/unbroken
phase "3. checks"
tail -1 local.out
[ "$rc4" = 0 ] && [ "$(results "$UNBROKEN")" = 12 ] && ok "local sweep: 12 results" || bad "local sweep exited $rc4 with $(results "$UNBROKEN") results"
if "$PQLAB" report --help >/dev/null 2>&1; then
  "$PQLAB" report "$ROOT" --out "$TMP/report-slurm" >report1.log 2>&1 || bad "pqlab report of the slurm sweep failed: $(tail -3 report1.log)"
  "$PQLAB" report "$UNBROKEN" --out "$TMP/report-local" >report2.log 2>&1 || bad "pqlab report of the local sweep failed: $(tail -3 report2.log)"
  if cmp -s "$TMP/report-slurm/report.csv" "$TMP/report-local/report.csv" && [ -s "$TMP/report-local/report.csv" ]; then
    ok "report.csv of both sweeps equal byte for byte ($(($(wc -l < "$TMP/report-local/report.csv") - 1)) rows)"
  else
    bad "report.csv differs:"; diff "$TMP/report-slurm/report.csv" "$TMP/report-local/report.csv" | head -10
  fi
else
  say "note: no \`pqlab report\` in this build: comparing \`pqlab inspect\` only"
fi
# inspect: attributes, datasets and metric means, less what differs between two honest runs
# (times, host, the paths of the task, its config and its calibration cache, whether the cache
# was hit; the first line is the file's path)
inspect_numbers() {  # inspect_numbers RESULT OUT
  "$PQLAB" inspect "$1" > "$2.raw" || return 1
  sed 1d "$2.raw" |
    grep -Ev '^  (calibration_cache|calibration_cache_hit|config_source|start_time|end_time|host|seconds_[a-z_]*|peak_[a-z_]*) ' > "$2"
  grep -q rel_mse "$2"  # the metrics are there: an empty or cut output compares equal to nothing
}
same=0 lines=0
for d in "$UNBROKEN"/*-*/; do
  t=$(basename "$d")
  inspect_numbers "$ROOT/$t/fmnist_sweep.h5" "inspect-slurm-$t" & a=$!  # two at a time: ~1 s each, mostly start-up
  inspect_numbers "$d/fmnist_sweep.h5" "inspect-local-$t"
  b=$?
  if ! wait "$a" || [ "$b" != 0 ]; then
    bad "task $t: pqlab inspect failed or printed no metrics"
  elif ! diff "inspect-slurm-$t" "inspect-local-$t" > "inspect-$t.diff"; then
    bad "task $t: inspect differs: $(head -6 "inspect-$t.diff")"
  else
    same=$((same + 1)) lines=$(wc -l < "inspect-local-$t")
  fi
done
[ "$same" = 12 ] && ok "pqlab inspect of all 12 tasks equal ($lines lines each, less times, host, paths)"

phase "done"
say "total $(secs "$T0" "$(now)") s, $fails failure(s)"
[ "$fails" = 0 ]
