"""The lifecycle every ingest source shares: a daemon thread running `_run` until `stop()`,
then `_close()` to release what the source holds (socket, ring)."""

from __future__ import annotations

import threading


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._close()

    def _run(self) -> None:  # pragma: no cover - every source overrides it
        raise NotImplementedError

    def _close(self) -> None:
        """Release the source's resources once the loop has ended."""
