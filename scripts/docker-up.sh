#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs docker.io when dockerd is
# missing, starts dockerd in the background when none runs, waits for it.
# Idempotent: does nothing when `docker info` already works.
set -euo pipefail

log() { echo "docker-up: $*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  # Without the caller's other descriptors: a daemon that kept a `flock` lock file open would hold the lock
  # for as long as it runs (seen: every test queued behind it for two hours).
  nohup dockerd >/var/log/dockerd.log 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "engine is up"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60s; see /var/log/dockerd.log"
tail -n 30 /var/log/dockerd.log >&2 || true
exit 1
