"""``python -m sandbox``: serve the sandbox until stopped (settings: sandbox/config.py)."""
from __future__ import annotations

import logging
import os
import sys

from aiohttp import web

from sandbox.app import create_app
from sandbox.config import SandboxConfig


def main() -> int:
    """Serve on ``SANDBOX_PORT`` (loopback only: the phone page speaks for any customer)."""
    logging.basicConfig(level=logging.INFO, format="sandbox %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if (os.environ.get("PRODUCTION") or "").strip().lower() in ("1", "true", "yes", "on"):
        print("PRODUCTION is set: the sandbox does not run in production", file=sys.stderr)
        return 2
    config = SandboxConfig.from_env()
    web.run_app(create_app(config), host=config.host, port=config.port, print=None,
                handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
