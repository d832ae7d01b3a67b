#!/usr/bin/env bash
# Stop the dev cluster that cluster-up.sh started: each daemon by its own PID file, never by name.
set -u
stop_pidfile() {  # stop_pidfile <pidfile> <executable name>
  local f=$1 name=$2 pid exe
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  # only signal it when that PID really is the daemon (a PID file can be stale)
  if [[ "$(basename "$exe")" == "$name"* ]]; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "[cluster-down] $name ($pid) ignored SIGTERM: SIGKILL"; kill -9 "$pid"; fi
    echo "[cluster-down] stopped $name ($pid)"
  fi
  rm -f "$f"
}
# cancel the remaining jobs first, so that no slurmstepd outlives slurmd
if [ -s /run/slurmctld.pid ] && scontrol ping >/dev/null 2>&1; then
  ids=$(squeue -h -o %A 2>/dev/null || true)
  if [ -n "$ids" ]; then
    scancel $ids 2>/dev/null || true
    for _ in $(seq 150); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi
stop_pidfile /run/slurmd.pid        slurmd
stop_pidfile /run/slurmctld.pid     slurmctld
stop_pidfile /run/slurmdbd.pid      slurmdbd
stop_pidfile /run/mysqld/mysqld.pid mariadbd
stop_pidfile /run/munge/munged.pid  munged
exit 0
