#!/usr/bin/env bash
# local_slurm.sh: a throwaway single-node Slurm cluster on this machine (Debian 12, root, loopback
# only, no systemd, no cgroups, no accounting), for `pqlab sweep --launcher slurm` on a workstation
# and for tests/framework/launchers/slurm_test.sh in CI.
#
#   bash scripts/local_slurm.sh start          # install if missing, start, wait until the node is idle
#   eval "$(bash scripts/local_slurm.sh env)"  # export SLURM_CONF for sbatch/squeue/scontrol (and pqlab)
#   bash scripts/local_slurm.sh status         # exit 0 up, 3 not running, 1 half dead
#   bash scripts/local_slurm.sh stop [--purge] # stop the daemons it started (by recorded PID)
#
# Everything (config, munge key and socket, spool, logs, PIDs) lives under $LOCAL_SLURM_DIR; only the
# Debian packages write outside it. Derived from the recipe in shared/slurm (NOTES.md there lists 22
# pitfalls; "pitfall N" below refers to it). Tunables (environment):
#   LOCAL_SLURM_DIR          state dir                                   [/tmp/pqlab-slurm]
#   LOCAL_SLURM_CLUSTER      ClusterName                                 [pqlab-local]
#   LOCAL_SLURM_CTLD_PORT    SlurmctldPort                               [6817]
#   LOCAL_SLURM_SLURMD_PORT  SlurmdPort                                  [6818]
#   LOCAL_SLURM_CPUS         CPUs the node advertises                    [nproc]
#   LOCAL_SLURM_CRED_EXPIRE  cred_expire (s, >= 5): also how long a requeued task waits  [10]
#   LOCAL_SLURM_TIMEOUT      seconds to wait for the daemons / idle node [60]
#
# Why CPUs = nproc and not more: a sweep task (`pqlab run --task`) is CPU-bound and runs with the
# experiment's `threads` (1 in the shipped configs), so Slurm's one CPU per task is the truth, and
# the node runs nproc tasks at once like the local launcher's default workers. Advertising 8 CPUs on
# a 2-core runner would start 8 tasks that share 2 cores: no more throughput, each task 4x slower
# (a test that kills a task while it runs gets no faster either), and more memory. Set
# LOCAL_SLURM_CPUS above nproc only to watch a `%N` throttle (sweep.launcher.max_parallel) act
# (pitfall 15); then SlurmdParameters=config_overrides keeps the node from being drained.
set -uo pipefail

STATE_DIR=${LOCAL_SLURM_DIR:-/tmp/pqlab-slurm}
CLUSTER=${LOCAL_SLURM_CLUSTER:-pqlab-local}
CTLD_PORT=${LOCAL_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${LOCAL_SLURM_SLURMD_PORT:-6818}
CRED_EXPIRE=${LOCAL_SLURM_CRED_EXPIRE:-10}
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60}
NODE=localhost
PKGS=(munge slurmctld slurmd slurm-client)

ETC=$STATE_DIR/etc
MUNGE_DIR=$STATE_DIR/munge
LOG=$STATE_DIR/log
RUN=$STATE_DIR/run
CONF=$ETC/slurm.conf
PIDS=$STATE_DIR/pids   # name=PID lines: the only processes `stop` ever signals
SOCK=$MUNGE_DIR/munge.socket.2

say() { printf '[local_slurm] %s\n' "$*" >&2; }
die() { printf '[local_slurm] error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }

# A PID is "ours and alive" if it exists, is not a zombie (killed daemons are reaped by PID 1 only
# after a moment, pitfall 16) and runs the expected executable (a reused PID is never signalled).
alive() {  # alive PID EXE_BASENAME_REGEX
  local pid=$1 re=$2 st exe
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] || return 1
  exe=$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)" 2>/dev/null) || return 1
  [[ $exe =~ $re ]]
}
pid_of() { [ -f "$PIDS" ] && sed -n "s/^$1=//p" "$PIDS" | head -n1; return 0; }
node_state() { SLURM_CONF=$CONF timeout 10 sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1; return 0; }

