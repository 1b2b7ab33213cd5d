import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The clients are packet-service's generated stubs (make proto generates every proto into
# each service); one set only, since protobuf refuses the same symbols registered twice.
sys.path.insert(0, str(ROOT / "services" / "packet-service"))

from trio import Trio  # noqa: E402


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Trio]:
    running = Trio(tmp_path).build()
    try:
        yield running
    finally:
        for proc in (running.packet, running.backend):
            if proc is not None:
                proc.stop()
