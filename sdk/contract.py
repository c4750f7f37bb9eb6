"""Cross-language contract: test vectors that the Python SDK, the Kotlin core and the Swift core all pass.

    python -m sdk.contract --out contract/          # (re)generate the vectors
    python -m sdk.contract --check contract/        # the Python SDK against the files
    python -m sdk.contract --golden dist/live       # every exported artifact against its golden file (sdk.golden)

Every expected value is computed by the SDK's own code (export.manifest.build_manifest,
sdk.inputs.InputPreparer, sdk.tokenizer.WordTokenizer, sdk.runtime.recognizer.result_from_outputs,
sdk.bench.latency_stats, sdk.energy.energy_per_inference, sdk.runtime.streaming.ModalityWindows,
sdk.face.crop_face, sdk.vad; manifest_parsing.json: sdk.spec.ModelSpec.from_dict);
the inputs are drawn from fixed seeds and chosen to be exact in float32 (multiples of
1/32), so regenerating gives byte-identical files. contract/README.md describes the
format for the other languages.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from export.manifest import build_manifest
from sdk.atomic import write_text
from sdk.bench import StatsError, latency_stats
from sdk.data.synthetic import CLASS_NAMES as SYNTHETIC_CLASSES
from sdk.data.synthetic import LIVE_CLASS_NAMES
from sdk.data.synthetic import synthetic_modalities
from sdk.energy import EnergyError, energy_per_inference
from sdk.inputs import InputError, InputPreparer
from sdk.runtime.recognizer import result_from_outputs, top_k
from sdk.runtime.streaming import ModalityWindows
from sdk.spec import FEATURES, FRAMES, TOKENS, WAVEFORM, ModalitySpec, ModelSpec, Normalization
from sdk.tokenizer import WordTokenizer

CONTRACT_VERSION = 1
#: A golden file in the exact per-artifact format (sdk.golden) for the Kotlin/Swift golden checkers' unit tests.
GOLDEN_EXAMPLE = "golden/example.golden.json"
FILES = ("input_packing.json", "tokenizer.json", "results.json", "latency_stats.json", "energy.json",
         "ring_buffer.json", "face_crop.json", "vad.json", "manifest_parsing.json", GOLDEN_EXAMPLE)
#: |actual - expected| <= abs + rel * |expected| for every float in a file.
TOLERANCE = {"abs": 1e-6, "rel": 1e-6}
TOOLS_NOTE = {"emoedge": "contract vectors: a manifest from build_manifest without an artifact"}


# ------------------------------------------------------------------ manifests
def _grid(rng: np.random.Generator, shape, low: int = -96, high: int = 96) -> np.ndarray:
    """Values exact in float32 and short in JSON: integers / 32."""
    return (rng.integers(low, high, size=shape) / 32.0).astype(np.float32)


def _normalization(rng: np.random.Generator, n: int) -> Normalization:
    mean = (rng.integers(-64, 64, size=n) / 16.0).tolist()
    std = (rng.integers(1, 32, size=n) / 8.0).tolist()
    return Normalization(mean=[float(v) for v in mean], std=[float(v) for v in std])


def features_spec() -> ModelSpec:
    """Like MOSI (three float-feature modalities + presence), small, with different sequence lengths.
    The audio statistics include MOSI's constant-feature std (1e-6), which magnifies values."""
    rng = np.random.default_rng(1)
    audio = ModalitySpec("audio", FEATURES, 4, feature_dim=5, normalization=_normalization(rng, 5))
    audio.normalization.std[2] = 1e-6
    video = ModalitySpec("video", FEATURES, 4, feature_dim=3, normalization=_normalization(rng, 3))
    text = ModalitySpec("text", FEATURES, 3, feature_dim=6, normalization=_normalization(rng, 6))
    return ModelSpec([audio, video, text], ["negative", "positive"], pooling="last", dataset="contract_features")


def tokens_spec() -> ModelSpec:
    """The synthetic set's modalities (audio features, video frames, text tokens with its
    vocabulary) with normalization statistics like a trained model's."""
    rng = np.random.default_rng(2)
    audio, video, text = synthetic_modalities()
    audio.normalization = _normalization(rng, audio.feature_dim)
    video.normalization = _normalization(rng, video.channels)
    return ModelSpec([audio, video, text], list(SYNTHETIC_CLASSES), dataset="contract_tokens")


def _mel_normalization(rng: np.random.Generator, n: int) -> Normalization:
    """Per-mel-band log-mel statistics like a trained live model's (mean below 0, std around 1)."""
    mean = (rng.integers(-160, 0, size=n) / 16.0).tolist()
    std = (rng.integers(4, 40, size=n) / 8.0).tolist()
    return Normalization(mean=[float(v) for v in mean], std=[float(v) for v in std])


#: A small vocabulary for the live contract manifests (0 <pad>, 1 <unk>, 2 <sep>).
LIVE_VOCABULARY = ["<pad>", "<unk>", "<sep>", "i", "am", "so", "happy", "sad", "angry", "today", "not", "."]


def live_small_spec() -> ModelSpec:
    """The live model's kinds (waveform, face frames normalized in the graph, tokens) at a small size:
    a 480-sample window and 8x8 frames keep the packing vectors short."""
    rng = np.random.default_rng(4)
    audio = ModalitySpec("audio", WAVEFORM, 480, sample_rate=16000, normalization=_mel_normalization(rng, 64))
    video = ModalitySpec("video", FRAMES, 1, channels=1, height=8, width=8, normalize_in_graph=True, encoder="face",
                         normalization=_normalization(rng, 1))
    text = ModalitySpec("text", TOKENS, 6, vocabulary=list(LIVE_VOCABULARY))
    return ModelSpec([audio, video, text], list(LIVE_CLASS_NAMES), dataset="contract_live_small")


