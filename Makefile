PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APP_STAMP := $(VENV)/.installed-app

.PHONY: demo test install clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the app alone (the demo needs nothing more)
$(APP_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install -e .
	touch $(APP_STAMP)

# the app with its test tools
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install -e ".[test]"
	touch $(STAMP) $(APP_STAMP)

install: $(STAMP)

demo: $(APP_STAMP)
	$(BIN)/emx2tui demo

test: $(STAMP)
	$(BIN)/python -m pytest

screenshots: $(STAMP)
	$(BIN)/pip install -q "cairosvg>=2.7"
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info
