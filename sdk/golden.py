"""Golden vectors per artifact: model inputs -> the PyTorch model's probabilities and gate weights.

At export (export.golden) every artifact gets `<stem>.golden.json` beside it (e.g.
`model_fp32.golden.json` next to `model_fp32.onnx`): a few test samples of the export,
each under several presence patterns, with the raw model inputs exactly as the model takes
them (PCM, face crop, token ids, features; `presence`) and what the PyTorch model gave for
them. The artifact's sha256 is recorded, so a golden file is never checked against another
artifact. contract/README.md ("golden/") describes the format for Kotlin and Swift.

    python -m sdk.contract --golden dist/live           # every artifact with a golden file
    python -m sdk.contract --golden dist/live/onnx/model_int8.onnx

This module is torch-free: it encodes and decodes the files and checks an artifact
through the runtime's own loader (sdk.runtime.backends.load_runner).

Pass rule per file (`tolerance`): every case's max |Δprobability| and max |Δgate weight|
within the bounds, and, with `top1_must_match`, the artifact's top-1 class equal to
PyTorch's on every case. fp32: 1e-4 (export.verify's fp32 bound) for both; int8: 0.2 for
both (the live model's int8 artifacts reach 0.18 on the test set) and top-1 must match.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sdk.atomic import sha256_file
from sdk.errors import EmoEdgeError
from sdk.runtime.tensors import softmax

GOLDEN_VERSION = 1
SUFFIX = ".golden.json"
#: Per precision: the bounds an artifact's outputs must meet against PyTorch's.
TOLERANCES = {
    "fp32": {"max_abs_prob_diff": 1e-4, "max_abs_gate_diff": 1e-4, "top1_must_match": True},
    "int8": {"max_abs_prob_diff": 0.2, "max_abs_gate_diff": 0.2, "top1_must_match": True},
}
FIX = "re-export with `python -m export` (it writes each artifact's golden file beside it) and copy both files"


class GoldenError(EmoEdgeError, ValueError):
    """A golden file that cannot be used: unreadable, another version, or for another artifact."""


def golden_path(artifact: Path | str) -> Path:
    """Where the golden file of `artifact` lives: `model_fp32.onnx` -> `model_fp32.golden.json`."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.stem + SUFFIX)


def tolerance_for(precision: str) -> dict:
    if precision not in TOLERANCES:
        raise GoldenError(f"no golden tolerance for precision {precision!r}; expected one of {', '.join(TOLERANCES)}")
    return dict(TOLERANCES[precision])


# ------------------------------------------------------------------ tensors
def _short_float(x) -> float:
    """A float32 as the shortest decimal that reads back to the same float32 (short files, exact inputs)."""
    return float(repr(np.float32(x)).removeprefix("np.float32(").removesuffix(")"))


def encode_input(x: np.ndarray, pcm: bool = False) -> dict:
    """One model input (batch 1) as a contract tensor. Integer ids -> int64; a waveform (`pcm`)
    whose samples are all k / 32768 with k in int16 -> `int16` PCM (the model takes k / 32768 in
    float32); any other float -> float32, each value the shortest decimal of its float32."""
    x = np.asarray(x)
    if x.dtype.kind in "iu":
        return {"shape": list(x.shape), "dtype": "int64", "data": x.astype(np.int64).reshape(-1).tolist()}
    x = x.astype(np.float32)
    if pcm:
        scaled = x.astype(np.float64) * 32768.0
        if np.all(scaled == np.round(scaled)) and scaled.min(initial=0) >= -32768 and scaled.max(initial=0) <= 32767:
            return {"shape": list(x.shape), "dtype": "int16", "data": scaled.astype(np.int64).reshape(-1).tolist()}
    return {"shape": list(x.shape), "dtype": "float32", "data": [_short_float(v) for v in x.reshape(-1)]}


def decode_input(t: dict) -> np.ndarray:
    """A golden tensor -> the model input: float32, int64 ids, or int16 PCM as k / 32768 in float32."""
    try:
        shape, dtype, data = [int(d) for d in t["shape"]], t["dtype"], t["data"]
    except (KeyError, TypeError, ValueError) as err:
        raise GoldenError(f"a tensor needs shape, dtype and data ({err})") from err
    if dtype == "int64":
        return np.asarray(data, dtype=np.int64).reshape(shape)
    if dtype == "int16":
        return (np.asarray(data, dtype=np.int16).astype(np.float32) / np.float32(32768.0)).reshape(shape)
    if dtype == "float32":
        return np.asarray([float(v) for v in data], dtype=np.float32).reshape(shape)
    raise GoldenError(f"tensor dtype {dtype!r} is not float32, int64 or int16")