def live_spec() -> ModelSpec:
    """The live model's real input sizes: 3 s of 16 kHz PCM, one 48x48 gray face (sdk.face.FACE_SIZE), 24 tokens."""
    rng = np.random.default_rng(5)
    audio = ModalitySpec("audio", WAVEFORM, 48000, sample_rate=16000, normalization=_mel_normalization(rng, 64))
    video = ModalitySpec("video", FRAMES, 1, channels=1, height=48, width=48, normalize_in_graph=True,
                         encoder="face", normalization=_normalization(rng, 1))
    text = ModalitySpec("text", TOKENS, 24, vocabulary=list(LIVE_VOCABULARY))
    return ModelSpec([audio, video, text], list(LIVE_CLASS_NAMES), dataset="contract_live")


MANIFESTS = {
    "features_small.json": (features_spec, "executorch", "model_fp32.pte"),
    "synthetic_tokens.json": (tokens_spec, "onnx", "model_fp32.onnx"),
    # LiteRT: its manifest lists the token input as int32 (the converter narrows int64 inputs).
    "live_small.json": (live_small_spec, "litert", "model_fp32.tflite"),
    "live.json": (live_spec, "executorch", "model_fp32.pte"),
}


def manifests() -> dict[str, dict]:
    return {name: build_manifest(make(), fmt, "fp32", artifact, tools=TOOLS_NOTE,
                                 notes={"contract": "test-vector manifest; no artifact, so no sha256/size_bytes"})
            for name, (make, fmt, artifact) in MANIFESTS.items()}


def spec_of(manifest: dict) -> ModelSpec:
    return ModelSpec.from_dict(manifest["spec"])


# ------------------------------------------------------------------ encoding helpers
def _float(x) -> float | str:
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def tensor(x: np.ndarray) -> dict:
    x = np.asarray(x)
    data = x.reshape(-1).tolist() if x.dtype.kind in "iu" else [_float(v) for v in x.reshape(-1)]
    return {"shape": list(x.shape), "dtype": "int64" if x.dtype.kind in "iu" else "float32", "data": data}


def untensor(t: dict) -> np.ndarray:
    dtype = {"int64": np.int64, "int16": np.int16}.get(t["dtype"], np.float32)  # int16: raw PCM
    return np.asarray([float(v) if isinstance(v, str) else v for v in t["data"]], dtype=dtype).reshape(t["shape"])


def decode_raw(raw: dict | None):
    """A raw input of a packing case -> what InputPreparer takes (None, str or array)."""
    if raw is None:
        return None
    if "text" in raw:
        return raw["text"]
    return untensor(raw)


# ------------------------------------------------------------------ input packing
def packing_expected(spec: ModelSpec, raw: dict) -> dict:
    try:
        arrays, presence = InputPreparer(spec).arrays(**{k: decode_raw(v) for k, v in raw.items()})
    except InputError as err:
        return {"error": err.kind}
    names = [*spec.modality_names, "presence"]
    return {"inputs": {n: tensor(x) for n, x in zip(names, [*arrays, presence])}}


def packing_cases(specs: dict[str, ModelSpec]) -> list[dict]:
    rng = np.random.default_rng(10)
    f, t = specs["features_small.json"], specs["synthetic_tokens.json"]
    fa, fv, ft = f.modalities
    ta, tv, tt = t.modalities

    def raw(m: ModalitySpec, steps: int) -> dict:
        return tensor(_grid(rng, (steps, *m.step_shape())))

    def ids(values) -> dict:
        return tensor(np.asarray(values, dtype=np.int64))

    nan_audio = raw(fa, 2)
    nan_audio["data"][3] = "NaN"
    overflow_audio = raw(fa, 1)
    overflow_audio["data"][2] = 3.0e38  # the std-1e-6 feature: (3e38 - mean) / 1e-6 overflows float32
    cases = [
        ("all present, exact lengths", "features_small.json",
         {"audio": raw(fa, 4), "video": raw(fv, 4), "text": raw(ft, 3)}),
        ("audio short (left-padded after normalization), video long (last steps kept), text absent",
         "features_small.json", {"audio": raw(fa, 2), "video": raw(fv, 6), "text": None}),
        ("only video present; absent modalities may also be left out", "features_small.json",
         {"video": raw(fv, 1)}),
        ("one step of text only", "features_small.json", {"audio": None, "video": None, "text": raw(ft, 1)}),
        ("every modality absent", "features_small.json", {"audio": None, "video": None, "text": None}),
        ("nothing given at all", "features_small.json", {}),
        ("zero steps is not absence", "features_small.json",
         {"audio": {"shape": [0, 5], "dtype": "float32", "data": []}, "video": raw(fv, 2)}),
        ("wrong feature dimension", "features_small.json", {"audio": raw(fv, 2)}),
        ("NaN in a present modality", "features_small.json", {"audio": nan_audio}),
        ("overflow after normalization", "features_small.json", {"audio": overflow_audio}),
        ("unknown modality name", "features_small.json", {"audio": raw(fa, 1), "speech": raw(fa, 1)}),
        ("text as a string, video absent", "synthetic_tokens.json",
         {"audio": raw(ta, 16), "video": None, "text": {"text": "Zuli brisk, the YAYO!"}}),
        ("text ids shorter than seq_len, frames normalized per channel", "synthetic_tokens.json",
         {"audio": None, "video": raw(tv, 2), "text": ids([3, 4, 5])}),
        ("text ids longer than seq_len keep the last ones", "synthetic_tokens.json",
         {"text": ids(list(range(3, 17)))}),
        ("text string longer than seq_len is refused", "synthetic_tokens.json",
         {"text": {"text": "krax vorg tusk zarn grok krax vorg tusk zarn grok krax"}}),
        ("text with no words", "synthetic_tokens.json", {"audio": raw(ta, 3), "text": {"text": "   "}}),
        ("token id outside the vocabulary", "synthetic_tokens.json", {"text": ids([3, tt.vocab_size])}),
        ("text given to a feature modality", "features_small.json", {"text": {"text": "hello"}}),
        ("all three, audio longer than seq_len", "synthetic_tokens.json",
         {"audio": raw(ta, 20), "video": raw(tv, 6), "text": {"text": "glimo … it’s so"}}),
    ]
    cases += live_packing_cases(specs["live_small.json"])
    return [{"name": name, "manifest": manifest, "raw": inputs,
             "expected": packing_expected(specs[manifest], inputs)} for name, manifest, inputs in cases]


