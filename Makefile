# Two commands on a fresh machine with Python 3.11 and make: `make serve`, `make test`.
# `make lint` checks the house rules (CONTRIBUTING.md); .ci/run runs it before the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG := config/radicale.conf

.PHONY: serve test lint bench bench-availability stress outside-suites install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/radicale-tracks --config $(CONFIG) db upgrade
	@echo
	@echo "radicale-tracks: CalDAV at http://127.0.0.1:5232/  (users alice, bob, carol;"
	@echo "  passwords alice-secret, bob-secret, carol-secret; data in var/collections)"
	@echo "  settings: $(BIN)/radicale-tracks --config $(CONFIG) info"
	@echo
	$(BIN)/radicale-tracks --config $(CONFIG) serve

test: $(STAMP)
	./scripts/install-browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (config in pyproject.toml) over the package, tests and benches; mypy --strict over
# the whole package, as tests/test_layers.py and the pre-commit hooks run it
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy --strict radicale_tracks

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-availability: $(STAMP)
	$(BIN)/python bench/availability.py $(BENCH_ARGS)

# hostile input, races and kill -9 against real servers (docs/performance.md); not in `test`
stress: $(STAMP)
	$(BIN)/python bench/stress.py $(STRESS_ARGS)

# python-caldav's functional tests and Radicale's own tests against the plugin, files and
# database item stores compared (CONTRIBUTING.md, "Upstream suites"); downloads into
# var/outside-suites, so not in `test`. e.g. SUITES_ARGS="--suite caldav"
outside-suites: $(STAMP)
	$(BIN)/python scripts/outside-suites $(SUITES_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts radicale_tracks.egg-info