# 0: all three daemons up and the node usable; 3: none of ours running; 1: some, or node unusable.
health() {
  local m c d n=0
  m=$(pid_of munged); c=$(pid_of slurmctld); d=$(pid_of slurmd)
  alive "$m" '^munged$' && n=$((n + 1))
  alive "$c" '^slurmctld' && n=$((n + 1))
  alive "$d" '^slurmd' && n=$((n + 1))
  [ "$n" = 0 ] && return 3
  [ "$n" = 3 ] || return 1
  [[ $(node_state) =~ ^(idle|mixed|allocated|completing) ]] || return 1
  return 0
}

install_packages() {
  local b need=0
  for b in munged mungekey slurmctld slurmd sbatch sinfo squeue scontrol scancel; do
    command -v "$b" >/dev/null 2>&1 || need=1
  done
  [ "$need" = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "Slurm is not installed and only root can install it (apt-get install ${PKGS[*]})"
  command -v apt-get >/dev/null || die "Slurm is not installed and this is no Debian/Ubuntu system (apt-get)"
  say "installing ${PKGS[*]} (--no-install-recommends: 7 packages instead of 34, pitfall 3)"
  local t0 apt_log=$STATE_DIR/apt.log made_policy=0
  t0=$(now)
  mkdir -p "$STATE_DIR"
  # The packages' postinst scripts start the services through invoke-rc.d; without systemd that
  # runs /etc/init.d scripts we do not want (pitfall 2). Docker-style images already ship a
  # policy-rc.d that denies it; elsewhere one is put in place for the install only.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local ok=0
  : > "$apt_log"
  # No `apt-get update` when the lists already know the packages; once more if the install fails
  # (a stale list names .debs the mirror no longer has).
  if ! apt-cache policy slurmctld 2>/dev/null | grep -q 'Candidate: [0-9]'; then apt-get update -qq >> "$apt_log" 2>&1; fi
  if apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >> "$apt_log" 2>&1; then ok=1
  elif apt-get update -qq >> "$apt_log" 2>&1 && apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >> "$apt_log" 2>&1; then ok=1
  fi
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$ok" = 1 ] || { tail -20 "$apt_log" >&2; die "apt-get install failed (log: $apt_log)"; }
  say "installed in $(secs "$t0" "$(now)") s ($(slurmctld -V))"
}

cmd_stop() {
  local purge=0
  [ "${1:-}" = --purge ] && purge=1
  if [ ! -f "$PIDS" ]; then
    say "no cluster recorded in $PIDS: nothing to stop"
    if [ "$purge" = 1 ] && [ -d "$STATE_DIR" ]; then rm -rf "$STATE_DIR" && say "removed $STATE_DIR"; fi
    return 0
  fi
  local m c d rc=0 jobs
  m=$(pid_of munged); c=$(pid_of slurmctld); d=$(pid_of slurmd)
  # Cancel this cluster's jobs first and wait for the queue to drain, so that no slurmstepd (and
  # no `pqlab run` under it) outlives slurmd (pitfall 22).
  if alive "$c" '^slurmctld' && [ -f "$CONF" ]; then
    jobs=$(SLURM_CONF=$CONF timeout 10 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      say "cancelling jobs: $jobs"
      # shellcheck disable=SC2086
      SLURM_CONF=$CONF timeout 10 scancel $jobs 2>/dev/null
      for _ in $(seq 1 150); do
        SLURM_CONF=$CONF timeout 10 squeue -h -t PD,R,CG,S,CF,RQ -o %A 2>/dev/null | grep -q . || break
        sleep 0.2
      done
    fi
  fi
  stop_pid() {  # stop_pid NAME PID REGEX: SIGTERM, SIGKILL after 10 s
    local name=$1 pid=$2 re=$3
    alive "$pid" "$re" || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do alive "$pid" "$re" || { say "stopped $name ($pid)"; return 0; }; sleep 0.1; done
    say "$name ($pid) ignored SIGTERM for 10 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 1 50); do alive "$pid" "$re" || return 0; sleep 0.1; done
    say "warning: $name ($pid) is still alive"
    return 1
  }
  stop_pid slurmd "$d" '^slurmd' || rc=1
  stop_pid slurmctld "$c" '^slurmctld' || rc=1  # its slurmscriptd child exits with it (pitfall 17)
  stop_pid munged "$m" '^munged$' || rc=1        # last: the others authenticate through it
  local s
  for s in "$STATE_DIR"/spool/slurmd/*_*.*; do
    [ -S "$s" ] && say "warning: leftover step socket $s (a slurmstepd may still run)"
  done
  if [ "$rc" = 0 ]; then
    rm -f "$PIDS"
    [ "$purge" = 1 ] && rm -rf "$STATE_DIR" && say "removed $STATE_DIR"
  fi
  return "$rc"
}

cmd_start() {
  local t_start
  t_start=$(now)
  install_packages
  if [ -f "$PIDS" ]; then
    if health; then
      say "already running (node $NODE $(node_state)); $(cmd_env)"
      return 0
    fi
    say "the cluster recorded in $PIDS is half dead: stopping it first"
    cmd_stop || true
  fi
  [ "$(id -u)" = 0 ] || die "starting the daemons needs root (SlurmUser=root; jobs run as root)"
  local p
  for p in "$CTLD_PORT" "$SLURMD_PORT"; do  # pitfall 21: say so instead of a cryptic bind error
    command -v ss >/dev/null || break
    ss -Hltn "sport = :$p" 2>/dev/null | grep -q . &&
      die "TCP port $p is in use (another Slurm?); set LOCAL_SLURM_CTLD_PORT / LOCAL_SLURM_SLURMD_PORT"
  done
  local nproc cpus mem mem_free mem_slurmd overrides="" comm="" host_addr
  nproc=$(nproc)
  cpus=${LOCAL_SLURM_CPUS:-$nproc}
  [ "$cpus" -gt "$nproc" ] && overrides="SlurmdParameters=config_overrides"
  # RealMemory above what slurmd detects drains the node (pitfall 8).
  mem_free=$(free -m | awk '/^Mem:/{print $2}')
  mem_slurmd=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
  mem=$mem_free
  [ -n "$mem_slurmd" ] && [ "$mem_slurmd" -lt "$mem" ] && mem=$mem_slurmd
  # Listen on the hostname's address only when it is loopback (pitfall 9); every address in the
  # config is 127.0.0.1, so traffic stays on loopback either way.
  host_addr=$(getent ahostsv4 "$(hostname)" 2>/dev/null | awk 'NR==1{print $1}')
  case "$host_addr" in
    127.*) comm="CommunicationParameters=NoCtldInAddrAny,NoInAddrAny" ;;
    *) say "note: hostname $(hostname) resolves to '${host_addr:-nothing}': daemons listen on 0.0.0.0" ;;
  esac

  rm -rf "$ETC" "$MUNGE_DIR" "$LOG" "$RUN" "$STATE_DIR/spool" "$PIDS" "$STATE_DIR/env.sh"
  mkdir -p "$ETC" "$MUNGE_DIR" "$LOG" "$RUN" "$STATE_DIR/spool/ctld" "$STATE_DIR/spool/slurmd" || die "cannot create $STATE_DIR"
  chmod 755 "$STATE_DIR" "$MUNGE_DIR"  # munged wants o+x on its socket's directory (pitfall 4)

  # Our own munge key, socket and pidfile, so a system munged cannot interfere (pitfall 5).
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$MUNGE_DIR/munge.key" --bits=1024 --force || die "mungekey failed"
  else
    dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=128 count=1 status=none
  fi
  chmod 600 "$MUNGE_DIR/munge.key"
  local t_daemons
  t_daemons=$(now)
  munged --socket="$SOCK" --key-file="$MUNGE_DIR/munge.key" --pid-file="$MUNGE_DIR/munged.pid" \
    --log-file="$LOG/munged.log" --seed-file="$MUNGE_DIR/munged.seed" </dev/null ||
    die "munged failed: $(tail -3 "$LOG/munged.log" 2>/dev/null)"
  echo "munged=$(cat "$MUNGE_DIR/munged.pid")" > "$PIDS"
  munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null || die "munge round trip failed"

  # The config lives outside /etc (pitfall 6): daemons get -f, clients SLURM_CONF.
  cat > "$CONF" <<EOF
# Written by scripts/local_slurm.sh: one node, loopback only, no cgroups, no accounting.
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued task waits cred_expire+1 s before it may start (default 120; pitfall 11).
AuthInfo=socket=$SOCK,cred_expire=$CRED_EXPIRE
$comm
StateSaveLocation=$STATE_DIR/spool/ctld
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (not portable to cgroup-v2 hosts without systemd; pitfall 20) and no accounting.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# batch_sched_delay=0: array tasks start at once, not in one wave every 3 s (pitfall 10);
# bf_interval=1, sched_interval=1: requeued and resubmitted tasks start within a second (11, 19).
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_interval=1
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Without accounting the queue is the only record of a finished task: keep it 10 min (pitfall 13).
# pqlab does not need it (a task's state is its folder's status file), a person running squeue does.
MinJobAge=600
# Array indices are sweep task indices, so a sweep of more than 1000 tasks needs indices above
# Slurm's default limit (MaxArraySize=1001).
MaxArraySize=100001
KillWait=5
$overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  sed -i '/^$/d' "$CONF"
  printf 'export SLURM_CONF=%s\n' "$CONF" > "$STATE_DIR/env.sh"

  # slurmctld and slurmd in the foreground (-D) under setsid with output to files: $! is the
  # daemon's PID, early errors land in a file, and the daemons leave the caller's process group
  # (a test's Ctrl-C or timeout kill does not take them down mid-job; pitfall 1).
  export SLURM_CONF=$CONF
  setsid slurmctld -D -f "$CONF" </dev/null >"$LOG/slurmctld.stdout" 2>&1 &
  local ctld=$!
  echo "slurmctld=$ctld" >> "$PIDS"
  for _ in $(seq 1 $((TIMEOUT * 10))); do
    timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP' && break
    alive "$ctld" '^slurmctld' || die "slurmctld exited: $(tail -5 "$LOG/slurmctld.stdout")"
    sleep 0.1
  done
  # -N: the host's name is not "localhost" (pitfall 7).
  setsid slurmd -D -N "$NODE" -f "$CONF" </dev/null >"$LOG/slurmd.stdout" 2>&1 &
  local slurmd_pid=$!
  echo "slurmd=$slurmd_pid" >> "$PIDS"
  local st=""
  for _ in $(seq 1 $((TIMEOUT * 10))); do
    st=$(node_state)
    [ "$st" = idle ] && break
    alive "$slurmd_pid" '^slurmd' || die "slurmd exited: $(tail -5 "$LOG/slurmd.stdout")"
    alive "$ctld" '^slurmctld' || die "slurmctld exited: $(tail -5 "$LOG/slurmctld.stdout")"
    sleep 0.1
  done
  if [ "$st" != idle ]; then
    timeout 10 scontrol show node "$NODE" >&2
    tail -20 "$LOG/slurmctld.log" "$LOG/slurmd.log" >&2
    die "node $NODE is not idle after ${TIMEOUT} s (state: ${st:-unknown}); stop it with: $0 stop"
  fi
  say "up in $(secs "$t_start" "$(now)") s (daemons to idle $(secs "$t_daemons" "$(now)") s): node $NODE CPUs=$cpus" \
    "RealMemory=$mem; $(tr '\n' ' ' < "$PIDS")"
  say "$(cmd_env)"
}

cmd_env() { printf 'export SLURM_CONF=%s\n' "$CONF"; }

cmd_status() {  # on stdout: what is up, and the queue
  health
  local rc=$?
  case $rc in
    0) echo "up: $(tr '\n' ' ' < "$PIDS")node $NODE $(node_state); $(cmd_env)"
       SLURM_CONF=$CONF timeout 10 squeue -o '%.12i %.30j %.9T %.10M %R' ;;
    3) echo "not running (state dir $STATE_DIR)" ;;
    *) echo "half dead: recorded $(tr '\n' ' ' < "$PIDS" 2>/dev/null)node state '$(node_state)'; '$0 stop' cleans up" ;;
  esac
  return "$rc"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *) echo "usage: $0 start | stop [--purge] | env | status   (state dir: \$LOCAL_SLURM_DIR, default /tmp/pqlab-slurm)" >&2
     exit 2 ;;
esac