def live_packing_cases(spec: ModelSpec) -> list[tuple[str, str, dict]]:
    """Waveform PCM (float, and int16 scaled by 1/32768) cut to or left-padded to the window, raw
    0..255 face frames (normalized in the graph, so not by the packer), text."""
    rng = np.random.default_rng(11)
    video = spec.modality("video")

    def pcm(t: int) -> dict:
        return tensor(rng.integers(-32, 33, size=t) / 32.0)

    def pcm16(t: int) -> dict:
        return {"shape": [t], "dtype": "int16", "data": rng.integers(-32768, 32768, size=t).tolist()}

    def face() -> dict:
        return tensor(rng.integers(0, 256, size=(1, 1, video.height, video.width)).astype(np.float32))

    nan = pcm(20)
    nan["data"][7] = "NaN"
    m = "live_small.json"
    return [
        ("live: float PCM shorter than the window is left-padded", m,
         {"audio": pcm(100), "video": face(), "text": {"text": "I am so happy"}}),
        ("live: float PCM longer than the window keeps the last samples", m,
         {"audio": pcm(600), "video": None, "text": None}),
        ("live: int16 PCM is divided by 32768", m, {"audio": pcm16(300), "video": None, "text": {"text": "not sad today"}}),
        ("live: long int16 PCM keeps the last samples", m, {"audio": pcm16(1000), "video": face()}),
        ("live: PCM of exactly the window", m, {"audio": pcm(480)}),
        ("live: a face frame goes in raw (normalized in the graph)", m, {"video": face()}),
        ("live: text only", m, {"audio": None, "text": {"text": "angry ."}}),
        ("live: zero samples is not absence", m, {"audio": pcm(0)}),
        ("live: NaN in PCM", m, {"audio": nan}),
        ("live: text longer than the window is refused", m, {"text": {"text": "i am so happy today not sad"}}),
        ("live: every modality absent", m, {"audio": None, "video": None, "text": None}),
    ]


def check_packing(case: dict, specs: dict[str, ModelSpec]) -> list[str]:
    spec = specs[case["manifest"]]
    actual = packing_expected(spec, case["raw"])
    expected = case["expected"]
    if "error" in expected or "error" in actual:
        return [] if actual.get("error") == expected.get("error") else [
            f"error {actual.get('error')!r}, expected {expected.get('error')!r}"]
    problems = []
    for name, t in expected["inputs"].items():
        got = actual["inputs"][name]
        if got["shape"] != t["shape"] or got["dtype"] != t["dtype"]:
            problems.append(f"{name}: {got['shape']} {got['dtype']}, expected {t['shape']} {t['dtype']}")
        elif not _close(untensor(got), untensor(t)):
            problems.append(f"{name}: values differ")
    return problems


# ------------------------------------------------------------------ tokenizer
TOKENIZER_TEXTS = [
    ("zuli brisk the yayo", 10),
    ("ZULI, Brisk!", 10),
    ("it\u2019s so\u2026", 10),
    ("don't-stop", 10),
    ("rock'n'roll 'quoted' it''s", 10),
    ("wait... what?!....", 10),
    ("\u201cquoted\u201d \u2014 dash \u2013 en\u2010dash", 10),
    ("tab\tand\nnewline  spaces\u00a0nbsp", 10),
    ("caf\u00e9 na\u00efve \u00fcber stra\u00dfe", 10),
    ("a_b 42 x2 3.14", 10),
    ("", 10),
    ("   ", 4),
    ("krax vorg tusk zarn grok krax vorg tusk zarn grok krax vorg", 10),
    ("the a and", 2),
    ("plim dovo", 1),
]
DIALOGUES = [
    (["zuli brisk", "so then"], "krax!", 10),
    ([], "the end", 4),
    (["morun dreff lusk welo ghom", "plim"], "a b c d", 6),
]


def tokenizer_cases(vocabulary: list[str]) -> list[dict]:
    tok = WordTokenizer.from_vocabulary(vocabulary)
    cases = []
    for text, max_len in TOKENIZER_TEXTS:
        padded, n = tok.encode(text, max_len)
        cases.append({"text": text, "max_len": max_len, "expected": {
            "tokens": tok.tokenize(text), "ids": tok.ids(text), "padded": padded.tolist(), "valid": n}})
    for context, target, max_len in DIALOGUES:
        padded, n = tok.encode_dialogue(context, target, max_len)
        cases.append({"context": context, "text": target, "max_len": max_len,
                      "expected": {"padded": padded.tolist(), "valid": n}})
    return cases


def check_tokenizer(case: dict, vocabulary: list[str]) -> list[str]:
    tok = WordTokenizer.from_vocabulary(vocabulary)
    exp = case["expected"]
    if "context" in case:
        padded, n = tok.encode_dialogue(case["context"], case["text"], case["max_len"])
        got = {"padded": padded.tolist(), "valid": n}
    else:
        padded, n = tok.encode(case["text"], case["max_len"])
        got = {"tokens": tok.tokenize(case["text"]), "ids": tok.ids(case["text"]), "padded": padded.tolist(),
               "valid": n}
    return [f"{k}: {got[k]!r}, expected {exp[k]!r}" for k in exp if got[k] != exp[k]]


