# Two commands a new user needs, each sets itself up on a fresh machine:
#   make run    open the dashboard on the embedded local Bybit exchange
#   make test   run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Two stamps: the app alone (`make run`, `make sim`: what the desk needs, no test tools) and the test extras.
APP_STAMP   := $(VENV)/.installed-app
STAMP       := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
# The order book is compiled with mypyc at install (setup.py): an edit to its source reinstalls, so the desk never
# runs an old build (exchange/book_build.py also refuses a stale one at import). Where a C compiler is at hand the
# tests require the compiled book (tests/test_book_build.py); without one the install falls back to the source.
COMPILED    := setup.py exchange/book.py exchange/book_build.py
CC_FOUND    := $(shell command -v cc || command -v gcc)
WHICH_BOOK  := $(PY) -c "from exchange import book, book_build; print('the order book runs', book_build.build_of(book))"

.PHONY: run test browser bench sim lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(APP_STAMP): pyproject.toml $(COMPILED) | $(PY)
	$(PY) -m pip install --quiet -e .
	@$(WHICH_BOOK)
	touch $(APP_STAMP)

$(STAMP): pyproject.toml $(COMPILED) | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@$(WHICH_BOOK)
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

run: $(APP_STAMP)
	$(VENV)/bin/fluxum

test: $(STAMP) browser
	FLUXUM_EXPECT_COMPILED_BOOK=$(if $(CC_FOUND),1,0) $(PY) -m pytest -n 2 --dist worksteal

# The browser test drives Debian's Chromium (tests/ui/test_browser_desk.py). Installed once where the machine
# allows it (root with apt-get, as in CI); elsewhere that test skips and says why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make test: installing chromium and chromium-driver for the browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver >/dev/null; } || echo "make test: installing chromium failed: the browser test will fail"; \
	else echo "make test: no chromium and chromedriver here (root and apt-get install them): the browser test skips"; fi

sim: $(APP_STAMP)
	$(VENV)/bin/fluxum sim

bench: $(BENCH_STAMP)
	$(PY) -m bench.book_throughput

lint: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,dev]'
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build exchange/*.so exchange/book.sha256
