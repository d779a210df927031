"""Shared testinfra fixtures for the molecule scenarios.

The scenario's inventory (MOLECULE_INVENTORY_FILE) says which container plays
which part and which variables it got; commands run in the containers through
testinfra's docker backend (docker exec), which is much faster than one
ansible run per command.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess

import pytest
import testinfra


class Node:
    """One container of the scenario: its testinfra host and inventory vars."""

    def __init__(self, name: str, hostvars: dict):
        self.name = name
        self.vars = hostvars
        self.host = testinfra.get_host(f"docker://{name}")

    @property
    def address(self) -> str:
        return self.vars["pgdist_address"]

    @property
    def port(self) -> int:
        return int(self.vars.get("pgdist_port", 5432))

    def run(self, command: str, check: bool = True):
        result = self.host.run(command)
        if check and result.rc != 0:
            raise AssertionError(
                f"{self.name}: `{command}` exited {result.rc}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def psql(self, sql: str, db: str = "postgres", check: bool = True):
        """Run SQL as the postgres superuser over the local socket; stdout rows, unaligned."""
        cmd = (
            "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 "
            f"-p {self.port} -d {shlex.quote(db)} -c {shlex.quote(sql)}"
        )
        return self.run(cmd, check=check)

    def psql_each(self, statements: list[str], db: str = "postgres"):
        """Run each statement in its own transaction (from psql's standard input: one -c string is one
        transaction, where ROLLBACK PREPARED cannot run)."""
        script = "".join(f"{s};\n" for s in statements)
        cmd = (
            f"printf %s {shlex.quote(script)} | runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 "
            f"-p {self.port} -d {shlex.quote(db)}"
        )
        return self.run(cmd)

    def query(self, sql: str, db: str = "postgres") -> list[list[str]]:
        out = self.psql(sql, db).stdout.strip()
        return [line.split("|") for line in out.splitlines()] if out else []

    def value(self, sql: str, db: str = "postgres") -> str:
        return self.psql(sql, db).stdout.strip()

    def connect_as(self, target: "Node", user: str, password: str, db: str):
        """psql from this container to target's address over TCP, with a password."""
        conninfo = (
            f"host={target.address} port={target.port} dbname={db} user={user} "
            f"password={password} connect_timeout=5 sslmode=require"
        )
        return self.host.run(
            f"psql -XAtq -d {shlex.quote(conninfo)} -c 'SELECT inet_server_addr(), inet_client_addr()'"
        )

    def __repr__(self) -> str:
        return f"Node({self.name})"


@pytest.fixture(scope="session")
def inventory() -> dict:
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        pytest.skip("not run by molecule (MOLECULE_INVENTORY_FILE is not set)")
    out = subprocess.run(
        ["ansible-inventory", "-i", path, "--list"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def _hostvars(inventory: dict, name: str) -> dict:
    return inventory.get("_meta", {}).get("hostvars", {}).get(name, {})


def _group(inventory: dict, group: str) -> list[str]:
    return sorted(inventory.get(group, {}).get("hosts", []))


@pytest.fixture(scope="session")
def nodes(inventory) -> dict[str, Node]:
    names = sorted(inventory.get("_meta", {}).get("hostvars", {}))
    return {name: Node(name, _hostvars(inventory, name)) for name in names}


@pytest.fixture(scope="session")
def coordinator(inventory, nodes) -> Node:
    (name,) = _group(inventory, "coordinator")
    return nodes[name]


@pytest.fixture(scope="session")
def shards(inventory, nodes) -> list[Node]:
    """The shards group, or the group PGDIST_SHARDS_GROUP names (scale verifies its grown deployment)."""
    return [nodes[name] for name in _group(inventory, os.environ.get("PGDIST_SHARDS_GROUP", "shards"))]


@pytest.fixture(scope="session")
def pgvars(coordinator) -> dict:
    """Topology variables shared by every host (group_vars/all)."""
    v = coordinator.vars
    return {
        "database": v.get("pgdist_database", "pgdist"),
        "fdw_user": v.get("pgdist_fdw_user", "pgdist_fdw"),
        "fdw_password": v["pgdist_fdw_password"],
        "tables": v.get("pgdist_tables", []),
    }


def foreign_placement(coordinator: Node, db: str) -> dict[str, str]:
    """Foreign tables on the coordinator -> the address of the host they read from."""
    rows = coordinator.query(
        "SELECT c.relname, opt.v FROM pg_foreign_table f "
        "JOIN pg_class c ON c.oid = f.ftrelid JOIN pg_foreign_server s ON s.oid = f.ftserver "
        "CROSS JOIN LATERAL (SELECT split_part(o, '=', 2) AS v FROM unnest(s.srvoptions) o "
        "WHERE o LIKE 'host=%') opt",
        db,
    )
    return dict(rows)


def plan_text(node: Node, sql: str, db: str) -> str:
    return node.value(f"EXPLAIN (COSTS OFF) {sql}", db)


def by_address(nodes, address: str) -> Node:
    """The node (among nodes) whose pgdist_address is address."""
    (node,) = [n for n in nodes if n.address == address]
    return node