# ------------------------------------------------------------------ softmax, top-k, results
def results_expected(manifest: dict, logits, gates, presence, k: int) -> dict:
    result = result_from_outputs(manifest["class_names"], manifest["modalities"], np.asarray(logits, np.float32),
                                 np.asarray(gates, np.float32), np.asarray(presence, np.float32))
    probabilities = [result.probabilities[c] for c in manifest["class_names"]]
    return {"probabilities": probabilities, "top_k": top_k(probabilities, k), "label": result.label,
            "gate_weights": result.gate_weights, "modalities_used": list(result.modalities_used)}


def results_cases(manifests: dict[str, dict]) -> list[dict]:
    raw = [
        ("ordinary", "features_small.json", [0.25, 1.5], [0.5, 0.25, 0.25], [1, 1, 1], 2),
        ("a tie keeps the lower index first", "synthetic_tokens.json", [2.0, 3.0, 3.0, -1.0], [0.5, 0.0, 0.5],
         [1, 0, 1], 4),
        ("large logits (subtract the max first)", "synthetic_tokens.json", [1000.0, -1000.0, 999.0, 0.0],
         [0.25, 0.5, 0.25], [1, 1, 1], 2),
        ("equal logits: uniform", "synthetic_tokens.json", [-7.5, -7.5, -7.5, -7.5], [1.0, 0.0, 0.0], [1, 0, 0], 1),
        ("negative logits, one modality absent", "features_small.json", [-3.25, -0.5], [0.0, 0.625, 0.375],
         [0, 1, 1], 1),
        ("float32 logits from a model", "synthetic_tokens.json", [0.1234567, -2.7182817, 1.4142135, 0.5772157],
         [0.3333333, 0.3333333, 0.3333334], [1, 1, 1], 3),
    ]
    return [{"name": name, "manifest": m, "logits": lg, "gate_weights": g, "presence": p, "k": k,
             "expected": results_expected(manifests[m], lg, g, p, k)} for name, m, lg, g, p, k in raw]


def check_results(case: dict, manifests: dict[str, dict]) -> list[str]:
    got = results_expected(manifests[case["manifest"]], case["logits"], case["gate_weights"], case["presence"],
                           case["k"])
    exp = case["expected"]
    problems = [f"{k}: {got[k]!r}, expected {exp[k]!r}" for k in ("top_k", "label", "modalities_used")
                if got[k] != exp[k]]
    if not _close(got["probabilities"], exp["probabilities"]):
        problems.append(f"probabilities {got['probabilities']}, expected {exp['probabilities']}")
    if not _close(list(got["gate_weights"].values()), list(exp["gate_weights"].values())):
        problems.append("gate weights differ")
    return problems


# ------------------------------------------------------------------ latency statistics
def latency_expected(samples) -> dict:
    try:
        return latency_stats(samples)
    except StatsError as err:
        return {"error": err.kind}


def latency_cases() -> list[dict]:
    rng = np.random.default_rng(20)
    raw = [
        ("one sample", [4.25]),
        ("two samples", [2.0, 1.0]),
        ("unsorted with duplicates", [5.0, 1.0, 3.0, 3.0, 2.0, 8.0, 3.0]),
        ("ten samples", [float(v) for v in range(10, 0, -1)]),
        ("a long tail (100 samples)", [round(float(v), 3) for v in np.concatenate(
            [rng.normal(12.0, 0.5, 95), rng.normal(40.0, 5.0, 5)])]),
        ("1000 samples", [round(float(v), 3) for v in rng.gamma(4.0, 2.0, 1000)]),
        ("no samples", []),
    ]
    return [{"name": name, "samples_ms": s, "expected": latency_expected(s)} for name, s in raw]


def check_latency(case: dict) -> list[str]:
    got, exp = latency_expected(case["samples_ms"]), case["expected"]
    if "error" in exp or "error" in got:
        return [] if got.get("error") == exp.get("error") else [f"{got}, expected {exp}"]
    return [f"{k}: {got[k]}, expected {exp[k]}" for k in exp if not _close([got[k]], [exp[k]])]


# ------------------------------------------------------------------ energy
def energy_expected(run, idle, iterations) -> dict:
    try:
        return energy_per_inference(run, idle, iterations)
    except EnergyError as err:
        return {"error": err.kind}


def _samples(times_ms, currents_ua, voltages_mv) -> list[dict]:
    return [{"t_ms": float(t), "current_ua": float(c), "voltage_mv": float(v)}
            for t, c, v in zip(times_ms, currents_ua, voltages_mv)]


def energy_cases() -> list[dict]:
    rng = np.random.default_rng(30)
    t = np.arange(0, 10001, 1000)
    constant_run = _samples(t, [-500000] * len(t), [4000] * len(t))  # 0.5 A discharging at 4 V = 2 W
    constant_idle = _samples(t, [-125000] * len(t), [4000] * len(t))  # 0.5 W
    jitter_t = np.cumsum(rng.integers(80, 130, size=60)).astype(float)
    noisy_run = _samples(jitter_t, rng.integers(300000, 700000, size=60), rng.integers(3800, 4200, size=60))
    idle_t = np.cumsum(rng.integers(200, 300, size=12)).astype(float)
    noisy_idle = _samples(idle_t, rng.integers(100000, 200000, size=12), rng.integers(3900, 4100, size=12))
    raw = [
        ("constant 2 W run, 0.5 W idle, same length", constant_run, constant_idle, 100),
        ("positive current sign (vendor convention) gives the same energy",
         [dict(s, current_ua=-s["current_ua"]) for s in constant_run], constant_idle, 100),
        ("irregular sampling, shorter idle baseline", noisy_run, noisy_idle, 250),
        ("idle drew more than the run: negative, flagged, not clipped", constant_idle, constant_run, 10),
        ("one run sample", constant_run[:1], constant_idle, 10),
        ("timestamps out of order", [constant_run[1], constant_run[0], constant_run[2]], constant_idle, 10),
        ("zero iterations", constant_run, constant_idle, 0),
    ]
    return [{"name": name, "run_samples": r, "idle_samples": i, "iterations": n,
             "expected": energy_expected(r, i, n)} for name, r, i, n in raw]


