"""Console accounts from the shell: ``python -m tools.admin add|reset|remove|list ...``
(``make admin ARGS="..."``). Without ``--password-env`` a password is generated and printed once."""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from datetime import datetime, timezone
from typing import Optional

from pymongo.database import Database
from pymongo.errors import PyMongoError

from booking.catalog import CatalogRepository
from booking.db import connect
from booking.errors import BookingError
from booking.settings import Settings
from console.accounts import ROLES, STAFF, AccountError, Accounts
from console.audit import AuditLog
from console.sessions import Sessions
from tools.mongod import database_url

logger = logging.getLogger(__name__)
ACTOR = "admin-cli"


class AdminError(Exception):
    """A command cannot be carried out; the message says why (exit code 2)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account for a business")
    add.add_argument("--business", required=True, help="business id from the catalog")
    add.add_argument("--username", required=True)
    add.add_argument("--role", choices=ROLES, default=STAFF)
    add.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    reset = sub.add_parser("reset", help="set a new password, unlock, end the sessions")
    reset.add_argument("--username", required=True)
    reset.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    remove = sub.add_parser("remove", help="delete an account and end its sessions")
    remove.add_argument("--username", required=True)
    listing = sub.add_parser("list", help="list accounts")
    listing.add_argument("--business", help="only this business")
    return parser


def _password(var: Optional[str]) -> tuple[str, bool]:
    """The password from environment variable ``var``, or a generated one (and True)."""
    if var is None:
        return secrets.token_urlsafe(12), True
    value = os.environ.get(var)
    if not value:
        raise AdminError(f"environment variable {var} is not set or empty")
    return value, False


def _check_business(db: Database, business_id: str) -> None:
    businesses = CatalogRepository(db).load().businesses
    if business_id not in businesses:
        known = ", ".join(sorted(businesses)) or "none: run `make seed` first"
        raise AdminError(f"unknown business {business_id!r} (known: {known})")


def run(db: Database, args: argparse.Namespace, now: datetime) -> None:
    """Carry out one parsed command against ``db``; ``AdminError``/``AccountError`` on failure."""
    accounts, sessions, audit = Accounts(db), Sessions(db), AuditLog(db)
    accounts.ensure_indexes()
    sessions.ensure_indexes()
    audit.ensure_indexes()
    if args.command == "add":
        _check_business(db, args.business)
        password, generated = _password(args.password_env)
        account = accounts.create(args.business, args.username, password, args.role, now=now)
        audit.record(account.business_id, ACTOR, "account.add", account.username, None,
                     {"role": account.role}, now)
        print(f"created {account.role} {account.username} for {account.business_id}")
    elif args.command == "reset":
        password, generated = _password(args.password_env)
        account = accounts.reset_password(args.username, password)
        ended = sessions.end_all(account.id)
        audit.record(account.business_id, ACTOR, "account.reset", account.username, None,
                     {"password": "changed", "unlocked": True}, now)
        print(f"new password set for {account.username}; unlocked; {ended} session(s) ended")
    elif args.command == "remove":
        account = accounts.by_username(args.username)
        if account is None or not accounts.remove(account.username):
            raise AdminError(f"no account with username {args.username.strip().lower()!r}")
        ended = sessions.end_all(account.id)
        audit.record(account.business_id, ACTOR, "account.remove", account.username,
                     {"role": account.role}, None, now)
        print(f"removed {account.username}; {ended} session(s) ended")
        return
    else:
        if args.business is not None:
            _check_business(db, args.business)
        rows = accounts.list(args.business)
        if not rows:
            print("no accounts")
        for a in rows:
            status = f"locked until {a.locked_until:%Y-%m-%d %H:%M} UTC" if a.is_locked(now) \
                else "ok"
            print(f"{a.business_id:<28} {a.username:<40} {a.role:<6} "
                  f"{a.created_at:%Y-%m-%d} {status}")
        return
    if generated:
        print(f"password (shown once): {password}")


def execute(db: Database, argv: Optional[list[str]] = None) -> int:
    """Parse ``argv`` and run the command on ``db``; 0, or 2 after printing the error."""
    args = _parser().parse_args(argv)
    try:
        run(db, args, datetime.now(timezone.utc))
    except (AdminError, AccountError, BookingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PyMongoError as exc:
        print(f"error: database unavailable: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """``execute`` on the configured database (MONGODB_URL/MONGODB_DB, else the local one)."""
    _parser().parse_args(argv)  # usage errors before any database is started
    try:
        with database_url():
            settings = Settings.from_env()
            db = connect(settings.mongodb_url, settings.mongodb_db)
            try:
                return execute(db, argv)
            finally:
                db.client.close()
    except (RuntimeError, PyMongoError) as exc:  # the local mongod could not start
        print(f"error: database unavailable: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
