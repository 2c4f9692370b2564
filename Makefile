# Two commands on a fresh machine with Python 3.11 and make: `make serve`, `make test`.
# `make lint` checks the house rules (CONTRIBUTING.md); .ci/run runs it before the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG := config/radicale.conf

.PHONY: serve test lint bench bench-availability bench-nodes stress outside-suites install clean

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

# The suite on the files item store (the default), then the modules that go through a
# server again with every plugin server on the database item store (issue 19;
# TRACKS_TEST_ITEM_STORE, tests marked files_only are about the files backend itself)
DATABASE_MODE_TESTS := tests/test_equivalence.py tests/test_discovery.py \
	tests/test_client_shapes.py tests/test_scheduling.py tests/test_assistant.py \
	tests/test_rooms.py tests/test_inbound.py tests/test_inbound_trust.py \
	tests/test_inbound_corpus.py tests/test_inbound_failures.py tests/test_web_api.py \
	tests/test_customer_booking.py tests/test_team_busy.py tests/test_http_surface.py \
	tests/test_request_state.py tests/test_size_limits.py tests/test_attendee_scale.py \
	tests/test_attendee_addresses.py tests/test_caldav_periods.py \
	tests/test_caldav_timezones.py tests/test_slots_api.py tests/test_availability.py \
	tests/test_mail_words.py tests/test_instance_changes.py tests/test_hostile_rules.py \
	tests/test_defined_timezones.py tests/test_booking_changes.py \
	tests/test_booking_review.py tests/test_calendar_moves.py \
	tests/test_default_calendar.py

test: $(STAMP)
	./scripts/install-browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	TRACKS_TEST_ITEM_STORE=database $(BIN)/python -m pytest $(PYTEST_ARGS) $(DATABASE_MODE_TESTS)

# ruff (config in pyproject.toml) over the package, tests and benches; mypy --strict over
# the whole package, as tests/test_layers.py and the pre-commit hooks run it
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy --strict radicale_tracks

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-availability: $(STAMP)
	$(BIN)/python bench/availability.py $(BENCH_ARGS)

# item_store = database: writes/s of one and two nodes, calendar locks, REPORTs
# (docs/performance.md); needs PostgreSQL, by default postgres@127.0.0.1:5432
bench-nodes: $(STAMP)
	$(BIN)/python bench/nodes.py $(BENCH_ARGS)

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
