#!/bin/bash
# A one-node Slurm cluster on localhost, for tests.
#
# Meant for Debian 12 (slurm-wlm 22.05 and munge from the Debian archive), run as root, with or
# without systemd: the daemons are started directly, never through a service manager.
#
# Use it from another bash script:
#     . tests/cli/slurm_cluster.sh
#     STATE=$(mktemp -d)
#     slurm_cluster_start "$STATE" || exit 77     # exports SLURM_CONF=$STATE/slurm.conf
#     sbatch --parsable -o "$STATE/out-%A_%a" --array=0-3 job.sh
#     ...
#     slurm_cluster_stop "$STATE"
#
# or by hand:
#     tests/cli/slurm_cluster.sh start DIR      # leaves the cluster running; export SLURM_CONF=DIR/slurm.conf
#     tests/cli/slurm_cluster.sh stop DIR
#     tests/cli/slurm_cluster.sh selftest DIR   # start, run job arrays (one task cancelled), stop
#
# slurm_cluster_start STATEDIR
#     Installs slurm-wlm and munge with apt-get when they are missing, starts a munged of its own
#     (own key, own socket; a munged of the system is neither needed nor touched), writes
#     STATEDIR/slurm.conf for a single node (this host, at most 2 CPUs, partition "debug", free
#     ports), starts slurmctld and slurmd and waits until the node is idle. Exports SLURM_CONF,
#     which every Slurm command needs. Everything the cluster writes (state, spool, logs, pid
#     files, munge key) is under STATEDIR, except munged's socket (in a folder under /tmp).
#     Returns 0 once the node is idle; otherwise prints why (the end of the daemons' logs), stops
#     what it started and returns non-zero. A cluster left running in STATEDIR is stopped first,
#     and no job state is carried over from an earlier start.
# slurm_cluster_stop STATEDIR
#     Cancels the cluster's jobs, stops the daemons that slurm_cluster_start started with this
#     STATEDIR (found through their pid files there), kills job processes left by a slurmd that
#     died, and waits for all of them to exit.
#
# Environment (optional): SLURM_CLUSTER_CTLD_PORT, SLURM_CLUSTER_SLURMD_PORT (default: a free pair),
# SLURM_CLUSTER_START_TIMEOUT (seconds to wait for the node to be idle, default 30).
#
# There is no accounting database: sacct does not work. Finished jobs stay visible to
# `scontrol show job` for MinJobAge (300 s), and each finished job gets a line with its state and
# exit code in STATEDIR/jobcomp.log. Jobs run as the user who submits them, in the directory
# sbatch ran in, with sbatch's environment (PATH included); sbatch writes slurm-%j.out (arrays:
# slurm-%A_%a.out) there unless -o says otherwise. A job starts about 1 s after it is submitted;
# slurmctld schedules nothing in its first 3 s or so.

_slurm_cluster_log() {
    echo "slurm_cluster: $*" >&2
}

# Is process $1 alive? A zombie is not (pid 1 in a container may be slow to reap).
_slurm_cluster_pid_alive() {
    local st
    kill -0 "$1" 2> /dev/null || return 1
    st=$(sed 's/.*) //' "/proc/$1/stat" 2> /dev/null | cut -d ' ' -f 1)
    [ -n "$st" ] && [ "$st" != Z ]
}

# Is the process in pid file $1 alive and running program $2?
_slurm_cluster_alive() {
    local pidfile=$1 name=$2 pid
    [ -s "$pidfile" ] || return 1
    pid=$(head -n 1 "$pidfile" 2> /dev/null | tr -dc 0-9)
    [ -n "$pid" ] || return 1
    _slurm_cluster_pid_alive "$pid" || return 1
    grep -q "$name" "/proc/$pid/comm" 2> /dev/null
}

# Waits up to $1 seconds for the processes $2... to exit, then kills those left with SIGKILL.
_slurm_cluster_reap() {
    local wait=$1 i pid left
    shift
    i=0
    while [ $i -lt $((wait * 10)) ]; do
        left=
        for pid in "$@"; do
            _slurm_cluster_pid_alive "$pid" && left="$left $pid"
        done
        [ -n "$left" ] || return 0
        sleep 0.1
        i=$((i + 1))
    done
    _slurm_cluster_log "killing what did not exit:$left"
    # shellcheck disable=SC2086
    kill -KILL $left 2> /dev/null || true
    sleep 0.2
}

# Stops the process in pid file $1 (program $2) if alive; waits up to $3 seconds, then SIGKILL.
_slurm_cluster_kill() {
    local pidfile=$1 name=$2 wait=${3:-20} pid
    if _slurm_cluster_alive "$pidfile" "$name"; then
        pid=$(head -n 1 "$pidfile" | tr -dc 0-9)
        kill -TERM "$pid" 2> /dev/null || true
        _slurm_cluster_reap "$wait" "$pid"
    fi
    rm -f "$pidfile"
}

