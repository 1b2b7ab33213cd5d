"""`python -m rookery_backend serve [-v|-vv|-vvv]`"""

from __future__ import annotations

import sys

from .server import main

if __name__ == "__main__":
    sys.exit(main())
