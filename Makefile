# Two entry points for a newcomer: `make demo` and `make test`. Both build .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A CPU build of torch; on a CUDA machine set TORCH_SPEC to the build you want.
TORCH_SPEC ?= torch==2.13.0
HOST ?= 127.0.0.1:8000

.PHONY: demo test lint serve

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[test]" --config-settings editable_mode=compat
	touch $@

# Migrate, import the ECGs under ECG_DATA_DIR, generate synthetic ones, create an
# admin and a launched demo study with two readers, serve. HOST=0.0.0.0:8000
# serves other machines too, by any of this machine's names and addresses
# (or set ALLOWED_HOSTS).
demo: $(BIN)/.installed
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py setup_demo
	-DEBUG=$${DEBUG:-1} $(BIN)/python manage.py create_demo_study
	DEBUG=$${DEBUG:-1} DEMO_BIND=$(HOST) $(BIN)/python manage.py runserver $(HOST)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

# Lint, migration check, then the whole test suite.
test: lint
	$(BIN)/pytest
