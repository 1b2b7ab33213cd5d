# Rookery — the two commands are `make run` and `make test`; everything else is a step of them.
SHELL := /bin/bash
VENV  := .venv
PY    := $(abspath $(VENV))/bin/python
export PY

.DEFAULT_GOAL := help
.PHONY: help install venv proto webui oidc-test-provider run test lint bench bench-backend bench-packet bench-trio \
        bench-webui demo api-types \
        marchproxy-config dev test-dbs test-dbs-stop clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

install: venv proto webui oidc-test-provider ## install everything that is missing (idempotent)

venv: ## create .venv and install the Python services' dependencies
	@scripts/bootstrap-venv.sh

proto: venv ## generate Python gRPC code from proto/ into each service
	@scripts/gen-proto.sh

webui: ## install and build the web UI
	@services/webui/scripts/install.sh

oidc-test-provider: ## install the test OpenID Provider (npm ci when its lock file changed)
	@scripts/oidc-test-provider/install.sh

run: install ## start all services on loopback with embedded SQLite; Ctrl-C stops them
	@$(PY) scripts/run_trio.py

test: install ## run every test suite (DBS=all or CI=true adds PostgreSQL and MariaDB)
	@scripts/test-all.sh

lint: venv webui ## ruff over all Python code; ESLint, API type drift and tsc over the web UI
	@$(VENV)/bin/ruff check --config config/ruff.toml .
	@services/webui/scripts/lint.sh

api-types: proto ## regenerate the web UI's API types from flask-backend's OpenAPI document
	@services/webui/scripts/api-types.sh

bench: bench-backend bench-packet bench-trio bench-webui ## run every benchmark (not tests; prints figures)

bench-backend: install ## flask-backend REST benchmark
	@services/flask-backend/bench/run.sh

bench-packet: install ## packet-service throughput benchmark
	@services/packet-service/bench/run.sh

bench-trio: install ## rule publish latency, ValidateToken with/without cache, auth on/off
	@$(PY) services/flask-backend/bench/trio_bench.py

bench-webui: install ## web UI bundle sizes and Lighthouse scores
	@services/webui/scripts/bench.sh

marchproxy-config: venv ## regenerate config/marchproxy/*.json from the service catalogue
	@scripts/marchproxy-config.sh

dev: ## the trio with PostgreSQL through docker-compose.dev.yml (needs a Docker engine)
	@scripts/dev.sh

demo: install ## load the example rule set and replay a sample capture (services must be running)
	@$(PY) scripts/demo.py

test-dbs: ## start PostgreSQL and MariaDB on loopback for the database suites
	@scripts/test-dbs.sh start

test-dbs-stop: ## stop the test database servers
	@scripts/test-dbs.sh stop

clean: ## remove generated code, runtime data and test output (keeps .venv)
	rm -rf services/*/*/gen .data artifacts
