# emoedge: `make demo` installs everything into .venv and runs the main job end to end
# on the built-in synthetic data; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN ?= runs/demo

.PHONY: install demo live live-pnao test test-all clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]'
	touch $@

install: $(VENV)/.installed

# The whole pipeline on the built-in synthetic data, one thread, each stage printing its table:
# train -> the 7 modality subsets -> PNAO (2 rounds) -> export (every format, fp32 + int8)
# -> host benchmark -> one test sample through sdk.predict. Small settings keep it to minutes.
# Export exits 1 when an artifact fails a check (the 32-wide demo model's int8 files are 0.7-0.95
# of fp32: graph overhead, and ONNX int8 keeps weights of <= 4,096 values fp32, most of this model);
# the demo goes on, its report says which.
demo: install
	$(PY) -m sdk.train --dataset synthetic --out $(RUN) --hidden-size 32 --ffn-size 32 --epochs 30 --threads 1 --quiet
	$(PY) -m sdk.evaluate --checkpoint $(RUN) --subsets all --json $(RUN)/subsets.json
	$(PY) -m compress.pnao --checkpoint $(RUN) --out $(RUN)-pnao --rounds 2 --rewind-epochs 3 --naor 0.25 --threads 1 --quiet
	-$(PY) -m export --checkpoint $(RUN)-pnao/best --out $(RUN)-dist --calibration 32 --max-test-samples 120 --quiet
	$(PY) -m sdk.bench --models $(RUN)-dist --runs 50 --warmup 5 --no-progress
	$(PY) -m sdk.data.sample --dataset synthetic --index 0 --out $(RUN)-sample
	$(PY) -m sdk.predict --model $(RUN)-dist/onnx/model_fp32.onnx --audio $(RUN)-sample/audio.npy \
		--video $(RUN)-sample/video.npy --text $(RUN)-sample/text.npy

# The live model on real recordings, faces and sentences (../shared/datasets or $$EMOEDGE_DATA), stage-wise:
# each encoder trained alone on its own set, then the fused model on the frozen face and text encoders with the
# audio encoder fine-tuned, paired by label.
# About 75 min at one thread (the face CNN is 55 min of it; RESULTS.md, "Live model on real data").
LIVE ?= runs/live
LIVE_OPTS := '{"audio_encoder": "mel2d", "keep_anchor": true, "speed_perturb": 0.1}'
live: install
	$(PY) -m sdk.train --dataset live --modalities audio --out $(LIVE)_audio --threads 1 --epochs 60 --patience 60 \
		--live-options '{"rows_per_epoch": 960, "audio_encoder": "mel2d", "speed_perturb": 0.1}'
	$(PY) -m sdk.train --dataset live --modalities video --out $(LIVE)_video --threads 1 --epochs 30 --patience 30 \
		--noise 0 --batch-size 64 --live-options '{"rows_per_epoch": 28709}'
	$(PY) -m sdk.train --dataset live --modalities text --out $(LIVE)_text --threads 1 --epochs 5 --patience 5 \
		--batch-size 64 --live-options '{"rows_per_epoch": 20000}'
	$(PY) -m sdk.train --dataset live --out $(LIVE) --threads 1 --noise 0 --live-options $(LIVE_OPTS) --freeze-encoders video,text \
		--encoders-from audio=$(LIVE)_audio,video=$(LIVE)_video,text=$(LIVE)_text
	$(PY) -m sdk.evaluate --checkpoint $(LIVE) --subsets all --json $(LIVE)/protocol.json

# PNAO on the live model, then the per-round int8 trade-off (latency, size, accuracy per test part; table + plot).
# About 20 min for PNAO and 10 min per exported model at one thread (RESULTS.md, "PNAO on the live model").
live-pnao: install
	$(PY) -m compress.pnao --checkpoint $(LIVE) --out $(LIVE)_pnao --rounds 3 --rewind-epochs 3 --normalizer mean \
		--naor 0.52 --naor-step 0.01 --l1 1e-5 --distill 0.5 --threads 1
	$(PY) -m compress.tradeoff --pnao $(LIVE)_pnao --rounds 1,2,3 --baseline $(LIVE) --out $(LIVE)_tradeoff

# The default suite (not slow) with the 15 slowest tests listed.
test: install
	$(PY) -m pytest -q --durations=15

test-all: install
	$(PY) -m pytest -q -m '' --durations=15

clean:
	rm -rf $(VENV) runs
