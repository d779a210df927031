#!/usr/bin/env bash
# Builds the base image the molecule scenarios run on for one Debian release, unless the image made of the
# same inputs exists, and prints its name on stdout (everything else goes to stderr).
#
# The image is a minimal Debian made with debootstrap from the mirror this host's apt uses and loaded with
# `docker import` (no registry needed). Its tag names the suite and a digest of what it is made of (this
# script, the suite, the mirrors, the package lists): pgdist-molecule-debian:<suite>-<digest>, also tagged
# pgdist-molecule-debian:<suite>. A second run finds it and does nothing; an edit of any input builds a new
# one and removes the old. It carries python3 + psycopg2 for Ansible, no systemd, and the packages the roles
# install *downloaded but not installed* (apt's archive cache): the PostgreSQL major the suite ships (what its
# `postgresql` package depends on; the image's label pgdist.postgresql.major says which), its server headers
# and the compiler for the coordinator extension, and on bookworm Patroni and etcd for the ha scenario. The
# roles still install them in every container, without fetching them again from the mirror.
#
#   scripts/molecule-image.sh [SUITE]   bullseye, bookworm (the default), trixie, ...
#   PGDIST_MOLECULE_IMAGE    use this image as is (pulled when missing; it must provide python3), build nothing
#   PGDIST_DEBIAN_MIRROR     Debian mirror (default: the one this host's apt uses)
#   PGDIST_MOLECULE_PREFETCH packages to pre-download into the image's apt cache ("" to skip); MAJOR in a
#                            name stands for the suite's PostgreSQL major
#   PGDIST_MOLECULE_REBUILD=1 rebuild even when the image exists
set -euo pipefail

SUITE=${1:-bookworm}
REPO=pgdist-molecule-debian

log() { echo "molecule-image: $*" >&2; }

if [ -n "${PGDIST_MOLECULE_IMAGE:-}" ]; then
  if ! docker image inspect "$PGDIST_MOLECULE_IMAGE" >/dev/null 2>&1; then
    log "pulling $PGDIST_MOLECULE_IMAGE"
    docker pull "$PGDIST_MOLECULE_IMAGE" >&2
  fi
  echo "$PGDIST_MOLECULE_IMAGE"
  exit 0
fi

# The Debian mirror this host's apt uses (deb822 .sources first, then one-line lists), and its security mirror.
host_mirror() {
  local path=$1 m=""
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | awk '{for (i = 2; i <= NF; i++) print $i}' | grep -E "/$path/?\$" | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -E "/$path/?\$" | head -n1 || true)
  fi
  echo "${m%/}"
}
MIRROR=${PGDIST_DEBIAN_MIRROR:-$(host_mirror debian)}
SECURITY=$(host_mirror debian-security)
if [ -z "$MIRROR" ]; then
  log "no Debian mirror found in /etc/apt; set PGDIST_DEBIAN_MIRROR"
  exit 1
fi

INCLUDE=python3,python3-apt,python3-psycopg2,sudo,iproute2,procps,ca-certificates
# The server role's packages and the extension's build tools (roles/server/vars/main.yml); Patroni and etcd for
# the ha scenario, which runs on bookworm only.
DEFAULT_PREFETCH="postgresql-MAJOR postgresql-client-MAJOR postgresql-server-dev-MAJOR make gcc libc6-dev python3-psycopg2"
[ "$SUITE" = bookworm ] && DEFAULT_PREFETCH="$DEFAULT_PREFETCH patroni python3-etcd etcd-server etcd-client"
PREFETCH=${PGDIST_MOLECULE_PREFETCH-$DEFAULT_PREFETCH}

DIGEST=$( { sha256sum <"$0"; printf '%s\n' "$SUITE" "$MIRROR" "$SECURITY" "$INCLUDE" "$PREFETCH"; } \
          | sha256sum | cut -c1-12)
IMAGE=$REPO:$SUITE-$DIGEST

if [ "${PGDIST_MOLECULE_REBUILD:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  docker tag "$IMAGE" "$REPO:$SUITE"
  log "$IMAGE is present"
  echo "$IMAGE"
  exit 0
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
  rm -rf --one-file-system "$ROOT" "$ROOT.log"
}
trap cleanup EXIT

start=$(date +%s)
log "debootstrap $SUITE from $MIRROR into $ROOT"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 \
  || { tail -n 40 "$ROOT.log" >&2; exit 1; }

# The same sources the host uses, for apt inside the containers.
write_sources() {
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ "$1" = without-security ] || [ -z "$SECURITY" ] || echo "deb $SECURITY $SUITE-security main"
  } >"$ROOT/etc/apt/sources.list"
}

# Sets MAJOR, the PostgreSQL major of this release (the one its `postgresql` package depends on), and
# pre-downloads PREFETCH. Returns non-zero when apt fails (set -e does not apply inside an `if`).
prefetch() {
  chroot "$ROOT" apt-get update -qq || return 1
  MAJOR=$(chroot "$ROOT" apt-cache depends postgresql | sed -nE 's/^ *Depends: postgresql-([0-9]+)$/\1/p' | head -n1)
  [ -n "$MAJOR" ] || { log "$SUITE: no postgresql-NN among the dependencies of its postgresql package"; return 1; }
  [ -n "$PREFETCH" ] || return 0
  packages=${PREFETCH//MAJOR/$MAJOR}
  log "pre-downloading into the image's apt cache: $packages"
  # shellcheck disable=SC2086
  chroot "$ROOT" apt-get install -y -qq --download-only --no-install-recommends $packages >/dev/null
}

mount -t proc proc "$ROOT/proc"
write_sources with-security
if ! prefetch; then
  # A mirror that caches what was fetched before may hold a suite's packages but not every update of its
  # security archive (this machine's lacks bullseye-security's postgresql-server-dev-13): the suite's own
  # packages, server and headers of one minor, serve the tests as well.
  [ -n "$SECURITY" ] || exit 1
  log "$SUITE: retrying without $SUITE-security (apt failed above); the image has $SUITE and $SUITE-updates only"
  chroot "$ROOT" apt-get clean
  write_sources without-security
  prefetch || exit 1
fi
umount "$ROOT/proc"
rm -f "$ROOT/etc/hostname" "$ROOT/etc/resolv.conf"

log "importing as $IMAGE (PostgreSQL $MAJOR)"
old=$(docker images --format '{{.Repository}}:{{.Tag}}' "$REPO" | grep -E "^$REPO:$SUITE-[0-9a-f]{12}\$" | grep -vx "$IMAGE" || true)
tar -C "$ROOT" --numeric-owner -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL pgdist.debian.suite=$SUITE pgdist.postgresql.major=$MAJOR" \
  --change 'CMD ["/bin/sh", "-c", "trap exit TERM; while :; do sleep 3600 & wait; done"]' \
  - "$IMAGE" >/dev/null
docker tag "$IMAGE" "$REPO:$SUITE"
# shellcheck disable=SC2086
[ -z "$old" ] || docker rmi $old >/dev/null 2>&1 || true
log "built $IMAGE in $(($(date +%s) - start))s"
echo "$IMAGE"