def check_energy(case: dict) -> list[str]:
    got = energy_expected(case["run_samples"], case["idle_samples"], case["iterations"])
    exp = case["expected"]
    if "error" in exp or "error" in got:
        return [] if got.get("error") == exp.get("error") else [f"{got}, expected {exp}"]
    return [f"{k}: {got[k]}, expected {exp[k]}" for k in exp
            if (got[k] != exp[k] if isinstance(exp[k], bool) else not _close([got[k]], [exp[k]]))]


# ------------------------------------------------------------------ ring buffer / streaming windows
def run_ring_buffer(spec: ModelSpec, stale_after_ms, operations: list[dict]) -> list[Any]:
    """Apply the operations; the observed value of each (a window dict, an error kind, or None)."""
    windows = ModalityWindows(spec.modalities, stale_after_ms)
    observed = []
    for op in operations:
        if op["op"] == "push":
            try:
                windows.add(op["modality"], untensor(op["steps"]), op["t_ms"])
                observed.append(None)
            except InputError as err:
                observed.append({"error": err.kind})
        elif op["op"] == "clear":
            windows.clear(op.get("modality"))
            observed.append(None)
        else:
            observed.append({name: None if w is None else tensor(w)
                             for name, w in windows.windows(op["t_ms"]).items()})
    return observed


def ring_buffer_cases(specs: dict[str, ModelSpec]) -> list[dict]:
    f, t = specs["features_small.json"], specs["synthetic_tokens.json"]

    def step(m: ModalitySpec, value: float, k: int = 1) -> dict:
        return tensor(np.asarray([[value + i / 4 + j / 32 for j in range(m.feature_dim)] for i in range(k)],
                                 np.float32))

    ops: list[dict] = []
    audio, video, text = f.modalities
    for i in range(10):  # audio every 10 ms, video every 40 ms, text twice with several steps
        ops.append({"op": "push", "modality": "audio", "steps": step(audio, i), "t_ms": 10.0 * i})
        if i % 4 == 0:
            ops.append({"op": "push", "modality": "video", "steps": step(video, 100 + i), "t_ms": 10.0 * i})
        if i == 2:
            ops.append({"op": "push", "modality": "text", "steps": step(text, 200, 2), "t_ms": 20.0})
        if i in (3, 6, 9):
            ops.append({"op": "windows", "t_ms": 10.0 * i})
    ops.append({"op": "push", "modality": "text", "steps": step(text, 300, 5), "t_ms": 95.0})
    ops.append({"op": "windows", "t_ms": 100.0})
    ops.append({"op": "windows", "t_ms": 130.0})  # all fresh
    ops.append({"op": "windows", "t_ms": 175.0})  # video (last push 80 ms) stale: 95 > 90
    ops.append({"op": "windows", "t_ms": 185.0})  # audio (90) stale; text (95) exactly 90 ms old: still fresh
    ops.append({"op": "push", "modality": "audio", "steps": step(audio, 50), "t_ms": 60.0})  # older: refused
    ops.append({"op": "clear", "modality": "audio"})
    ops.append({"op": "windows", "t_ms": 100.0})
    ops.append({"op": "push", "modality": "audio", "steps": step(audio, 60, 6), "t_ms": 50.0})  # after clear, older is ok
    ops.append({"op": "windows", "t_ms": 100.0})
    ops.append({"op": "clear"})
    ops.append({"op": "windows", "t_ms": 100.0})

    token_ops = [
        {"op": "push", "modality": "text", "steps": tensor(np.asarray([3, 4, 5], np.int64)), "t_ms": 0.0},
        {"op": "windows", "t_ms": 0.0},
        {"op": "push", "modality": "text", "steps": tensor(np.arange(6, 16, dtype=np.int64)), "t_ms": 500.0},
        {"op": "push", "modality": "audio", "steps": tensor(np.full((3, 12), 0.5, np.float32)), "t_ms": 510.0},
        {"op": "windows", "t_ms": 600.0},
        {"op": "push", "modality": "text", "steps": tensor(np.asarray([20], np.int64)), "t_ms": 700.0},
        {"op": "windows", "t_ms": 1e6},
    ]
    cases = [("three feature modalities at different rates, stale after 90 ms", "features_small.json", 90.0, ops),
             ("token ids slide through the window; never stale", "synthetic_tokens.json", None, token_ops)]
    out = []
    for name, manifest, stale, operations in cases:
        observed = run_ring_buffer(specs[manifest], stale, operations)
        for op, seen in zip(operations, observed):
            if seen is not None:
                op["expected"] = seen
        out.append({"name": name, "manifest": manifest, "stale_after_ms": stale, "operations": operations})
    return out


def check_ring_buffer(case: dict, specs: dict[str, ModelSpec]) -> list[str]:
    observed = run_ring_buffer(specs[case["manifest"]], case["stale_after_ms"], case["operations"])
    problems = []
    for i, (op, seen) in enumerate(zip(case["operations"], observed)):
        if op.get("expected") != seen:
            problems.append(f"operation {i} ({op['op']} at {op.get('t_ms')} ms): {seen}, expected {op.get('expected')}")
    return problems


