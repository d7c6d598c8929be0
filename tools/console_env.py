"""The console in `make run`: its command, and a local owner account per seeded business.

Without ``PRODUCTION``, each business that has no console account yet gets
``owner@<business id>`` with a generated password, printed once when it is made (the
database keeps only its argon2 hash); ``make admin ARGS="reset --username ..."`` makes a new
one. With ``PRODUCTION`` nothing is created: accounts come from ``make admin`` only.
"""
from __future__ import annotations

import sys
from typing import Mapping

from booking.catalog import CatalogRepository
from booking.db import connect
from booking.settings import production
from console.accounts import Accounts, ensure_local_owners


def command() -> list[str]:
    """The console process."""
    return [sys.executable, "-m", "console"]


def local_owners(env: Mapping[str, str]) -> list[str]:
    """Make the missing owner accounts; the lines that tell how to sign in."""
    db = connect(env["MONGODB_URL"], env["MONGODB_DB"])
    try:
        accounts = Accounts(db)
        accounts.ensure_indexes()
        businesses = CatalogRepository(db).load().businesses.values()
        made = {} if production(dict(env)) else {
            business_id: (username, password) for business_id, username, password in
            ensure_local_owners(accounts, [(b.id, b.name) for b in businesses])}
        lines = []
        for business in sorted(businesses, key=lambda b: b.id):
            if business.id in made:
                username, password = made[business.id]
                lines.append(f"  {business.name}: {username} / {password}  (shown once)")
            else:
                users = ", ".join(a.username for a in accounts.list(business.id)) or "no account"
                lines.append(f"  {business.name}: {users}")
        return lines
    finally:
        db.client.close()
