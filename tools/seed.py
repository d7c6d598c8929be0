"""Load the seed catalog into MongoDB (idempotent): ``python -m tools.seed [files...]``.

Fills what the database lacks and refreshes the businesses nobody edited in the console; a
business edited in the console is kept as it is (``booking.catalog_store``)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from booking.catalog import CatalogRepository, load_seed_files
from booking.db import connect, ensure_indexes
from booking.errors import SeedDataError
from booking.settings import Settings
from tools.mongod import database_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILES = sorted((ROOT / "seed").glob("*.yml"))


def main(argv: list[str] | None = None) -> int:
    """Validate the seed files, then upsert them; exit 2 naming the bad entry on error."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    args = parser.parse_args(argv)
    try:
        catalog = load_seed_files(args.files)
    except SeedDataError as exc:
        print(f"seed data is invalid: {exc}", file=sys.stderr)
        return 2
    with database_url():
        settings = Settings.from_env()
        db = connect(settings.mongodb_url, settings.mongodb_db)
        ensure_indexes(db)
        outcome = CatalogRepository(db).save(catalog)
        db.client.close()
    if outcome["kept"]:
        print(f"kept the console's edits of {', '.join(outcome['kept'])} (the database is the "
              f"truth for them now; the seed files only fill what is missing)")
    print(f"seeded {len(catalog.businesses)} businesses, {len(catalog.categories)} categories, "
          f"{len(catalog.services)} services, {len(catalog.staff)} staff, "
          f"{len(catalog.villas)} villas into {settings.mongodb_db}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
