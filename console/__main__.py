"""``python -m console``: see console/server.py."""
import sys

from console.server import main

sys.exit(main())
