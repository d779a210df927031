#!/usr/bin/env bash
# Builds the base image the molecule scenarios run on, when it is missing or was
# built from another package list.
#
# The image is a minimal Debian bookworm made with debootstrap and loaded with
# `docker import` (no registry needed), cached by name and by what it was made
# of (the label pgdist.molecule.recipe): a second run does nothing. It carries
# python3 + psycopg2 for Ansible, no systemd, and the PostgreSQL, Patroni and
# etcd packages *downloaded but not installed* (apt's archive cache), so the
# roles still install them themselves in every container but without fetching
# them again from the mirror.
#
#   PGDIST_MOLECULE_IMAGE   image name (default pgdist-molecule-debian:bookworm).
#                           Any other name is used as is: it must exist or be
#                           pullable and provide python3 (e.g. a registry image).
#   PGDIST_DEBIAN_MIRROR    Debian mirror (default: the one this host's apt uses)
#   PGDIST_MOLECULE_PREFETCH packages to pre-download into the image's apt cache
#                           ("" to skip)
#   PGDIST_MOLECULE_REBUILD=1 rebuild even when the image exists
set -euo pipefail

DEFAULT_IMAGE=pgdist-molecule-debian:bookworm
IMAGE=${PGDIST_MOLECULE_IMAGE:-$DEFAULT_IMAGE}
SUITE=${PGDIST_DEBIAN_SUITE:-bookworm}
# Patroni and etcd for the ha scenario (the HA role installs them with their dependencies).
PREFETCH=${PGDIST_MOLECULE_PREFETCH-postgresql-15 postgresql-contrib-15 postgresql-client-15 python3-psycopg2 patroni python3-etcd etcd-server etcd-client}

log() { echo "molecule-image: $*" >&2; }

# What the image is made of, kept as a label on it: an image built from another list (an older checkout's,
# without Patroni and etcd) is rebuilt, as on a fresh machine.
INCLUDE=python3,python3-apt,python3-psycopg2,sudo,iproute2,procps,ca-certificates
RECIPE="$SUITE include=$INCLUDE prefetch=$PREFETCH"

if [ "${PGDIST_MOLECULE_REBUILD:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  built=$(docker image inspect --format '{{ index .Config.Labels "pgdist.molecule.recipe" }}' "$IMAGE" 2>/dev/null || true)
  if [ "$IMAGE" != "$DEFAULT_IMAGE" ] || [ "$built" = "$RECIPE" ]; then
    log "$IMAGE is present"
    exit 0
  fi
  log "$IMAGE was built from another package list ('${built:-none}'): rebuilding"
fi

if [ "$IMAGE" != "$DEFAULT_IMAGE" ] && [ -z "${PGDIST_MOLECULE_BUILD:-}" ]; then
  log "pulling $IMAGE"
  docker pull "$IMAGE"
  exit 0
fi

# The Debian mirror this host's apt uses (deb822 .sources first, then one-line lists).
debian_mirror() {
  local m=""
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | awk '{for (i = 2; i <= NF; i++) print $i}' | grep -E '/debian/?$' | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  fi
  echo "${m%/}"
}
MIRROR=${PGDIST_DEBIAN_MIRROR:-$(debian_mirror)}
if [ -z "$MIRROR" ]; then
  log "no Debian mirror found in /etc/apt; set PGDIST_DEBIAN_MIRROR"
  exit 1
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

ROOT=$(mktemp -d /var/tmp/pgdist-rootfs.XXXXXX)
chmod 0755 "$ROOT"   # it becomes the image's /: mktemp makes it 0700
cleanup() {
  for m in proc sys dev/pts dev; do umount "$ROOT/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT

log "debootstrap $SUITE from $MIRROR into $ROOT"
debootstrap --variant=minbase \
  --include="$INCLUDE" \
  "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || { tail -n 40 "$ROOT.log" >&2; rm -f "$ROOT.log"; exit 1; }
rm -f "$ROOT.log"

# The same sources the host uses, for apt inside the containers.
cat >"$ROOT/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
SRC
security=$(grep -hsE '^URIs:.*debian-security' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1 || true)
[ -n "$security" ] && echo "deb ${security%/} $SUITE-security main" >>"$ROOT/etc/apt/sources.list"

if [ -n "$PREFETCH" ]; then
  log "pre-downloading into the image's apt cache: $PREFETCH"
  mount -t proc proc "$ROOT/proc"
  # shellcheck disable=SC2086
  chroot "$ROOT" /bin/sh -c "apt-get update -qq && apt-get install -y -qq --download-only --no-install-recommends $PREFETCH >/dev/null"
  umount "$ROOT/proc"
fi
rm -f "$ROOT/etc/hostname" "$ROOT/etc/resolv.conf"

log "importing as $IMAGE"
tar -C "$ROOT" --numeric-owner -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL pgdist.molecule.recipe=\"$RECIPE\"" \
  --change 'CMD ["/bin/sh", "-c", "trap exit TERM; while :; do sleep 3600 & wait; done"]' \
  - "$IMAGE" >/dev/null
log "built $IMAGE"
