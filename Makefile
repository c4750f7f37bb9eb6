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

# The whole pipeline on the built-in synthetic data, one thread, each stage printing its table:
# train -> the 7 modality subsets -> PNAO (2 rounds) -> export (every format, fp32 + int8)
# -> host benchmark -> one test sample through sdk.predict. Small settings keep it to minutes.
demo: install
	$(PY) -m sdk.train --dataset synthetic --out $(RUN) --hidden-size 32 --ffn-size 32 --epochs 30 --threads 1 --quiet
	$(PY) -m sdk.evaluate --checkpoint $(RUN) --subsets all --json $(RUN)/subsets.json
	$(PY) -m compress.pnao --checkpoint $(RUN) --out $(RUN)-pnao --rounds 2 --rewind-epochs 3 --naor 0.25 --threads 1 --quiet
	$(PY) -m export --checkpoint $(RUN)-pnao/best --out $(RUN)-dist --calibration 32 --max-test-samples 120 --quiet
	$(PY) -m sdk.bench --models $(RUN)-dist --runs 50 --warmup 5 --no-progress
	$(PY) -m sdk.data.sample --dataset synthetic --index 0 --out $(RUN)-sample
	$(PY) -m sdk.predict --model $(RUN)-dist/onnx/model_fp32.onnx --audio $(RUN)-sample/audio.npy \
		--video $(RUN)-sample/video.npy --text $(RUN)-sample/text.npy

# The default suite (not slow) with the 15 slowest tests listed.
test: install
	$(PY) -m pytest -q --durations=15

test-all: install
	$(PY) -m pytest -q -m '' --durations=15

clean:
	rm -rf $(VENV) runs
