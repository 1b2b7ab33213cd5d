"""Where things live in the repository, computed once from this file's location."""

from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = REPO_DIR / "scripts"
MARCHPROXY_DIR = REPO_DIR / "config" / "marchproxy"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SERVICES_DIR = REPO_DIR / "services"
