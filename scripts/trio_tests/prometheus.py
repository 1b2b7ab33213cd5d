"""A real Prometheus (Debian's `prometheus` package) on a free loopback port, scraping the
packet-service /metrics of a trio every `scrape_interval` seconds, with its data in a
throwaway directory. Installed through apt-get when missing and root (the promtool tests
do the same); never downloaded from anywhere else."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests
from rookery_common.testing import NotHealthy, free_port, start_process, stop_process

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from rookery_ops.debian import ensure_command  # noqa: E402

JOB = "packet-service"  # flask-backend's PROMETHEUS_JOB default


def find_prometheus() -> str | None:
    return ensure_command("prometheus", "prometheus")


@dataclass(slots=True)
class Prometheus:
    binary: str
    workdir: Path
    targets: list[str]  # host:port of each packet-service's /metrics
    scrape_interval: float = 1.0
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        path = self.workdir / "prometheus.yml"
        targets = ", ".join(f'"{t}"' for t in self.targets)
        path.write_text(
            "global:\n"
            f"  scrape_interval: {self.scrape_interval:g}s\n"
            f"  scrape_timeout: {self.scrape_interval:g}s\n"
            "scrape_configs:\n"
            f"  - job_name: {JOB}\n"
            f"    static_configs:\n      - targets: [{targets}]\n"
        )
        return path

    def start(self, timeout: float = 60.0) -> None:
        data = self.workdir / "prometheus-data"
        data.mkdir(parents=True, exist_ok=True)
        try:
            self.popen = start_process(
                [
                    self.binary,
                    f"--config.file={self._config()}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                f"{self.url}/-/ready",
                cwd=self.workdir,
                log_path=self.workdir / "prometheus.log",
                timeout=timeout,
                name="prometheus",
            )
        except NotHealthy as error:
            raise RuntimeError(str(error)) from None

    def targets_up(self) -> int:
        reply = requests.get(
            f"{self.url}/api/v1/query", params={"query": f'sum(up{{job="{JOB}"}})'}, timeout=5
        ).json()
        result = reply["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0

    def stop(self) -> None:
        stop_process(self.popen)

    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""