# ------------------------------------------------------------------ building a file
def presence_patterns(spec) -> list[tuple[str, list[float]]]:
    """(name, presence) for: all present, each modality alone, all but the frames modalities."""
    names = spec.modality_names
    patterns = [("all", [1.0] * len(names))]
    patterns += [(f"only_{n}", [1.0 if j == i else 0.0 for j in range(len(names))]) for i, n in enumerate(names)]
    frames = [m.kind == "frames" for m in spec.modalities]
    if any(frames) and len(names) - sum(frames) >= 2:
        kept = [n for n, f in zip(names, frames) if not f]
        patterns.append(("+".join(kept), [0.0 if f else 1.0 for f in frames]))
    seen, unique = set(), []
    for name, presence in patterns:
        if tuple(presence) not in seen:
            seen.add(tuple(presence))
            unique.append((name, presence))
    return unique


def build(artifact_name: str, fmt: str, precision: str, sha256: str, class_names, modalities: list[str],
          samples: list[dict], cases: list[dict]) -> dict:
    """The golden document. `samples`: [{"name", "inputs": {modality: tensor}}]; `cases`:
    [{"name", "sample", "presence", "expected": {"probabilities", "gate_weights", "top1"}}]."""
    return {
        "golden_version": GOLDEN_VERSION,
        "about": "model inputs (per sample, per modality; a case's absent modalities are all zeros) and presence "
                 "-> the PyTorch model's probabilities (softmax in float64) and gate weights",
        "artifact": artifact_name,
        "format": fmt,
        "precision": precision,
        "sha256": sha256,
        "class_names": list(class_names),
        "modalities": list(modalities),
        "reference": "PyTorch eager, the checkpoint as trained (export.golden)",
        "tolerance": tolerance_for(precision),
        "samples": samples,
        "cases": cases,
    }


