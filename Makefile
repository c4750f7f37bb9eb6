# emoedge: `make demo` installs everything into .venv and runs the main job end to end
# on the built-in synthetic data; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN ?= runs/demo

.PHONY: install demo test test-all clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m sdk.train --dataset synthetic --out $(RUN)
	$(PY) -m sdk.evaluate --checkpoint $(RUN) --subsets all --json $(RUN)/subsets.json

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m ''

clean:
	rm -rf $(VENV) runs
