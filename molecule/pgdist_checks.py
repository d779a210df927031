"""Checks every scenario runs: what the server and shard roles promise about listening
addresses and client authentication, tested with real connections between the containers.

Scenario test modules take these functions into their namespace, so pytest collects them
there (this module itself is not a test file):

    import pgdist_checks
    globals().update(pgdist_checks.checks())
"""

from __future__ import annotations

__all__ = [
    "test_listen_addresses",
    "test_no_trust_over_tcp_and_hba_parses",
    "test_shard_hba_admits_fdw_user_from_coordinator_only",
    "test_coordinator_hba_has_no_fdw_rule",
    "test_fdw_user_connects_from_coordinator",
    "test_fdw_user_rejected_from_other_shard",
    "test_wrong_password_rejected_from_coordinator",
]


# -- configuration the roles promise ---------------------------------------------------------


def test_listen_addresses(coordinator, shards):
    for node in [coordinator, *shards]:
        assert node.value("SHOW listen_addresses") == f"localhost,{node.address}"
        assert node.host.socket(f"tcp://{node.address}:{node.port}").is_listening
        assert node.host.socket(f"tcp://127.0.0.1:{node.port}").is_listening
        assert not node.host.socket(f"tcp://0.0.0.0:{node.port}").is_listening


def test_no_trust_over_tcp_and_hba_parses(coordinator, shards):
    for node in [coordinator, *shards]:
        rows = node.query("SELECT type, auth_method, coalesce(error, '') FROM pg_hba_file_rules")
        assert rows, f"{node.name}: empty pg_hba"
        assert all(row[2] == "" for row in rows), f"{node.name}: pg_hba errors {rows}"
        assert not [r for r in rows if r[0].startswith("host") and r[1] == "trust"], node.name


def test_shard_hba_admits_fdw_user_from_coordinator_only(coordinator, shards, pgvars):
    for shard in shards:
        rows = shard.query(
            "SELECT array_to_string(database, ','), array_to_string(user_name, ','), address, "
            "netmask, auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%'"
        )
        fdw_rules = [r for r in rows if pgvars["fdw_user"] in r[1].split(",") or r[1] == "all"]
        assert fdw_rules == [
            [pgvars["database"], pgvars["fdw_user"], coordinator.address, "255.255.255.255", "scram-sha-256"]
        ], f"{shard.name}: {rows}"


def test_coordinator_hba_has_no_fdw_rule(coordinator, pgvars):
    users = coordinator.value(
        "SELECT string_agg(array_to_string(user_name, ','), ';') FROM pg_hba_file_rules "
        "WHERE type LIKE 'host%'"
    )
    assert pgvars["fdw_user"] not in users


def test_fdw_user_connects_from_coordinator(coordinator, shards, pgvars):
    for shard in shards:
        r = coordinator.connect_as(shard, pgvars["fdw_user"], pgvars["fdw_password"], pgvars["database"])
        assert r.rc == 0, f"coordinator -> {shard.name}: {r.stderr}"
        assert r.stdout.strip() == f"{shard.address}|{coordinator.address}"


def test_fdw_user_rejected_from_other_shard(shards, pgvars):
    for source in shards:
        for target in shards:
            if source is target:
                continue
            r = source.connect_as(target, pgvars["fdw_user"], pgvars["fdw_password"], pgvars["database"])
            assert r.rc != 0, f"{source.name} -> {target.name} must be rejected"
            assert "no pg_hba.conf entry" in r.stderr and source.address in r.stderr, r.stderr


def test_wrong_password_rejected_from_coordinator(coordinator, shards, pgvars):
    r = coordinator.connect_as(shards[0], pgvars["fdw_user"], "not-the-password", pgvars["database"])
    assert r.rc != 0 and "password authentication failed" in r.stderr, r.stderr


def checks() -> dict:
    """The shared test functions by name, for a scenario module's globals()."""
    return {name: globals()[name] for name in __all__}
