# The two commands of the README. Both set up everything on a machine that has only Python
# and pip: uv is installed with pip when missing and builds the locked environment.
PYTHON ?= python3
UV := $(PYTHON) -m uv
DATA_DIR ?= data
DEMO_CLIENTS ?= 5000

.PHONY: serve test lint format uv env

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"

env: uv
	$(UV) sync --locked

## serve: the main job: environment, a validated synthetic cohort (later: train if needed, serve)
serve: env
	$(UV) run dropout-risk synth --clients $(DEMO_CLIENTS) --seed 1 --out $(DATA_DIR)/synthetic --report
	$(UV) run dropout-risk validate --clients $(DATA_DIR)/synthetic/clients.csv --sessions $(DATA_DIR)/synthetic/sessions.csv

## test: the whole test suite
test: env
	$(UV) run pytest

lint: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: env
	$(UV) run ruff format .
	$(UV) run ruff check --fix .
