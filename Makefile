# The two commands of the README. Both set up everything on a machine that has only Python
# and pip: uv is installed with pip when missing and builds the locked environment.
PYTHON ?= python3
UV := $(PYTHON) -m uv
DATA_DIR ?= data
DEMO_CLIENTS ?= 20000
# The CLI keeps its MLflow store (and the demo cohort) under this directory.
DROPOUT_RISK_DATA_DIR ?= $(DATA_DIR)
export DROPOUT_RISK_DATA_DIR

.PHONY: serve test lint format uv env

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"

env: uv
	$(UV) sync --locked

COHORT := $(DATA_DIR)/synthetic

## serve: the main job: environment, then a champion model, trained on a fresh synthetic
## cohort when none is registered. (The REST service joins here with the risk-service issue.)
serve: env
	test -f $(COHORT)/clients.csv || $(UV) run dropout-risk synth --clients $(DEMO_CLIENTS) --seed 1 --out $(COHORT) --report
	$(UV) run dropout-risk validate --clients $(COHORT)/clients.csv --sessions $(COHORT)/sessions.csv
	$(UV) run dropout-risk train --clients $(COHORT)/clients.csv --sessions $(COHORT)/sessions.csv --if-no-champion

## test: the whole test suite
test: env
	$(UV) run pytest

lint: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: env
	$(UV) run ruff format .
	$(UV) run ruff check --fix .
