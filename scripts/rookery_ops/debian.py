"""Debian packages the test tooling needs (promtool and prometheus from `prometheus`),
installed with apt-get only when missing and the caller is root; never downloaded from
anywhere else."""

from __future__ import annotations

import os
import shutil
import subprocess


def ensure_command(command: str, package: str) -> str | None:
    """Path of `command`; installs Debian's `package` first when the command is missing
    and this process may (root, apt-get present). None when it is still missing."""
    found = shutil.which(command)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
        if subprocess.run(install, env=env, check=False, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=300)
            subprocess.run(install, env=env, check=False, timeout=600)
        found = shutil.which(command)
    return found
