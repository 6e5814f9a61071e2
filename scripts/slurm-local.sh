#!/bin/sh
# A one-node Slurm on localhost for fairgen's tests (docs/cluster.md, "Testing on one machine").
#
#   scripts/slurm-local.sh start  DIR   configure and start munged, slurmctld and slurmd under DIR
#   scripts/slurm-local.sh stop   DIR   stop them (by the PIDs recorded under DIR)
#   scripts/slurm-local.sh status DIR   exit 0 when the node is up and accepts jobs
#   scripts/slurm-local.sh env    DIR   print the environment clients need (eval it)
#
# Everything (config, keys, sockets, state, logs) lives under DIR; nothing is written to /etc or /run.
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf; munge is reached through the socket named
# in slurm.conf's AuthInfo. Needs root (slurmd runs jobs as their submitter) and the Debian packages
# slurmctld slurmd slurm-client munge. Any service that does not come up makes `start` exit 1 with the
# reason and the tail of that service's log.
set -eu

die() { echo "slurm-local: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 start|stop|status|env DIR"
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf
# Ports away from the standard 6817/6818 so that a real Slurm on the machine is not disturbed.
ctld_port=${FAIRGEN_SLURM_CTLD_PORT:-16817}
slurmd_port=${FAIRGEN_SLURM_SLURMD_PORT:-16818}
node=$(hostname -s 2>/dev/null || hostname)

need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || die "$1 not found: install the Debian packages slurmctld slurmd slurm-client munge (make deps does)"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

log_tail() { [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 15 "$1" >&2; } || true; }

write_conf() {
    cpus=$(nproc)
    # Leave headroom for the OS; slurmd refuses a node whose RealMemory exceeds what it finds.
    mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)
    cat > "$conf" <<EOF
# Written by scripts/slurm-local.sh for tests: one node, localhost, no cgroups, no accounting daemon.
ClusterName=fairgen-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# No cgroup hierarchy is delegated inside a container: track processes through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue -t all and scontrol show job for an hour (there is no slurmdbd for sacct).
MinJobAge=3600
SchedulerParameters=sched_interval=1
SlurmdParameters=config_overrides
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start_munge() {
    mkdir -p "$dir/munge"
    chmod 0700 "$dir/munge"
    if [ ! -s "$dir/munge/munge.key" ]; then
        # mungekey refuses to overwrite; a fresh DIR gets a fresh key.
        mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 \
            || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
        chmod 0400 "$dir/munge/munge.key"
    fi
    pid_alive "$dir/munge/munged.pid" && return 0
    # munged refuses to run as root and checks the ownership of every folder above its files;
    # --force accepts both for this private, test-only instance.
    munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
        --seed-file="$dir/munge/munged.seed" >"$dir/munge/start.out" 2>&1 \
        || { cat "$dir/munge/start.out" >&2; log_tail "$dir/munge/munged.log"; die "munged did not start"; }
    i=0
    until [ -S "$dir/munge/munge.socket" ]; do
        i=$((i + 1)); [ $i -le 50 ] || { log_tail "$dir/munge/munged.log"; die "munged did not create its socket"; }
        sleep 0.1
    done
    echo test | munge --socket="$dir/munge/munge.socket" | unmunge --socket="$dir/munge/munge.socket" >/dev/null 2>&1 \
        || { log_tail "$dir/munge/munged.log"; die "munge round trip (munge | unmunge) failed"; }
}

wait_node_idle() {
    i=0
    while :; do
        state=$(SLURM_CONF=$conf sinfo -h -n "$node" -o %t 2>/dev/null | head -n 1 || true)
        case $state in
            idle*|mix*|alloc*) return 0 ;;
        esac
        i=$((i + 1))
        if [ $i -gt 60 ]; then
            log_tail "$dir/slurmd.log"; log_tail "$dir/slurmctld.log"
            die "node $node did not become idle within 30 s (state: ${state:-unknown})"
        fi
        # A node that registered as down/drained (e.g. after a restart) is put back into service.
        case $state in down*|drain*) SLURM_CONF=$conf scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true ;; esac
        sleep 0.5
    done
}

case $action in
start)
    [ "$(id -u)" = 0 ] || die "must run as root (slurmd starts jobs as their submitting user)"
    need munged; need slurmctld; need slurmd; need sbatch
    mkdir -p "$dir/state" "$dir/spool"
    write_conf
    start_munge
    if ! pid_alive "$dir/slurmctld.pid"; then
        SLURM_CONF=$conf slurmctld -f "$conf" >"$dir/slurmctld.out" 2>&1 \
            || { cat "$dir/slurmctld.out" >&2; log_tail "$dir/slurmctld.log"; die "slurmctld did not start"; }
    fi
    i=0
    until SLURM_CONF=$conf scontrol ping 2>/dev/null | grep -q UP; do
        i=$((i + 1))
        if [ $i -gt 60 ]; then log_tail "$dir/slurmctld.log"; die "slurmctld does not answer scontrol ping"; fi
        sleep 0.5
    done
    if ! pid_alive "$dir/slurmd.pid"; then
        SLURM_CONF=$conf slurmd -f "$conf" -N "$node" >"$dir/slurmd.out" 2>&1 \
            || { cat "$dir/slurmd.out" >&2; log_tail "$dir/slurmd.log"; die "slurmd did not start"; }
    fi
    wait_node_idle
    echo "slurm-local: up (node $node, SLURM_CONF=$conf)"
    ;;
stop)
    for f in slurmd.pid slurmctld.pid munge/munged.pid; do
        if pid_alive "$dir/$f"; then
            pid=$(cat "$dir/$f")
            kill "$pid" 2>/dev/null || true
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        fi
    done
    echo "slurm-local: stopped"
    ;;
status)
    [ -f "$conf" ] || die "not configured: $conf is missing"
    pid_alive "$dir/munge/munged.pid" || die "munged is not running"
    pid_alive "$dir/slurmctld.pid" || die "slurmctld is not running"
    pid_alive "$dir/slurmd.pid" || die "slurmd is not running"
    SLURM_CONF=$conf sinfo -h -o '%P %t %D' 2>&1
    ;;
env)
    echo "SLURM_CONF=$conf; export SLURM_CONF"
    ;;
*)
    die "unknown action '$action': expected start, stop, status or env"
    ;;
esac
