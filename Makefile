# The two commands of the README:
#   make demo   builds and runs the bundled kernels on both boards (results in out/)
#   make test   runs the test suite
# Both install what is missing first (scripts/setup.sh): the cross-compiler from Debian's
# packages and a virtual environment with mcusim in it.

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

demo: setup
	$(VENV)/bin/mcusim demo --out out

test: setup
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

clean:
	rm -rf out build *.egg-info .pytest_cache