# ------------------------------------------------------------------ face crop rule (sdk.face)
def face_crop_cases() -> list[dict]:
    """sdk.face.crop_face on fixed images: gray / RGB / RGBA; box inside, fractional, partly
    outside (edge clamp), smaller than 48 (upscale) and larger (downscale); a zero-width box."""
    from sdk.face import crop_face

    rng = np.random.default_rng(16)
    small = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    rgb = rng.integers(0, 256, (18, 22, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    large = rng.integers(0, 256, (60, 64), dtype=np.uint8)
    cases = []
    for name, image, box in (("gray, box inside (upscale)", small, [4.0, 3.0, 12.0, 14.0]),
                             ("gray, fractional box", small, [2.25, 1.5, 10.75, 9.5]),
                             ("gray, box partly outside (edge clamp)", small, [-5.0, 10.0, 16.0, 16.0]),
                             ("rgb, box inside", rgb, [3.0, 2.0, 14.0, 12.0]),
                             ("rgba, alpha ignored, box past the right edge", rgba, [8.5, 0.0, 12.0, 12.0]),
                             ("gray, box larger than 48 (downscale)", large, [3.0, 2.0, 56.0, 54.0]),
                             ("gray, zero-width box", small, [4.0, 3.0, 0.0, 10.0])):
        channels = 1 if image.ndim == 2 else image.shape[2]
        case = {"name": name, "image": {"height": int(image.shape[0]), "width": int(image.shape[1]),
                                        "channels": channels, "data": image.reshape(-1).tolist()}, "box": box}
        try:
            crop = crop_face(image, box)
            case["expected"] = {"shape": list(crop.shape), "data": crop.reshape(-1).tolist()}
        except ValueError:
            case["expected"] = {"error": "invalid_box"}
        cases.append(case)
    return cases


def check_face_crop(case: dict) -> list[str]:
    from sdk.face import crop_face

    img = case["image"]
    shape = (img["height"], img["width"]) + (() if img["channels"] == 1 else (img["channels"],))
    image = np.asarray(img["data"], np.uint8).reshape(shape)
    try:
        crop = crop_face(image, case["box"])
    except ValueError:
        return [] if case["expected"] == {"error": "invalid_box"} else ["raised invalid_box"]
    if "error" in case["expected"]:
        return [f"expected error {case['expected']['error']}, got a crop"]
    if list(crop.shape) != case["expected"]["shape"] or crop.reshape(-1).tolist() != case["expected"]["data"]:
        return ["crop bytes differ"]
    return []


# ------------------------------------------------------------------ VAD decisions (sdk.vad)
#: Silero VAD's probabilities depend on the runtime's float kernels: compared with this tolerance.
VAD_TOLERANCE = {"abs": 2e-3, "rel": 0.0}


def vad_cases() -> list[dict]:
    """Silero VAD (sdk.vad) on fixed 16 kHz int16 PCM -> per-frame probabilities and the decision;
    and the segment rule on fixed probability sequences -> segments and the decision."""
    from sdk import vad

    rng = np.random.default_rng(16)
    t = np.arange(8000) / 16000.0
    signals = {
        "silence 0.5 s": np.zeros(8000, np.int16),
        "white noise 0.5 s at -40 dBFS": np.round(rng.normal(0, 328, 8000)).astype(np.int16),
        "220 Hz tone 0.5 s at -10 dBFS": np.round(10362 * np.sin(2 * np.pi * 220 * t)).astype(np.int16),
        "clicks 0.6 s (one per 100 ms), last frame zero-padded": np.where(np.arange(9600) % 1600 == 0, 20000,
                                                                          0).astype(np.int16),
    }
    cases = []
    for name, pcm in signals.items():
        x = pcm.astype(np.float32) / np.float32(32768.0)
        speech, probs = vad.detect(x)
        pcm_json = {"shape": [len(pcm)], "dtype": "int16", "data": pcm.tolist()}
        cases.append({"name": name, "pcm": pcm_json, "expected": {
            "probabilities": [round(float(p), 6) for p in probs], "speech": speech,
            "segments": [[s.start_frame, s.end_frame] for s in vad.segments(probs)]}})
    rules = {
        "8 frames >= 250 ms: speech": [0.0] * 3 + [0.9] * 8 + [0.0] * 5,
        "7 frames < 250 ms: dropped": [0.0] * 3 + [0.9] * 7 + [0.0] * 5,
        "a 2-frame dip (< 100 ms) does not split": [0.9] * 5 + [0.1] * 2 + [0.9] * 5 + [0.0] * 6,
        "a 4-frame gap splits; the short second part is dropped": [0.9] * 9 + [0.1] * 4 + [0.9] * 6,
        "0.4 (between 0.35 and 0.5) neither starts nor ends": [0.4] * 20 + [0.6] + [0.4] * 10 + [0.0] * 4,
        "speech running to the end": [0.0] * 2 + [0.55] * 10,
        "exactly 0.5 starts, exactly 0.35 continues": [0.5] + [0.35] * 9 + [0.2] * 4,
    }
    for name, probs in rules.items():
        cases.append({"name": name, "probabilities": probs, "expected": {
            "speech": vad.has_speech(np.asarray(probs)),
            "segments": [[s.start_frame, s.end_frame] for s in vad.segments(np.asarray(probs))]}})
    return cases


def check_vad(case: dict) -> list[str]:
    from sdk import vad

    expected = case["expected"]
    if "pcm" in case:
        x = np.asarray(case["pcm"]["data"], np.int16).astype(np.float32) / np.float32(32768.0)
        speech, probs = vad.detect(x)
        problems = []
        e = np.asarray(expected["probabilities"], np.float64)
        if probs.shape != e.shape or np.abs(probs - e).max() > VAD_TOLERANCE["abs"]:
            problems.append("probabilities differ")
        seen = {"speech": speech, "segments": [[s.start_frame, s.end_frame] for s in vad.segments(probs)]}
    else:
        probs = np.asarray(case["probabilities"], np.float64)
        problems = []
        seen = {"speech": vad.has_speech(probs),
                "segments": [[s.start_frame, s.end_frame] for s in vad.segments(probs)]}
    for key, value in seen.items():
        if value != expected[key]:
            problems.append(f"{key}: {value}, expected {expected[key]}")
    return problems


# ------------------------------------------------------------------ manifest parsing
def manifest_facts(manifest: dict) -> dict:
    """What Python reads from a manifest: format, classes, input dtypes, and per modality its kind,
    shapes and waveform/face fields (the mobile parsers must read the same)."""
    spec = spec_of(manifest)
    modalities = [{"name": m.name, "kind": m.kind, "seq_len": m.seq_len, "step_shape": list(m.step_shape()),
                   "input_shape": [1, *m.input_shape()], "sample_rate": m.sample_rate, "win_length": m.win_length,
                   "hop_length": m.hop_length, "n_mels": m.n_mels, "fmin": float(m.fmin), "fmax": float(m.fmax),
                   "n_frames": m.n_frames, "normalize_in_graph": m.normalize_in_graph, "encoder": m.encoder,
                   "normalization_size": len(m.normalization.mean)} for m in spec.modalities]
    return {"format": manifest["format"], "class_names": list(spec.class_names),
            "input_dtypes": {i["name"]: i["dtype"] for i in manifest["inputs"]}, "modalities": modalities}


def check_manifest_parsing(case: dict, manifests_by_name: dict[str, dict]) -> list[str]:
    actual = manifest_facts(manifests_by_name[case["manifest"]])
    return [] if actual == case["expected"] else [f"{actual}, expected {case['expected']}"]


# ------------------------------------------------------------------ golden example
def golden_example() -> dict:
    """A golden file for the live_small manifest's inputs (int16 PCM, an 8x8 face of 0..255 pixels,
    token ids) whose expected outputs come from `sdk.golden.toy_outputs`, not a model, and whose
    sha256 is that of `sdk.golden.EXAMPLE_ARTIFACT_BYTES`: the mobile cores test their golden parser
    and checker on it without a runtime (the real files are written by `python -m export`)."""
    import hashlib

    from sdk import golden
    from sdk.runtime.tensors import softmax

    spec = live_small_spec()
    rng = np.random.default_rng(7)
    samples = []
    for k in range(2):
        audio = (rng.integers(-8000, 8000, size=(1, 480)) / 32768.0).astype(np.float32)
        face = rng.integers(0, 256, size=(1, 1, 1, 8, 8)).astype(np.float32)
        text = np.concatenate([np.zeros(2 - k, np.int64), rng.integers(3, len(LIVE_VOCABULARY), size=4 + k)])
        arrays = [audio, face, text.reshape(1, -1).astype(np.int64)]
        samples.append({"name": f"example_{k}", "inputs": {m.name: golden.encode_input(x, pcm=m.kind == WAVEFORM)
                                                            for m, x in zip(spec.modalities, arrays)}})
    cases = []
    for k, sample in enumerate(samples):
        for name, presence in golden.presence_patterns(spec):
            doc = {"modalities": spec.modality_names, "samples": samples}
            inputs = golden.Golden(Path(GOLDEN_EXAMPLE), doc).case_inputs({"sample": k, "presence": presence})
            logits, gates = golden.toy_outputs(inputs, spec.num_classes)
            probs = softmax(logits)[0]
            cases.append({"name": f"{sample['name']}/{name}", "sample": k, "presence": presence,
                          "expected": {"probabilities": probs.tolist(), "gate_weights": gates[0].tolist(),
                                       "top1": int(np.argmax(probs))}})
    sha = hashlib.sha256(golden.EXAMPLE_ARTIFACT_BYTES).hexdigest()
    doc = golden.build("example.bin", "litert", "fp32", sha, spec.class_names, spec.modality_names, samples, cases)
    doc["reference"] = "sdk.golden.toy_outputs (a stand-in, not a model: for testing golden parsers and checkers)"
    return doc


def check_golden_example(doc: dict, path: Path) -> list[str]:
    """The Python golden checker (sdk.golden.compare) on the example, run by its toy function."""
    from sdk import golden

    loaded = golden.Golden(path, doc)
    return golden.compare(loaded, lambda xs: golden.toy_outputs(xs, len(doc["class_names"]))).problems


# ------------------------------------------------------------------ files
def _close(actual, expected) -> bool:
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if a.shape != e.shape:
        return False
    same_special = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    finite = np.isfinite(e) & np.isfinite(a)
    ok = np.abs(a - e) <= TOLERANCE["abs"] + TOLERANCE["rel"] * np.abs(e)
    return bool(np.all(same_special | (finite & ok)))


def generate() -> dict[str, Any]:
    """Every contract file: relative path -> JSON-able content."""
    mans = manifests()
    specs = {name: spec_of(m) for name, m in mans.items()}
    header = {"contract_version": CONTRACT_VERSION, "tolerance": TOLERANCE}
    vocabulary = specs["synthetic_tokens.json"].modality("text").vocabulary
    files: dict[str, Any] = {f"manifests/{name}": m for name, m in mans.items()}
    files["input_packing.json"] = {**header, "about": "raw per-modality inputs -> the model's inputs (normalized, "
                                   "left-padded / truncated, presence mask) or an error kind",
                                   "cases": packing_cases(specs)}
    files["tokenizer.json"] = {**header, "about": "text -> tokens, ids, left-padded ids keeping the last max_len",
                               "manifest": "synthetic_tokens.json", "vocabulary": vocabulary,
                               "cases": tokenizer_cases(vocabulary)}
    files["results.json"] = {**header, "about": "model outputs -> probabilities (softmax), top-k, label, gates",
                             "cases": results_cases(mans)}
    files["latency_stats.json"] = {**header, "about": "latency samples (ms) -> count/min/max/mean/p50/p90/p99 "
                                   "(linear interpolation between closest ranks)", "cases": latency_cases()}
    files["energy.json"] = {**header, "about": "battery samples during the run and an idle baseline -> joules "
                            "per inference (trapezoid rule, |current|, idle mean power subtracted)",
                            "cases": energy_cases()}
    files["ring_buffer.json"] = {**header, "about": "per-modality ring buffers of seq_len steps with staleness: "
                                 "push / windows / clear operations and what each observes",
                                 "cases": ring_buffer_cases(specs)}
    from sdk import face, vad

    files["face_crop.json"] = {**header, "tolerance": {"abs": 0, "rel": 0}, "size": face.FACE_SIZE,
                               "margin": face.MARGIN,
                               "about": "image (uint8, gray/RGB/RGBA) + face box [left, top, width, height] -> the "
                               "48x48 uint8 crop of sdk.face.crop_face (bytes must match exactly) or invalid_box",
                               "cases": face_crop_cases()}
    files["vad.json"] = {**header, "tolerance": VAD_TOLERANCE,
                         "about": "Silero VAD (silero_vad.onnx from the silero-vad wheel): 16 kHz int16 PCM (/32768) "
                         "-> per-frame speech probabilities (512-sample frames, 64-sample context, state carried; a "
                         "partial last frame zero-padded) and the decision; the segment rule alone on fixed "
                         "probabilities (see rule)",
                         "rule": {"frame": vad.FRAME, "context": vad.CONTEXT, "sample_rate": vad.SAMPLE_RATE,
                                  "threshold": vad.THRESHOLD, "neg_threshold": vad.NEG_THRESHOLD,
                                  "min_speech_ms": vad.MIN_SPEECH_MS, "min_silence_ms": vad.MIN_SILENCE_MS},
                         "cases": vad_cases()}
    files["manifest_parsing.json"] = {**header, "about": "each manifest in manifests/ -> what Python reads from it "
                                      "(format, classes, input dtypes, modality kinds, shapes, waveform/face fields)",
                                      "cases": [{"manifest": name, "expected": manifest_facts(m)}
                                                for name, m in mans.items()]}
    files[GOLDEN_EXAMPLE] = golden_example()
    return files


def dumps(data: Any, indent: int = 0) -> str:
    """JSON with 2-space indentation, lists of numbers/strings on one line (short diffs, readable files)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(data, dict):
        if not data:
            return "{}"
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {dumps(v, indent + 1)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(data, list):
        if all(not isinstance(v, (dict, list)) for v in data):
            return "[" + ", ".join(json.dumps(v, ensure_ascii=False, allow_nan=False) for v in data) + "]"
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in data) + "\n" + pad + "]"
    return json.dumps(data, ensure_ascii=False, allow_nan=False)


def write(out: Path) -> list[Path]:
    """Write every file atomically (sdk.atomic: temp file, fsync, rename) with `dumps`' formatting."""
    written = []
    for rel, content in generate().items():
        path = out / rel
        write_text(path, dumps(content) + "\n")
        written.append(path)
    return written


def check(directory: Path) -> dict[str, list[str]]:
    """The Python SDK against the contract files: file -> problems (empty lists = pass)."""
    def load(rel: str) -> Any:
        return json.loads((directory / rel).read_text(encoding="utf-8"))

    mans = {name: load(f"manifests/{name}") for name in MANIFESTS}
    specs = {name: spec_of(m) for name, m in mans.items()}
    problems: dict[str, list[str]] = {}

    def run(rel: str, fn) -> None:
        doc = load(rel)
        problems[rel] = [f"{c.get('name', c.get('text', i))!r}: {p}" for i, c in enumerate(doc["cases"])
                         for p in fn(c, doc)]

    run("input_packing.json", lambda c, d: check_packing(c, specs))
    run("tokenizer.json", lambda c, d: check_tokenizer(c, d["vocabulary"]))
    run("results.json", lambda c, d: check_results(c, mans))
    run("latency_stats.json", lambda c, d: check_latency(c))
    run("energy.json", lambda c, d: check_energy(c))
    run("ring_buffer.json", lambda c, d: check_ring_buffer(c, specs))
    run("face_crop.json", lambda c, d: check_face_crop(c))
    run("vad.json", lambda c, d: check_vad(c))
    run("manifest_parsing.json", lambda c, d: check_manifest_parsing(c, mans))
    problems[GOLDEN_EXAMPLE] = check_golden_example(load(GOLDEN_EXAMPLE), directory / GOLDEN_EXAMPLE)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.contract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the contract files into this directory (e.g. contract/)")
    parser.add_argument("--check", type=Path, help="check the Python SDK against the files in this directory")
    parser.add_argument("--golden", type=Path, help="check every artifact with a golden file (<stem>.golden.json) "
                        "under this dist directory, or this one artifact, in its backend (sdk.golden)")
    args = parser.parse_args(argv)
    if not args.out and not args.check and not args.golden:
        parser.error("give --out DIR to generate, --check DIR to verify or --golden PATH to check artifacts")
    if args.golden:
        from sdk import golden

        code = golden.main(args.golden)
        if code or not (args.out or args.check):
            return code
    if args.out:
        for path in write(args.out):
            print(f"wrote {path}")
    if args.check:
        problems = check(args.check)
        for rel, found in problems.items():
            print(f"{'FAIL' if found else 'ok  '} {rel}" + "".join(f"\n    {p}" for p in found))
        return 1 if any(problems.values()) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
