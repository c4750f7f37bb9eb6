"""Property test: whatever goes into `predict`, out comes a valid result or an InputError.

Random shapes (right and wrong), dtypes, NaN/inf, huge values, missing patterns,
strings (for token and non-token modalities), lists, scalars, batches and unknown
modality names, against every backend: torch, ExecuTorch, LiteRT and ONNX, with
a tiny model whose token modality takes strings (the default run) and with the
MOSI model's fp32 artifacts (slow, needs the data). Nothing may crash, hang (a
watchdog kills the run after 300 s) or return non-finite probabilities. 50
examples per backend by default, 500 with `-m slow`.
"""
from __future__ import annotations

import faulthandler

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk import EmotionRecognizer
from sdk.runtime import InputError
from sdk.spec import TOKENS
from tests.helpers import mosi_artifact, save_tiny_checkpoint, tiny_artifacts

TINY_BACKENDS = ("tiny-torch", "tiny-executorch", "tiny-litert", "tiny-onnx")
#: The MOSI artifacts (a trained model on real data): slow and data-marked, the tiny model covers every backend by default.
MOSI_BACKENDS = [pytest.param(b, marks=[pytest.mark.slow, pytest.mark.data]) for b in ("torch", "executorch", "litert", "onnx")]
BACKENDS = (*TINY_BACKENDS, *MOSI_BACKENDS)
DTYPES = (np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_, np.complex64)
SCALES = (1.0, 1e-3, 1e3, 1e8, 1e20, 1e38)
WATCHDOG_S = 300

_loaded: dict = {}


def recognizer_for(backend: str, tmp_path_factory) -> EmotionRecognizer:
    if backend not in _loaded:
        if backend == "tiny-torch":
            _loaded[backend] = EmotionRecognizer.load(save_tiny_checkpoint(tmp_path_factory.mktemp("tiny")))
        elif backend.startswith("tiny-"):
            _loaded[backend] = EmotionRecognizer.load(tiny_artifacts()[backend.removeprefix("tiny-")])
        else:
            _loaded[backend] = EmotionRecognizer.load(mosi_artifact(backend))
    return _loaded[backend]


@pytest.fixture(autouse=True)
def watchdog():
    """A hang anywhere in a test ends the process with every thread's traceback."""
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


FORMS = {"none": 0.2, "steps": 0.55, "bad_shape": 0.05, "text": 0.05, "scalar": 0.04, "list": 0.03, "batch": 0.08}


def modality_value(rng: np.random.Generator, text: str, m):
    """One random value for modality `m`: valid steps most of the time, everything else too."""
    form = rng.choice(list(FORMS), p=list(FORMS.values()))
    if form == "none":
        return None
    if form == "text":
        return text
    if form == "scalar":
        return rng.choice([int(rng.integers(-5, 50)), float(rng.normal()), float("nan"), float("inf")])
    if form == "bad_shape":
        shape = tuple(int(d) for d in rng.integers(0, 9, size=rng.integers(0, 6)))
    else:
        steps = int(rng.integers(0, m.seq_len + 4)) if rng.random() < 0.1 else int(rng.integers(1, m.seq_len + 1))
        batch = (int(rng.integers(1, 4)),) if form == "batch" else ()
        shape = (*batch, steps, *m.step_shape())
    dtype = np.float32 if rng.random() < 0.6 else DTYPES[rng.integers(len(DTYPES))]
    if m.kind == TOKENS:
        dtype = np.int64 if rng.random() < 0.6 else dtype
        high = m.vocab_size + (2 if rng.random() < 0.2 else 0)
        values = rng.integers(-1 if rng.random() < 0.1 else 0, high, size=shape)
    else:
        scale = 1.0 if rng.random() < 0.7 else SCALES[rng.integers(len(SCALES))]
        values = rng.normal(size=shape) * scale
        if values.size and rng.random() < 0.15:
            values.flat[rng.integers(values.size)] = rng.choice([np.nan, np.inf, -np.inf])
    with np.errstate(all="ignore"):
        array = values.astype(dtype)
    return array.tolist() if form == "list" else array


@st.composite
def predict_kwargs(draw, spec):
    """Hypothesis draws a seed (random structure) and a string (for text forms)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    words = [w for m in spec.modalities for w in m.vocabulary[3:]] or ["good", "bad"]
    text = draw(st.one_of(st.text(max_size=40),
                          st.lists(st.sampled_from(words + ["zebra", "!", "..."]), max_size=12).map(" ".join)))
    kwargs = {m.name: modality_value(rng, text, m) for m in spec.modalities}
    if rng.random() < 0.03:
        kwargs["smell"] = np.ones((3, 2), np.float32)
    if rng.random() < 0.1:  # leave some keys out instead of passing None
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return kwargs


def check_one(recognizer, kwargs) -> None:
    try:
        result = recognizer.predict(**kwargs)
    except InputError as err:
        assert str(err)
        return
    probabilities = np.array(list(result.probabilities.values()))
    assert np.isfinite(probabilities).all() and abs(probabilities.sum() - 1.0) < 1e-6
    assert result.label in recognizer.class_names
    assert list(result.gate_weights) == recognizer.modality_names
    assert all(np.isfinite(w) for w in result.gate_weights.values())
    assert result.modalities_used == tuple(n for n in recognizer.modality_names if kwargs.get(n) is not None)


def run_property(backend: str, examples: int, tmp_path_factory) -> None:
    recognizer = recognizer_for(backend, tmp_path_factory)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(kwargs=predict_kwargs(recognizer.spec))
    def property_holds(kwargs):
        check_one(recognizer, kwargs)

    property_holds()


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_gives_a_result_or_an_input_error(backend, tmp_path_factory):
    run_property(backend, 50, tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_gives_a_result_or_an_input_error_500_examples(backend, tmp_path_factory):
    run_property(backend, 500, tmp_path_factory)
