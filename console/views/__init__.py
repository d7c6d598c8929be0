"""The console's pages: one module per page family, each a small request → core → template."""
from __future__ import annotations

from sanic import Sanic

from console.views import (audit, auth, bookings, calendar, catalog, dashboard, inbox,
                           new_booking, sheets)


def register(app: Sanic) -> None:
    """Add every page's routes to ``app``."""
    for module in (auth, calendar, new_booking, bookings, catalog, dashboard, sheets, audit,
                   inbox):
        module.register(app)
