#!/usr/bin/env bash
# Integration test of `mira slurm` on a real one-node Slurm cluster started on this machine.
#
# Installs Debian's slurm-wlm and munge when missing, starts munged, slurmctld -i and slurmd
# with a minimal configuration (the node's CPUs and memory, proctrack/linuxproc, task/none, no
# accounting), runs a tiny segmentation experiment unsharded, then the same experiment through
# `mira slurm --shards 4 --wait` (prepare job, array of 4 shards, merge job), checks that the
# merged records and summary equal the unsharded run's; then the same for the registration
# golden experiment with 3 shards (every task shards through the one runner); and stops the
# daemons it started (by PID). Usage: scripts/slurm_integration.sh PATH/TO/mira   (needs root,
# as CI has).
set -euo pipefail

MIRA="$(realpath "${1:?usage: $0 PATH/TO/mira}")"
WORK="$(mktemp -d /tmp/mira-slurm.XXXXXX)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    echo "-- installing slurm-wlm and munge"
    apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 \
        || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q slurm-wlm munge >/dev/null)
fi

echo "-- munged"
mkdir -p "$WORK/munge" && chmod 700 "$WORK/munge"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
MUNGE_SOCKET="$WORK/munge/munge.socket"
munged --force --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" \
    --seed-file="$WORK/munge/munge.seed"
for _ in $(seq 50); do [ -s "$WORK/munge/munged.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$WORK/munge/munged.pid")")

echo "-- slurm.conf"
HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM_MB="$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))"
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/jobs"
export SLURM_CONF="$WORK/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=mira-ci
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

echo "-- slurmctld, slurmd"
slurmctld -i -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$WORK/slurmctld.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$WORK/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$WORK/slurmd.pid" ] && break; sleep 0.1; done
PIDS+=("$(cat "$WORK/slurmd.pid")")
for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mixed'; then break; fi
    sleep 1
done
sinfo

echo "-- a tiny experiment, unsharded"
cat >"$WORK/exp.toml" <<'EOF'
name = "slurm-tiny"
seed = 3
[data]
source = "brain_mr_phantom"
train = 8
val = 4
test = 7
[data.phantom]
size = 16
[training]
epochs = 1
batch_size = 4
[[models]]
name = "unet"
base_width = 4
depth = 2
[[attacks]]
name = "fgsm"
kind = "fgsm"
[[attacks]]
name = "pgd"
kind = "pgd"
steps = 3
[sweep]
epsilons = [0.0, 0.02, 0.05]
batch_size = 2
[checks]
enabled = false
EOF
"$MIRA" run "$WORK/exp.toml" --out "$WORK/whole" >/dev/null

echo "-- the same through Slurm: prepare, 4 shards, merge"
# The same weights: training is not what this test is about.
mkdir -p "$WORK/sharded" && cp -r "$WORK/whole/models" "$WORK/sharded/models"
(cd "$WORK/jobs" && "$MIRA" slurm "$WORK/exp.toml" --out "$WORK/sharded" --shards 4 \
    --cpus-per-task 1 --wait)
ls "$WORK/sharded/shards"
cmp "$WORK/whole/records.jsonl" "$WORK/sharded/records.jsonl"
cmp "$WORK/whole/summary.csv" "$WORK/sharded/summary.csv"
[ "$(ls "$WORK/sharded/shards" | wc -l)" = 4 ]
echo "slurm integration: merged records of 4 shards equal the unsharded run's"

echo "-- a registration experiment through Slurm: prepare, 3 shards, merge"
REG="$(cd "$(dirname "$0")/.." && pwd)/crates/mira-cli/tests/golden/registration/experiment.toml"
"$MIRA" run "$REG" --out "$WORK/reg-whole" >/dev/null
mkdir -p "$WORK/reg-sharded" && cp -r "$WORK/reg-whole/models" "$WORK/reg-sharded/models"
(cd "$WORK/jobs" && "$MIRA" slurm "$REG" --out "$WORK/reg-sharded" --shards 3 \
    --cpus-per-task 1 --wait)
cmp "$WORK/reg-whole/records.jsonl" "$WORK/reg-sharded/records.jsonl"
cmp "$WORK/reg-whole/summary.md" "$WORK/reg-sharded/summary.md"
[ "$(ls "$WORK/reg-sharded/shards" | wc -l)" = 3 ]
echo "slurm integration: merged records of 3 registration shards equal the unsharded run's"
