"""Write data/synonyms.yml from the seed catalog: service and staff names and aliases map to
catalog ids, so NLU entity values are ids. ``python -m tools.gen_synonyms [--check]``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from booking.catalog import Catalog, load_seed_files

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "data" / "synonyms.yml"


def render(catalog: Catalog) -> str:
    """The synonyms file for a catalog; refuses a phrase that would mean two things."""
    owners: dict[str, str] = {}
    blocks = []
    entries = [(s.id, [s.name, *s.aliases]) for s in catalog.services.values()]
    entries += [(m.id, [m.name]) for m in catalog.staff.values()]
    for target, phrases in entries:
        lines = []
        for phrase in dict.fromkeys(p.lower() for p in phrases):
            if owners.setdefault(phrase, target) != target:
                raise ValueError(f"'{phrase}' names both {owners[phrase]} and {target}")
            lines.append(f"      - {phrase}")
        blocks.append(f"  - synonym: {target}\n    examples: |\n" + "\n".join(lines))
    header = ("# Generated from seed/*.yml by `python -m tools.gen_synonyms`; do not edit.\n"
              'version: "3.1"\n\nnlu:\n')
    return header + "\n".join(blocks) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the file, or with --check fail when it is out of date."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render(load_seed_files(sorted((ROOT / "seed").glob("*.yml"))))
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python -m tools.gen_synonyms", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
