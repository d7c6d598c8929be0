"""`make admin`: console accounts from the shell, on a real database."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from booking.catalog import CatalogRepository
from console.accounts import AccountLocked, Accounts, LoginFailed
from console.audit import AuditLog
from console.sessions import Sessions
from tests.conftest import ROOT
from tools import admin
from tools.admin import execute, main

SPA = "ubud-serenity-spa"
PASSWORD = "front desk password"
CHEAP = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


@pytest.fixture
def env(db, seed_catalog, monkeypatch):
    """The seeded test database, cheap argon2 in ``tools.admin``."""
    CatalogRepository(db).save(seed_catalog)
    for repo in (cheap_accounts(db), Sessions(db), AuditLog(db)):
        repo.ensure_indexes()  # on empty collections: fast (the CLI's calls are then no-ops)
    monkeypatch.setenv("ADMIN_TEST_PW", PASSWORD)
    monkeypatch.setattr(admin, "Accounts", cheap_accounts)
    return db


def cheap_accounts(db) -> Accounts:
    """Accounts with cheap argon2 parameters (the tests' speed, not production's)."""
    return Accounts(db, **CHEAP)


def now() -> datetime:
    return datetime.now(timezone.utc)


def test_add_with_a_password_from_the_environment(env, capsys):
    assert execute(env, ["add", "--business", SPA, "--username", "Desk", "--password-env",
                 "ADMIN_TEST_PW"]) == 0
    out = capsys.readouterr().out
    assert "created staff desk for ubud-serenity-spa" in out and PASSWORD not in out
    account = cheap_accounts(env).authenticate("desk", PASSWORD, now())
    assert (account.role, account.business_id) == ("staff", SPA)
    assert AuditLog(env).recent(SPA)[0]["action"] == "account.add"


def test_add_without_a_password_prints_a_generated_one_once(env, capsys):
    assert execute(env, ["add", "--business", SPA, "--username", "boss", "--role", "owner"]) == 0
    out = capsys.readouterr().out
    passwords = re.findall(r"password \(shown once\): (\S+)", out)
    assert len(passwords) == 1 and out.count(passwords[0]) == 1
    assert cheap_accounts(env).authenticate("boss", passwords[0], now()).role == "owner"


ERRORS = [  # command line, what stderr says
    (["add", "--business", "nope", "--username", "desk"], "unknown business 'nope'"),
    (["add", "--business", SPA, "--username", "desk", "--password-env", "UNSET_VAR_X"],
     "UNSET_VAR_X is not set"),
    (["add", "--business", SPA, "--username", "x"], "3 to 64"),
    (["reset", "--username", "ghost"], "No account"),
    (["remove", "--username", "ghost"], "no account"),
    (["list", "--business", "nope"], "unknown business"),
]


def test_errors_exit_2_with_a_message(env, capsys):
    for argv, message in ERRORS:
        assert execute(env, argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert cheap_accounts(env).list() == []


def test_duplicate_username_exits_2(env, capsys):
    argv = ["add", "--business", SPA, "--username", "desk", "--password-env", "ADMIN_TEST_PW"]
    assert execute(env, argv) == 0
    assert execute(env, ["add", "--business", "canggu-glow-salon", "--username", "DESK"]) == 2
    assert "already taken" in capsys.readouterr().err


def test_reset_unlocks_sets_the_password_and_ends_sessions(env, capsys):
    accounts, sessions = cheap_accounts(env), Sessions(env)
    account = accounts.create(SPA, "desk", PASSWORD, "staff")
    token, _ = sessions.create(account, now())
    start = now() - timedelta(minutes=10)
    for n in range(8):  # a minute apart, past every wait: the 8th locks it (here) for 15 min
        with pytest.raises(LoginFailed):
            accounts.authenticate("desk", "not the password", start + timedelta(minutes=n))
    with pytest.raises(AccountLocked):
        accounts.authenticate("desk", PASSWORD, now())
    assert execute(env, ["reset", "--username", "desk"]) == 0
    out = capsys.readouterr().out
    new_password = re.search(r"password \(shown once\): (\S+)", out).group(1)
    assert "unlocked; 1 session(s) ended" in out
    assert sessions.get(token, now()) is None
    with pytest.raises(LoginFailed):
        accounts.authenticate("desk", PASSWORD, now())
    assert accounts.authenticate("desk", new_password, now() + timedelta(seconds=1))


def test_remove_deletes_the_account_and_its_sessions(env, capsys):
    accounts, sessions = cheap_accounts(env), Sessions(env)
    account = accounts.create(SPA, "desk", PASSWORD, "staff")
    token, _ = sessions.create(account, now())
    assert execute(env, ["remove", "--username", "Desk"]) == 0
    assert "removed desk; 1 session(s) ended" in capsys.readouterr().out
    assert accounts.by_username("desk") is None and sessions.get(token, now()) is None


def test_list_all_or_one_business(env, capsys):
    accounts = cheap_accounts(env)
    accounts.create(SPA, "desk", PASSWORD, "staff")
    accounts.create("canggu-glow-salon", "salon.owner", PASSWORD, "owner")
    assert execute(env, ["list"]) == 0
    out = capsys.readouterr().out
    assert "desk" in out and "salon.owner" in out
    assert execute(env, ["list", "--business", "canggu-glow-salon"]) == 0
    out = capsys.readouterr().out
    assert "salon.owner" in out and "desk" not in out


def test_main_uses_the_configured_database(env, db_name, mongo_url, monkeypatch, capsys):
    monkeypatch.setenv("MONGODB_URL", mongo_url)
    monkeypatch.setenv("MONGODB_DB", db_name)
    assert main(["add", "--business", SPA, "--username", "desk", "--password-env",
                 "ADMIN_TEST_PW"]) == 0
    assert cheap_accounts(env).by_username("desk").business_id == SPA
    assert main(["add", "--business", "nope", "--username", "other"]) == 2
    assert "unknown business" in capsys.readouterr().err


def test_runs_as_a_module(env, db_name, mongo_url):
    result = subprocess.run([sys.executable, "-m", "tools.admin", "list"], cwd=ROOT,
                            env=dict(os.environ, MONGODB_URL=mongo_url, MONGODB_DB=db_name),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no accounts"
