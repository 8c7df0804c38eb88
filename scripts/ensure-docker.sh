#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`, installing and starting one if needed.
#
# Idempotent: exits 0 at once when an engine is already reachable. Otherwise (as root) installs
# docker.io (and debootstrap, which the offline sandbox build needs) with apt, starts dockerd in the
# background with --iptables=false (this host class has no usable iptables), logs to
# /var/log/dockerd.log, and waits up to 60 s for the engine. Fails loudly otherwise.
#
# Bridge networking is not needed by guru-mcp's default egress mode (containers run with
# network "none"); if dockerd refuses to start because it cannot set up the default bridge,
# the script retries once with --bridge=none.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }
die() { printf '[ensure-docker] ERROR: %s\n' "$*" >&2; exit 1; }

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
WAIT_SECONDS=${DOCKER_WAIT_SECONDS:-60}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "need root to run: $*"
    fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install -y $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# debootstrap is needed by the offline sandbox image build, whatever the engine's state.
if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
    apt_install debootstrap
fi

if docker info >/dev/null 2>&1; then
    log "Docker engine already reachable"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then
    apt_install docker.io
fi
command -v docker >/dev/null 2>&1 || apt_install docker.io
DOCKERD=$(command -v dockerd || echo /usr/sbin/dockerd)

wait_for_engine() {
    local pid=$1 deadline=$((SECONDS + WAIT_SECONDS))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if docker info >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.5
    done
    return 1
}

start_dockerd() {
    log "starting $DOCKERD $* (log: $DOCKERD_LOG)"
    as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid: the daemon must outlive this script and its process group.
    as_root setsid "$DOCKERD" "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    wait_for_engine "$!"
}

# A dockerd may be running but still starting (e.g. a previous invocation); give it a chance.
if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd already running; waiting for it to answer"
    deadline=$((SECONDS + WAIT_SECONDS))
    while [ "$SECONDS" -lt "$deadline" ]; do
        docker info >/dev/null 2>&1 && { log "Docker engine ready"; exit 0; }
        pgrep -x dockerd >/dev/null 2>&1 || break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 && exit 0
    die "dockerd is running but 'docker info' fails; see $DOCKERD_LOG"
fi

if start_dockerd --iptables=false; then
    log "Docker engine ready"
    exit 0
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd exited; retrying with --bridge=none"
    if start_dockerd --iptables=false --bridge=none; then
        log "Docker engine ready (no default bridge network)"
        exit 0
    fi
fi
tail -n 40 "$DOCKERD_LOG" >&2 || true
die "Docker engine did not answer 'docker info' within ${WAIT_SECONDS}s; see $DOCKERD_LOG"
