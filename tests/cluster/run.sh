#!/usr/bin/env bash
# End-to-end test on a real one-node SLURM cluster (make test-cluster; needs root).
#
# Installs slurm-wlm and munge with apt-get if they are missing, writes /etc/slurm/slurm.conf
# for this host, starts munged, slurmctld and slurmd on 127.0.0.1, runs a small power
# analysis (tests/cluster/power_small.yaml) through SLURM with the workflow profile
# workflow/profiles/slurm and the same analysis locally, and checks that every file under
# results/power/ is byte-identical. The cluster is always stopped again (trap). Timings go to
# benchmarks/cluster_test.tsv. Only one such cluster can run on a machine (fixed ports,
# /etc/slurm, /run/munge).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CONFIG="tests/cluster/power_small.yaml"

if [[ $(id -u) -ne 0 ]]; then
    echo "tests/cluster/run.sh needs root (it installs and starts SLURM)" >&2
    exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

WORK="$(mktemp -d /tmp/lcsurvey-cluster.XXXXXX)"
BACKUP=""
stop_cluster() {
    local status=$?
    for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
        if [[ -s $pidfile ]]; then
            kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
        for _ in $(seq 1 50); do
            [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null || break
            sleep 0.2
        done
        rm -f "$pidfile"
    done
    if [[ -n $BACKUP ]]; then
        mv "$BACKUP" /etc/slurm/slurm.conf
    else
        rm -f /etc/slurm/slurm.conf
    fi
    rm -rf "$WORK"
    echo "cluster stopped"
    exit $status
}
trap stop_cluster EXIT

# --- configure and start ------------------------------------------------------------------
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
if [[ -e /etc/slurm/slurm.conf ]]; then
    BACKUP="$WORK/slurm.conf.orig"
    cp /etc/slurm/slurm.conf "$BACKUP"
fi
HOST="$(hostname -s)"
MEMORY=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 ))
sed -e "s/@HOST@/$HOST/g" -e "s/@CPUS@/$(nproc)/" -e "s/@MEMORY@/$MEMORY/" \
    "$ROOT/tests/cluster/slurm.conf.in" > /etc/slurm/slurm.conf

mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
runuser -u munge -- /usr/sbin/munged
slurmctld
slurmd
for _ in $(seq 1 60); do
    [[ $(sinfo -h -o %T 2>/dev/null) == idle* ]] && break
    sleep 0.5
done
sinfo

# --- the same small power analysis through SLURM and locally -------------------------------
copy() {
    mkdir -p "$1"
    tar -C "$ROOT" --exclude=./.venv --exclude=./.snakemake --exclude=./results \
        --exclude=./reports --exclude=./logs --exclude=./benchmarks --exclude=./.git \
        --exclude=./.lock-venv -cf - . | tar -C "$1" -xf -
    ln -sfn "$ROOT/.venv" "$1/.venv"
}
copy "$WORK/slurm"
copy "$WORK/local"

start=$(date +%s.%N)
(cd "$WORK/slurm" && .venv/bin/snakemake --workflow-profile workflow/profiles/slurm \
    --slurm-no-account --slurm-init-seconds-before-status-checks 1 \
    --configfile "$CONFIG" --quiet rules -- power)
slurm_seconds=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
(cd "$WORK/local" && .venv/bin/snakemake --cores 2 --configfile "$CONFIG" --quiet rules \
    -- power)
local_seconds=$(echo "$(date +%s.%N) - $start" | bc)

jobs=$(find "$WORK/slurm/results/power" -name '*.csv' -path '*shards*' | wc -l)
diff -r "$WORK/slurm/results/power" "$WORK/local/results/power"
cmp "$WORK/slurm/results/power/power.csv" "$WORK/local/results/power/power.csv"
cat "$WORK/slurm/results/power/power.csv"
mkdir -p "$ROOT/benchmarks"
printf "run\tseconds\tshard_jobs\nslurm\t%.1f\t%d\nlocal\t%.1f\t%d\n" \
    "$slurm_seconds" "$jobs" "$local_seconds" "$jobs" > "$ROOT/benchmarks/cluster_test.tsv"
echo "results/power identical through SLURM ($slurm_seconds s) and locally ($local_seconds s)"
