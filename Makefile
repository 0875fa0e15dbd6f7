# The two commands: `make run` (the product, with demo data) and `make test` (the whole suite).
# Both create and use the virtual environment in .venv.
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install run test lint bench bench-scale faults clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Web on 127.0.0.1:8000, a Celery worker, Celery beat and the WhatsApp emulator, on SQLite and
# the filesystem broker unless DATABASE_URL / REDIS_URL say otherwise.
run: install
	mkdir -p var/broker/processed var/broker/control
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo
	DEBUG=$${DEBUG:-1} PATH=$(BIN):$$PATH $(BIN)/honcho -f Procfile.dev start

test: install
	$(BIN)/pytest

# The fault suite: the Procfile's processes on loopback, one fault at a time, nothing lost or
# duplicated (docs/faults.md). `$(BIN)/python -m bench.faults --quick` is the CI-sized run.
faults: install
	$(BIN)/python -m bench.faults

# The benchmarks (bench/README.md): every workload against its floor or the peer in one run,
# one table, written to bench/RESULTS.md; the throwaway PostgreSQL cluster when DATABASE_URL is
# unset. BENCH_ARGS="--conversations 50000 --quick --only pages,peer" for a quick look.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The growth table (bench/scale.py): pages, webhook, auto-resolve and reports at 100k, 1M and 10M
# conversations (the 10M dataset: ~30 min to build, ~30 GB); SCALE_ARGS="--sizes 10m" for one size.
bench-scale: install
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var db.sqlite3 staticfiles