# The processes slurmd started for STATEDIR $1 that outlive it: each slurmstepd that holds
# STATEDIR/slurmd.log open, and the job processes under them.
_slurm_cluster_leftovers() {
    local log="$1/slurmd.log" pids c pid ppid more fd e st
    pids=
    for c in /proc/[0-9]*/comm; do
        [ "$(cat "$c" 2> /dev/null)" = slurmstepd ] || continue
        pid=${c#/proc/}
        pid=${pid%/comm}
        for fd in "/proc/$pid/fd/"*; do
            if [ "$(readlink "$fd" 2> /dev/null)" = "$log" ]; then
                pids="$pids $pid "
                break
            fi
        done
    done
    [ -n "$pids" ] || return 0
    more=1
    while [ -n "$more" ]; do
        more=
        for e in /proc/[0-9]*/stat; do
            pid=${e#/proc/}
            pid=${pid%/stat}
            read -r st 2> /dev/null < "$e" || continue
            st=${st##*) }
            ppid=${st#* }
            ppid=${ppid%% *}
            case $pids in
                *" $ppid "*) case $pids in *" $pid "*) ;; *) pids="$pids $pid " more=1 ;; esac ;;
            esac
        done
    done
    echo "$pids"
}

_slurm_cluster_install() {
    local missing=0 cmd
    for cmd in slurmctld slurmd slurmstepd sbatch squeue sinfo scontrol scancel munged munge unmunge; do
        command -v "$cmd" > /dev/null 2>&1 || missing=1
    done
    [ $missing = 0 ] && return 0
    if ! command -v apt-get > /dev/null 2>&1; then
        _slurm_cluster_log "slurm or munge is missing and there is no apt-get to install them"
        return 1
    fi
    _slurm_cluster_log "installing slurm-wlm and munge"
    # The packages' maintainer scripts may try to start services; policy-rc.d or the absence of
    # systemd stops that, and the daemons are started below anyway.
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge \
        > /dev/null 2>&1; then
        apt-get update > /dev/null 2>&1
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge \
            >&2; then
            _slurm_cluster_log "apt-get could not install slurm-wlm and munge"
            return 1
        fi
    fi
}

# Starts a munged of this cluster's own (so that clusters started side by side, or a munged of
# the system, are left alone), with a new key; its socket is in a folder of its own under /tmp,
# as munged wants every folder above the socket to be open to all. Records the socket folder in
# STATEDIR/munge.dir and the pid in STATEDIR/munged.pid.
_slurm_cluster_munge() {
    local state=$1 dir i
    dir=$(mktemp -d /tmp/munge.XXXXXX) || return 1
    chmod 755 "$dir"
    echo "$dir" > "$state/munge.dir"
    rm -f "$state/munge.key"
    (umask 077 && dd if=/dev/urandom of="$state/munge.key" bs=1024 count=1 2> /dev/null) || return 1
    chmod 400 "$state/munge.key"
    : > "$state/munged.log"
    munged --key-file="$state/munge.key" --socket="$dir/munge.socket" --pid-file="$state/munged.pid" \
        --log-file="$state/munged.log" --seed-file="$state/munged.seed" 2>> "$state/munged.log"
    i=0
    while [ $i -lt 100 ]; do
        if munge -S "$dir/munge.socket" -n 2> /dev/null | unmunge -S "$dir/munge.socket" > /dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    _slurm_cluster_log "munged did not start:"
    tail -n 20 "$state/munged.log" >&2
    return 1
}

# Prints a free TCP port on localhost followed by the next one (also free), or nothing.
_slurm_cluster_ports() {
    local i p
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        p=$((20000 + (RANDOM % 20000) * 2))
        if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null &&
            ! (exec 3<> "/dev/tcp/127.0.0.1/$((p + 1))") 2> /dev/null; then
            echo "$p $((p + 1))"
            return 0
        fi
    done
}

_slurm_cluster_write_conf() {
    local state=$1 host=$2 ctldport=$3 slurmdport=$4 cpus mem
    cpus=$(nproc 2> /dev/null || echo 1)
    if [ "$cpus" -gt 2 ]; then
        cpus=2
    fi
    # RealMemory must not exceed what slurmd finds, or the node is drained.
    mem=$(awk '/^MemTotal:/ { m = int($2 / 1024 / 2); print (m > 1024 ? 1024 : (m < 1 ? 1 : m)) }' \
        /proc/meminfo)
    cat > "$state/slurm.conf" << EOF
# One node on localhost, for tests.
ClusterName=testcluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctldport
SlurmdPort=$slurmdport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$(cat "$state/munge.dir")/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Schedule at once on submit and job end (the default waits up to 3 s).
SchedulerParameters=batch_sched_delay=0
SwitchType=switch/none
# Trust the CPU counts below rather than the hardware.
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
KillWait=5
MinJobAge=300
PlugStackConfig=$state/plugstack.conf
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    : > "$state/plugstack.conf"
}

slurm_cluster_stop() {
    local state=${1:?usage: slurm_cluster_stop STATEDIR} jobs left t
    state=$(cd "$state" 2> /dev/null && pwd -P) || return 0
    # Jobs outlive slurmd: cancel them while slurmctld can still do it.
    if _slurm_cluster_alive "$state/slurmctld.pid" slurmctld &&
        _slurm_cluster_alive "$state/slurmd.pid" slurmd; then
        jobs=$(SLURM_CONF=$state/slurm.conf squeue -h -o %A 2> /dev/null) || true
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            SLURM_CONF=$state/slurm.conf scancel $jobs 2> /dev/null || true
            t=$(date +%s)
            while [ -n "$(SLURM_CONF=$state/slurm.conf squeue -h -o %A 2> /dev/null)" ] &&
                [ $(($(date +%s) - t)) -lt 15 ]; do
                sleep 0.2
            done
        fi
    fi
    _slurm_cluster_kill "$state/slurmd.pid" slurmd 30
    _slurm_cluster_kill "$state/slurmctld.pid" slurmctld 30
    # Whatever is left of jobs (slurmd killed earlier, or jobs that ignored the cancel).
    left=$(_slurm_cluster_leftovers "$state")
    if [ -n "$left" ]; then
        # slurmstepd ignores SIGTERM.
        # shellcheck disable=SC2086
        kill -KILL $left 2> /dev/null || true
        # shellcheck disable=SC2086
        _slurm_cluster_reap 5 $left
    fi
    _slurm_cluster_kill "$state/munged.pid" munged 10
    if [ -s "$state/munge.dir" ]; then
        rm -rf "$(cat "$state/munge.dir")"
        rm -f "$state/munge.dir"
    fi
    return 0
}

slurm_cluster_start() {
    local state=${1:?usage: slurm_cluster_start STATEDIR}
    local host i t ports timeout=${SLURM_CLUSTER_START_TIMEOUT:-30}
    mkdir -p "$state" || return 1
    state=$(cd "$state" && pwd -P)
    case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH=$PATH:/usr/sbin ;; esac
    case ":$PATH:" in *:/sbin:*) ;; *) export PATH=$PATH:/sbin ;; esac
    if [ "$(id -u)" != 0 ]; then
        _slurm_cluster_log "must run as root"
        return 1
    fi
    _slurm_cluster_install || return 1
    # Left over from an earlier start with this folder: stop it first.
    if _slurm_cluster_alive "$state/slurmctld.pid" slurmctld ||
        _slurm_cluster_alive "$state/slurmd.pid" slurmd; then
        _slurm_cluster_log "stopping a cluster left running in $state"
    fi
    slurm_cluster_stop "$state"
    _slurm_cluster_munge "$state" || {
        slurm_cluster_stop "$state"
        return 1
    }
    host=$(hostname -s 2> /dev/null) || true
    [ -n "$host" ] || host=localhost
    rm -rf "$state/ctld" "$state/spool"
    mkdir -p "$state/ctld" "$state/spool"
    rm -f "$state/slurmctld.log" "$state/slurmd.log"
    # Ports of their own, so that clusters started side by side do not meet.
    ports=$(_slurm_cluster_ports) || true
    # shellcheck disable=SC2086
    set -- ${ports:-6817 6818}
    _slurm_cluster_write_conf "$state" "$host" "${SLURM_CLUSTER_CTLD_PORT:-$1}" "${SLURM_CLUSTER_SLURMD_PORT:-$2}"
    export SLURM_CONF=$state/slurm.conf

    # -c: no job or node state from an earlier run.
    if ! slurmctld -c -f "$SLURM_CONF" 2>> "$state/slurmctld.log" ||
        ! slurmd -c -N "$host" -f "$SLURM_CONF" 2>> "$state/slurmd.log"; then
        _slurm_cluster_log "a daemon failed to start"
    fi
    t=$(date +%s)
    while :; do
        # A daemon that is gone will not come back; one with no pid file after 3 s failed early.
        for i in slurmctld slurmd; do
            if [ -s "$state/$i.pid" ] || [ $(($(date +%s) - t)) -ge 3 ]; then
                _slurm_cluster_alive "$state/$i.pid" "$i" || break 2
            fi
        done
        if [ "$(sinfo -h -N -n "$host" -o '%T' 2> /dev/null)" = idle ] &&
            _slurm_cluster_alive "$state/slurmctld.pid" slurmctld &&
            _slurm_cluster_alive "$state/slurmd.pid" slurmd; then
            return 0
        fi
        if [ $(($(date +%s) - t)) -ge "$timeout" ]; then
            break
        fi
        sleep 0.2
    done
    _slurm_cluster_log "the cluster did not come up (waited $(($(date +%s) - t))s of ${timeout}s)"
    if _slurm_cluster_alive "$state/slurmctld.pid" slurmctld; then
        sinfo -N -l >&2 2>&1 || true
    fi
    for i in slurmctld slurmd; do
        if _slurm_cluster_alive "$state/$i.pid" "$i"; then
            _slurm_cluster_log "$i is running; end of $state/$i.log:"
        else
            _slurm_cluster_log "$i is not running; end of $state/$i.log:"
        fi
        tail -n 15 "$state/$i.log" >&2 2> /dev/null || true
    done
    slurm_cluster_stop "$state"
    return 1
}

