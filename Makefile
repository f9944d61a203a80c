# Ticketing: `make run` serves the system on SQLite, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install run test test-postgres lint format clean bench bench-quick bench-postgres soak wrk up up-postgres down logs scale-workers

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The whole local system: api, worker, beat and notifier (and a redis-server under ./data when
# nothing answers at REDIS_URL), every log line prefixed by its service. `ticketing start` runs
# the Procfile as honcho does, but starts again a process that exits, as compose does.
run: install
	@mkdir -p data
	$(BIN)/ticketing migrate
	$(BIN)/ticketing seed --demo-keys data/demo-keys.txt
	@echo "API on http://$${HOST:-127.0.0.1}:$(PORT) (docs: /docs). Demo API keys:"
	@cat data/demo-keys.txt 2>/dev/null || echo "  (see data/demo-keys.txt of the first run, or: $(BIN)/ticketing api-key create --email EMAIL)"
	@if $(BIN)/ticketing redis-check; then \
		$(BIN)/ticketing start --port $(PORT) api worker beat notifier mail; \
	else \
		echo "nothing answers at $${REDIS_URL:-redis://127.0.0.1:6379/0}: starting redis-server with its data in ./data"; \
		$(BIN)/ticketing start --port $(PORT); \
	fi

test: install
	$(BIN)/pytest -n 2

# The same suite on PostgreSQL: every test database is a throw-away one on this server.
POSTGRES_ADMIN_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
test-postgres: install
	TEST_POSTGRES_URL=$(POSTGRES_ADMIN_URL) $(BIN)/pytest -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every path users wait on, beside same-run baselines (bench/run.py), the API on one process and
# on two, and the highest sustained creation rate: about 10 minutes. wrk comes from Debian.
bench: install wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The same, smaller (10,000 generated tickets, 2-5 s per figure, a capped rate search): 3-4
# minutes. CI runs it as a smoke test: it fails on errors, never on numbers.
bench-quick: install wrk
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

# The same table on PostgreSQL: every database a throw-away one on POSTGRES_ADMIN_URL's server,
# dropped at the end. `make bench-postgres BENCH_ARGS=--quick` for the smaller run.
bench-postgres: install wrk
	$(BIN)/python -m bench.run --postgres $(POSTGRES_ADMIN_URL) $(BENCH_ARGS)

# The whole system under traffic while processes are killed and Redis is stopped, then a check
# that nothing was lost (soak/run.py); CI runs `make soak SOAK_SECONDS=60`.
SOAK_SECONDS ?= 300
soak: install
	$(BIN)/python -m soak --seconds $(SOAK_SECONDS)

# wrk from Debian, installed when missing and we may (root); otherwise say how.
wrk:
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -qq wrk >/dev/null 2>&1 \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; }; } \
		|| { echo "wrk is missing: sudo apt-get install wrk"; exit 1; }

# The whole system in containers (docker-compose.yml; see .env.example). With COMPOSE_FILE set in
# .env these use its files, docker-compose.postgres.yml included.
COMPOSE ?= docker compose
N ?= 2

up:
	$(COMPOSE) up -d --build

# The same on PostgreSQL (docker-compose.postgres.yml on top).
up-postgres:
	$(COMPOSE) -f docker-compose.yml -f docker-compose.postgres.yml up -d --build

# --remove-orphans: also the postgres container of `make up-postgres`. Volumes are kept.
down:
	$(COMPOSE) down --remove-orphans

logs:
	$(COMPOSE) logs -f

# `make scale-workers N=4`: add or remove Celery workers, leaving the running containers alone.
scale-workers:
	$(COMPOSE) up -d --scale worker=$(N) --no-recreate

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
