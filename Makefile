# One command to run, one to test. Both install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint lint-web unit bench screenshot transcript dist clean

install: web/node_modules/.installed $(VENV)/.installed

# The package maps the page's files (web/src, what it serves of web/node_modules) into
# frontend_server/web: they must be there before pip reads pyproject.toml.
$(VENV)/.installed: pyproject.toml web/node_modules/.installed
	@echo "installing Python packages into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	@echo "installing the page's npm packages into web/node_modules"
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# One worker and one front end on loopback against the local Docker socket.
run: install
	$(BIN)/dterm up

lint: install lint-web
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The page: ESLint, and TypeScript's checker over the plain JavaScript (JSDoc types).
lint-web: web/node_modules/.installed
	cd web && node_modules/.bin/eslint . && node_modules/.bin/tsc -p tsconfig.json

unit: install
	$(BIN)/pytest tests/unit -q

test: lint
	$(BIN)/pytest -q -p no:cacheprovider

# The wheel (with the page) and the source archive, in dist/: `pip install dist/dterm-*.whl`.
dist: install
	$(BIN)/python -m build --no-isolation --outdir dist

bench: install
	$(BIN)/python -m bench

# Renew docs/screenshot.png, the README's picture, from the browser tests.
screenshot: install
	DTERM_UPDATE_SCREENSHOT=1 $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_screenshots.py

# Renew docs/dterm-exec.txt and its copy in the README, a terminal session of dterm exec.
transcript: install
	DTERM_UPDATE_TRANSCRIPT=1 $(BIN)/pytest -q -p no:cacheprovider tests/integration/test_cli_exec.py -k readme

clean:
	rm -rf $(VENV) web/node_modules test-output build dist dterm.egg-info