# Waits up to $2 seconds until squeue no longer lists job $1.
_slurm_cluster_wait_job() {
    local job=$1 timeout=$2 t
    t=$(date +%s)
    while [ -n "$(squeue -h -j "$job" 2> /dev/null)" ]; do
        if [ $(($(date +%s) - t)) -ge "$timeout" ]; then
            _slurm_cluster_log "job $job still queued after ${timeout}s:"
            squeue -j "$job" >&2
            return 1
        fi
        sleep 0.5
    done
}

_slurm_cluster_selftest() {
    local state=$1 out job job2 n t0 ok=0
    slurm_cluster_start "$state" || return 1
    out=$state/selftest
    rm -rf "$out"
    mkdir -p "$out"
    (
        set -e
        t0=$(date +%s)
        job=$(sbatch --parsable -o "$out/slurm-%A_%a.out" --array=0-3%2 \
            --wrap "echo task \$SLURM_ARRAY_TASK_ID > $out/out-\$SLURM_ARRAY_TASK_ID")
        _slurm_cluster_log "array job $job submitted"
        _slurm_cluster_wait_job "$job" 60
        for n in 0 1 2 3; do
            grep -qx "task $n" "$out/out-$n" || {
                _slurm_cluster_log "no output from task $n"
                exit 1
            }
        done
        _slurm_cluster_log "array job $job done in $(($(date +%s) - t0))s"

        # Cancel one running task; the others must still finish.
        cat > "$out/job.sh" << EOF
#!/bin/bash
if [ "\$SLURM_ARRAY_TASK_ID" = 1 ]; then sleep 60; fi
echo "task \$SLURM_ARRAY_TASK_ID user \$(id -un)" > "$out/b-\$SLURM_ARRAY_TASK_ID"
EOF
        job2=$(sbatch --parsable -o "$out/b-%A_%a.log" --array=0-3%2 "$out/job.sh")
        t0=$(date +%s)
        while [ "$(squeue -h -j "${job2}_1" -o %T 2> /dev/null)" != RUNNING ]; do
            [ $(($(date +%s) - t0)) -lt 30 ] || {
                _slurm_cluster_log "task ${job2}_1 did not start"
                exit 1
            }
            sleep 0.2
        done
        scancel "${job2}_1"
        _slurm_cluster_wait_job "$job2" 60
        [ ! -e "$out/b-1" ] || {
            _slurm_cluster_log "cancelled task 1 finished anyway"
            exit 1
        }
        for n in 0 2 3; do
            [ -s "$out/b-$n" ] || {
                _slurm_cluster_log "no output from task $n after task 1 was cancelled"
                exit 1
            }
        done
        grep -q CANCELLED <(scontrol show job "${job2}_1") || {
            _slurm_cluster_log "task ${job2}_1 is not CANCELLED"
            exit 1
        }
        _slurm_cluster_log "array job $job2 with task 1 cancelled done in $(($(date +%s) - t0))s"
    ) || ok=1
    slurm_cluster_stop "$state"
    if [ $ok = 0 ]; then
        echo "selftest passed"
    else
        echo "selftest FAILED"
        tail -n 20 "$state/slurmctld.log" "$state/slurmd.log" >&2
    fi
    return $ok
}

# Run directly rather than sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    if [ $# -ne 2 ]; then
        echo "usage: $0 start|stop|selftest STATEDIR" >&2
        exit 2
    fi
    case $1 in
        start) slurm_cluster_start "$2" && echo "export SLURM_CONF=$SLURM_CONF" ;;
        stop) slurm_cluster_stop "$2" ;;
        selftest) _slurm_cluster_selftest "$2" ;;
        *)
            echo "usage: $0 start|stop|selftest STATEDIR" >&2
            exit 2
            ;;
    esac
fi