def dumps(doc: dict) -> str:
    """Compact JSON: one line per case and per tensor (sdk.contract.dumps' layout, without its imports)."""
    def write(value, indent: int) -> str:
        pad, inner = "  " * indent, "  " * (indent + 1)
        if isinstance(value, dict) and not ("data" in value and "shape" in value):
            if not value:
                return "{}"
            items = [f"{inner}{json.dumps(k)}: {write(v, indent + 1)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
            return "[\n" + ",\n".join(inner + write(v, indent + 1) for v in value) + "\n" + pad + "]"
        return json.dumps(value, allow_nan=False, separators=(", ", ": "))

    return write(doc, 0) + "\n"


# ------------------------------------------------------------------ reading
@dataclass
class Golden:
    path: Path
    doc: dict

    @property
    def tolerance(self) -> dict:
        return self.doc["tolerance"]

    def case_inputs(self, case: dict, input_dtypes: list[str] | None = None) -> list[np.ndarray]:
        """The model's inputs for one case: the modalities in order (an absent one all zeros), then presence."""
        sample = self.doc["samples"][int(case["sample"])]["inputs"]
        presence = np.asarray(case["presence"], dtype=np.float32).reshape(1, -1)
        inputs = []
        for i, name in enumerate(self.doc["modalities"]):
            if name not in sample:
                raise GoldenError(f"{self.path.name}: sample {case['sample']} has no input {name!r}")
            x = decode_input(sample[name])
            if presence[0, i] <= 0:
                x = np.zeros_like(x)
            if input_dtypes is not None:
                x = x.astype(input_dtypes[i])
            inputs.append(x)
        return inputs + [presence]


def read(path: Path | str) -> Golden:
    """A golden file, version- and shape-checked (GoldenError naming the file and the fix otherwise)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GoldenError(f"{path}: cannot read the golden file ({err}); {FIX}") from err
    if not isinstance(doc, dict) or doc.get("golden_version") != GOLDEN_VERSION:
        version = doc.get("golden_version") if isinstance(doc, dict) else None
        raise GoldenError(f"{path}: golden_version {version!r} is not {GOLDEN_VERSION}; {FIX}")
    missing = [k for k in ("artifact", "sha256", "precision", "class_names", "modalities", "tolerance", "samples",
                           "cases") if k not in doc]
    if missing:
        raise GoldenError(f"{path}: not a golden file (missing {', '.join(missing)}); {FIX}")
    if not doc["cases"]:
        raise GoldenError(f"{path}: no cases; {FIX}")
    return Golden(path, doc)


def check_binding(golden: Golden, artifact: Path | str) -> None:
    """Refuse a golden file whose recorded sha256 is not the artifact's (another export, a swapped file)."""
    actual = sha256_file(artifact)
    if actual != golden.doc["sha256"]:
        raise GoldenError(
            f"{golden.path.name} is for another artifact: it records sha256 {str(golden.doc['sha256'])[:16]}..., "
            f"{Path(artifact).name} has {actual[:16]}...; refusing to check it. {FIX}")


# ------------------------------------------------------------------ checking
@dataclass
class Outcome:
    """One artifact against its golden file."""

    artifact: str
    cases: int = 0
    max_abs_prob_diff: float = float("nan")
    max_abs_gate_diff: float = float("nan")
    top1_agreement: float = float("nan")
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and self.cases > 0


def compare(golden: Golden, run: Callable[[list[np.ndarray]], tuple], input_dtypes: list[str] | None = None,
            name: str | None = None) -> Outcome:
    """Run every case through `run` (a runner: inputs -> (logits, gate_weights)) and compare."""
    tol, doc = golden.tolerance, golden.doc
    outcome = Outcome(name or doc["artifact"])
    prob_diffs, gate_diffs, agree = [], [], 0
    for case in doc["cases"]:
        logits, gates = run(golden.case_inputs(case, input_dtypes))
        probs = softmax(np.asarray(logits, dtype=np.float64).reshape(-1))
        gates = np.asarray(gates, dtype=np.float64).reshape(-1)
        want_p = np.asarray(case["expected"]["probabilities"], dtype=np.float64)
        want_g = np.asarray(case["expected"]["gate_weights"], dtype=np.float64)
        if probs.shape != want_p.shape or gates.shape != want_g.shape:
            outcome.problems.append(f"{case['name']}: the artifact gives {probs.size} probabilities and {gates.size} "
                                    f"gate weights, the golden file {want_p.size} and {want_g.size}")
            continue
        dp, dg = float(np.abs(probs - want_p).max()), float(np.abs(gates - want_g).max())
        if not (np.isfinite(dp) and np.isfinite(dg)):
            dp = dg = float("inf")
        same_top1 = int(np.argmax(probs)) == int(case["expected"]["top1"])
        prob_diffs.append(dp)
        gate_diffs.append(dg)
        agree += same_top1
        if not dp <= tol["max_abs_prob_diff"]:
            outcome.problems.append(f"{case['name']}: max |Δp| {dp:.3g} > {tol['max_abs_prob_diff']:g}")
        if not dg <= tol["max_abs_gate_diff"]:
            outcome.problems.append(f"{case['name']}: max |Δgate| {dg:.3g} > {tol['max_abs_gate_diff']:g}")
        if tol.get("top1_must_match", True) and not same_top1:
            outcome.problems.append(f"{case['name']}: top-1 {doc['class_names'][int(np.argmax(probs))]!r}, PyTorch "
                                    f"{doc['class_names'][int(case['expected']['top1'])]!r}")
    outcome.cases = len(doc["cases"])
    if prob_diffs:
        outcome.max_abs_prob_diff, outcome.max_abs_gate_diff = max(prob_diffs), max(gate_diffs)
        outcome.top1_agreement = agree / len(prob_diffs)
    return outcome


def check_artifact(artifact: Path | str, golden: Path | str | None = None) -> Outcome:
    """One artifact against its golden file, run by the SDK's loader for its backend (after the
    manifest's size/sha256 check and the golden file's sha256 binding). Errors -> problems."""
    from sdk.runtime.backends import backend_for, load_runner
    from sdk.runtime.manifest import check_artifact as check_manifest

    artifact = Path(artifact)
    outcome = Outcome(str(artifact))
    try:
        loaded = read(golden or golden_path(artifact))
        check_binding(loaded, artifact)
        manifest = check_manifest(artifact)
        if list(manifest["class_names"]) != loaded.doc["class_names"] or \
                list(manifest["modalities"]) != loaded.doc["modalities"]:
            raise GoldenError(f"{loaded.path.name}: class or modality names differ from {artifact.name}'s manifest; {FIX}")
        dtypes = [i["dtype"] for i in manifest["inputs"][:-1]]
        with load_runner(backend_for(artifact), artifact, 1) as runner:
            return compare(loaded, runner, dtypes, name=str(artifact))
    except EmoEdgeError as err:
        outcome.problems.append(str(err))
    return outcome


def find(root: Path | str) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(artifact, golden) pairs under `root` (a dist directory or one artifact) and problems: an
    artifact given directly without its golden file, or a golden file without its artifact."""
    from sdk.runtime.backends import is_artifact

    root = Path(root)
    if root.is_file():
        if not is_artifact(root):
            return [], [f"{root}: not an artifact (.pte, .tflite, .onnx)"]
        path = golden_path(root)
        return ([(root, path)], []) if path.is_file() else ([], [f"{root}: no golden file {path.name} beside it; {FIX}"])
    if not root.is_dir():
        return [], [f"{root}: no such file or directory"]
    pairs, problems = [], []
    for path in sorted(root.rglob("*" + SUFFIX)):
        try:
            artifact = path.with_name(json.loads(path.read_text(encoding="utf-8"))["artifact"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            problems.append(f"{path}: not a readable golden file ({err}); {FIX}")
            continue
        if artifact.is_file():
            pairs.append((artifact, path))
        else:
            problems.append(f"{path}: its artifact {artifact.name} is missing")
    return pairs, problems


def format_table(outcomes: list[Outcome]) -> str:
    rows = ["| artifact | cases | max |Δp| | max |Δgate| | top-1 agreement | pass |", "|---|---|---|---|---|---|"]
    for o in outcomes:
        rows.append(f"| {o.artifact} | {o.cases} | {o.max_abs_prob_diff:.2e} | {o.max_abs_gate_diff:.2e} | "
                    f"{o.top1_agreement:.3f} | {'✅' if o.passed else '❌'} |")
    return "\n".join(rows)


def check_all(root: Path | str) -> tuple[list[Outcome], list[str]]:
    """Every artifact with a golden file under `root`: (outcomes, problems found while pairing)."""
    pairs, problems = find(root)
    return [check_artifact(a, g) for a, g in pairs], problems


def main(root: Path | str, out=print) -> int:
    """The `--golden` command: table, then each failure's reasons; 1 when anything fails or nothing is found."""
    outcomes, problems = check_all(root)
    if not outcomes and not problems:
        problems = [f"{root}: no golden files (*{SUFFIX}) found; {FIX}"]
    if outcomes:
        out(format_table(outcomes))
    for o in outcomes:
        for p in o.problems:
            out(f"FAIL {o.artifact}: {p}")
    for p in problems:
        out(f"FAIL {p}")
    failed = problems or any(not o.passed for o in outcomes)
    out(f"golden: {sum(o.passed for o in outcomes)}/{len(outcomes)} artifacts pass" + ("" if not problems else
                                                                                        f", {len(problems)} problems"))
    return 1 if failed else 0


#: The bytes whose sha256 the contract example (contract/golden/example.golden.json) records.
EXAMPLE_ARTIFACT_BYTES = b"emoedge golden example artifact\n"


def toy_outputs(inputs: list[np.ndarray], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The contract example's stand-in model (contract/golden/, no runtime needed), in float64:
    s_m = mean of modality m's input values (ids as numbers, PCM as k / 32768) times presence_m;
    logits[c] = sum_m s_m * (c - m) / 4; gate_m = presence_m / sum(presence)."""
    presence = np.asarray(inputs[-1], dtype=np.float64).reshape(-1)
    s = np.array([float(np.asarray(x, dtype=np.float64).mean()) * presence[m] for m, x in enumerate(inputs[:-1])])
    logits = np.array([[sum(s[m] * (c - m) / 4.0 for m in range(len(s))) for c in range(num_classes)]])
    return logits, (presence / presence.sum()).reshape(1, -1)

