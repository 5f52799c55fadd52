#!/usr/bin/env bash
# Starts dockerd by hand when no Docker engine answers (machines without systemd, CI), then
# waits until `docker info` answers. Idempotent: an engine that already answers is left alone.
# Usage: scripts/start-dockerd.sh [TIMEOUT_S]   (default 60; log in /var/log/burstsim-dockerd.log)
set -euo pipefail

timeout_s="${1:-60}"
log="${DOCKERD_LOG:-/var/log/burstsim-dockerd.log}"

if docker info >/dev/null 2>&1; then
  echo "dockerd: already running"
  exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "dockerd: not installed (apt-get install -y docker.io)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "dockerd: must be started as root" >&2
  exit 1
fi

# A stale pid file from a dockerd that died (or is a zombie) keeps a new one from starting.
if [ -f /var/run/docker.pid ]; then
  old="$(cat /var/run/docker.pid)"
  state="$(ps -o stat= -p "$old" 2>/dev/null || true)"
  if [ -z "$state" ] || [ "${state#Z}" != "$state" ]; then
    rm -f /var/run/docker.pid
  else
    # A dockerd that runs but does not answer yet (starting): give it the timeout.
    pid="$old"
  fi
fi

# No network is needed (containers run with network "none"); without the bridge and iptables
# dockerd also starts where netfilter is unavailable (nested containers, minimal VMs).
# Descriptors this script inherited must not live on in the daemon: a caller run under
# `flock /tmp/burstsim-live.lock cargo test ...` would otherwise leave the lock held by dockerd
# for as long as it runs, and every later live run would wait for it forever.
close_inherited=""
for fd in /proc/$$/fd/*; do
  fd="${fd##*/}"
  if [ "$fd" -gt 2 ] 2>/dev/null; then close_inherited="$close_inherited $fd>&-"; fi
done
if [ -z "${pid:-}" ]; then
  eval "nohup dockerd --bridge=none --iptables=false --ip-masq=false >>\"\$log\" 2>&1 $close_inherited &"
  pid=$!
fi

for _ in $(seq 1 $((timeout_s * 4))); do
  if docker info >/dev/null 2>&1; then
    echo "dockerd: started (pid $pid, log $log)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "dockerd: exited at start; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.25
done
echo "dockerd: no answer from \`docker info\` within ${timeout_s} s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
