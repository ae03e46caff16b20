"""The ``plantguard`` command, run as a user runs it: a subprocess with settings from the
environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from tests.conftest import Db
from tests.factories import make_tenant

PG = [sys.executable, "-m", "plantguard.cli.main"]


def run(args: list[str], env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PG, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
                          input=input)


def test_upgrade_seed_users_and_verify_on_a_fresh_var_dir(tmp_path: Path) -> None:
    env = {"PLANTGUARD_VAR_DIR": str(tmp_path / "var")}
    r = run(["db", "upgrade"], env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "var" / "plantguard.db").exists()
    r = run(["demo", "seed"], env)
    assert r.returncode == 0, r.stderr
    assert "demo plant created" in r.stdout and "safety" in r.stdout and "plantguard-demo" in r.stdout
    r = run(["demo", "seed"], env)
    assert "already present" in r.stdout
    r = run(["users", "create", "--username", "zhang.wei", "--role", "team_leader",
             "--display-name", "张伟"], env, input="long-enough-pw\nlong-enough-pw\n")
    assert r.returncode == 0, r.stderr
    assert "created user zhang.wei (team_leader) in DEMO" in r.stdout
    r = run(["users", "create", "--username", "zhang.wei", "--role", "worker", "--password", "long-enough-pw"], env)
    assert r.returncode == 2 and "username" in r.stderr
    r = run(["users", "create", "--username", "x", "--role", "boss", "--password", "long-enough-pw"], env)
    assert r.returncode == 2 and "unknown role" in r.stderr
    r = run(["audit", "verify"], env)
    assert r.returncode == 0, r.stderr
    assert "ledger intact" in r.stdout


def test_audit_verify_names_the_first_bad_entry(db: Db) -> None:
    make_tenant(db.factory, "E1")
    env = {"PLANTGUARD_DATABASE_URL": db.url}
    assert run(["audit", "verify"], env).returncode == 0
    with db.engine.begin() as conn:
        if db.backend == "postgres":
            conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_entry_no_update"))
        conn.execute(text("UPDATE audit_entry SET entity_id = entity_id + 1 WHERE seq = 3"))
        if db.backend == "postgres":
            conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
    r = run(["audit", "verify"], env)
    assert r.returncode == 1
    assert "seq=3" in r.stderr and "BROKEN" in r.stderr
