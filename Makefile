# Two commands for a fresh machine:
#   make run    installs what the app needs into .venv and launches it on 127.0.0.1:7860
#   make test   installs the test dependencies too and runs ruff and the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python app.py

test: $(VENV)/.dev
	$(BIN)/python -m ruff check .
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/python -m ruff check . && $(BIN)/python -m ruff format --check .

bench: $(VENV)/.dev
	$(BIN)/python -m explorer bench

# Re-take the README's pictures (every tab, the player GIF): serves the app on a spare port.
screenshot: $(VENV)/.dev
	$(BIN)/python -m scripts.screenshot --serve assets

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
