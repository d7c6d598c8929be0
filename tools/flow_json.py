"""Write each language's booking Flow JSON from the English one (``make flows``).

    python -m tools.flow_json           write flows/booking_flow.<language>.json
    python -m tools.flow_json --check   exit 1 when one is missing or out of date

The texts are translated through the message catalogs (``booking/flow_form.py``): run
``make i18n`` and translate first when a text of ``flows/booking_flow.json`` is new. Each
generated file is then uploaded to its own Flow in WhatsApp Manager.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from booking.flow_form import FLOWS_DIR, UntranslatedFlowText, generated


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write (or with ``--check`` compare) the generated Flow JSON files; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that the files are up to date")
    args = parser.parse_args(argv)
    try:
        files = generated()
    except UntranslatedFlowText as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stale = [path for path, text in files.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    for path in stale:
        name = path.relative_to(FLOWS_DIR.parent)
        if args.check:
            print(f"{name} is out of date: make flows", file=sys.stderr)
        else:
            path.write_text(files[path], encoding="utf-8")
            print(f"wrote {name}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
