#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this Debian machine (root, no systemd needed):
#   munged -> mariadbd -> slurmdbd -> slurmctld -> slurmd, as plain background daemons,
#   partitions `gpu` (default) and `cpu`, fake GPUs advertised as gres/gpu, accounting (sacct) on.
# Idempotent: stops what an earlier run left (by PID file) and starts from a fresh state.
#
# Knobs (environment):
#   ORCH_SLURM_CPUS            CPUs advertised for the node (may exceed the real cores; default 8)
#   ORCH_SLURM_GPUS            fake GPUs advertised as gres/gpu (default 4)
#   ORCH_SLURM_MAX_ARRAY_SIZE  MaxArraySize (default 1001)
#   ORCH_SLURM_MEM_MB          RealMemory of the node (default 80% of RAM)
set -euo pipefail
CPUS=${ORCH_SLURM_CPUS:-8}
GPUS=${ORCH_SLURM_GPUS:-4}
MAX_ARRAY=${ORCH_SLURM_MAX_ARRAY_SIZE:-1001}
MEM_MB=${ORCH_SLURM_MEM_MB:-$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 8 / 10 ))}
HOST=$(hostname -s)
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER=orchdev
t0=$(date +%s.%N)
say() { awk -v a="$t0" -v b="$(date +%s.%N)" -v w="$1" 'BEGIN{printf "[cluster-up] %-34s %6.2fs\n", w, b-a}'; }
wait_for() {  # wait_for <seconds> <what> <command...>
  local n=$(( $1 * 10 )) what=$2; shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "[cluster-up] timed out waiting for: $what; last log lines:" >&2
  tail -n 8 /var/log/slurm/*.log >&2 || true
  return 1
}

if [ "$(id -u)" != 0 ]; then echo "[cluster-up] needs root (it installs packages and starts daemons)" >&2; exit 1; fi

# 0. whatever an earlier run left behind
"$HERE/cluster-down.sh" >/dev/null 2>&1 || true
say "stopped leftovers"

# 1. packages: Debian's SLURM 22.05, munge, MariaDB for slurmdbd
PKGS="munge slurmctld slurmd slurm-client slurmdbd mariadb-server"
if ! dpkg -s $PKGS >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
fi
say "packages"

# 2. configuration
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/lib/slurm/fakegpu /var/log/slurm
chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm
rm -rf /var/lib/slurm/slurmctld/* /var/lib/slurm/slurmd/*    # fresh state (also clears old drain reasons)
rm -f /var/log/slurm/*.log
# gres/gpu needs one character device per GPU (File= is mandatory in 22.05; regular files are
# rejected): /dev/null's numbers (1:3) stand in for the GPUs.
rm -f /var/lib/slurm/fakegpu/nvidia*
for i in $(seq 0 $((GPUS - 1))); do mknod -m 666 /var/lib/slurm/fakegpu/nvidia$i c 1 3; done

cat > /etc/slurm/slurm.conf <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
# a requeued job may restart after cred_expire seconds (default 120; minimum 5)
AuthInfo=cred_expire=10
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
KillWait=5
# a node that stops answering is DOWN after SlurmdTimeout; its jobs end as NODE_FAIL
SlurmdTimeout=20
MaxArraySize=$MAX_ARRAY
MaxJobCount=100000
MinJobAge=300
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
# accounts, QOS and submit limits are enforced as on a real site (root is in account "orch")
AccountingStorageEnforce=associations,limits,qos
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=OverMemoryKill
JobAcctGatherFrequency=task=1
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM_MB Gres=gpu:$GPUS State=UNKNOWN
PartitionName=gpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=2048
PartitionName=cpu Nodes=$HOST Default=NO  MaxTime=INFINITE State=UP DefMemPerCPU=2048
EOF
cat > /etc/slurm/gres.conf <<EOF
NodeName=$HOST Name=gpu File=/var/lib/slurm/fakegpu/nvidia[0-$((GPUS - 1))]
EOF
cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm /etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf
say "configuration"

# 3. munge (Debian's postinst made /etc/munge/munge.key)
install -d -o munge -g munge -m 0755 /run/munge
runuser -u munge -- /usr/sbin/munged
wait_for 10 munged bash -c 'munge -n | unmunge'
say "munged"

# 4. MariaDB (socket only) and slurmdbd; slurmdbd logs in through unix_socket, no password
install -d -o mysql -g root -m 0755 /run/mysqld
[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
setsid /usr/sbin/mariadbd --user=mysql --skip-networking --pid-file=/run/mysqld/mysqld.pid \
  --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 --performance-schema=OFF \
  >/var/log/slurm/mariadb.log 2>&1 </dev/null &
wait_for 30 mariadb mariadb -e 'select 1'
# fresh accounting too: job ids restart at 1 with the wiped controller state, and old records
# of the same ids would otherwise answer sacct
mariadb -e "DROP DATABASE IF EXISTS slurm_acct_db;
            CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
say "mariadb"
/usr/sbin/slurmdbd
wait_for 60 slurmdbd grep -q 'slurmdbd version .* started' /var/log/slurm/slurmdbd.log
say "slurmdbd"

# 5. controller and node daemon
/usr/sbin/slurmctld
wait_for 30 slurmctld scontrol ping
/usr/sbin/slurmd
wait_for 60 "node $HOST idle" bash -c "sinfo -h -n $HOST -o %T | grep -qx idle"
wait_for 30 "cluster registered in slurmdbd" bash -c "sacctmgr -n -P show cluster format=cluster | grep -qx $CLUSTER"
sacctmgr -i add account orch Cluster=$CLUSTER Description=orch-dev >/dev/null
sacctmgr -i add user root Account=orch DefaultAccount=orch >/dev/null
wait_for 30 "root's association" bash -c "sbatch --test-only -p gpu --wrap true"
say "ready"
sinfo
echo "[cluster-up] MaxArraySize=$MAX_ARRAY CPUs=$CPUS fake GPUs=$GPUS; stop with slurm/cluster-down.sh"
