"""Byte-mutation fuzz of exported artifacts (issue 13 #2): every mutated load runs in THIS process.

For each format (.pte, .tflite, .onnx) and each mutation: copy the artifact and its
manifest, change 1-4 random bytes anywhere in the artifact (trailer and metadata
included), recompute the manifest's sha256 and size so the integrity check passes
(the attacker's or the careless tool's case), then `EmotionRecognizer.load` and
`predict` on fixed inputs here. Outcomes:

    artifact_error:<why>  ArtifactError at load or predict (why: crash / hang in the probe
                          child, digest mismatch, self-test mismatch, runtime failure, ...)
    correct               loads and every prediction has the unmutated artifact's top-1
                          and max |Δprobability| <= CORRECT_TOLERANCE (1e-3)
    WRONG                 loads but a prediction differs beyond that (a failure)
    INPUT_ERROR           an InputError on the fixed valid inputs (blames the user: failure)
    OTHER:<type>          any other exception (failure)

A crash of the calling process ends the run: finishing is the "0 crashes" evidence.

    OMP_NUM_THREADS=1 python -m tests.fuzz_artifacts --per-format 500 --json fuzz.json
"""
from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CORRECT_TOLERANCE = 1e-3
FORMATS = ("executorch", "litert", "onnx")
FAILURES = ("WRONG", "INPUT_ERROR", "OTHER")


def fixed_inputs(n: int = 3) -> list[dict]:
    from tests.helpers import tiny_inputs

    rng = np.random.default_rng(123)
    return [tiny_inputs(rng) for _ in range(n)] + [{"audio": None, "video": None, "text": "good movie"}]


def _reason(message: str) -> str:
    for key, words in (("probe_crash", "crashed ("), ("probe_hang", "did not finish"),
                       ("no_digest", "carries no manifest digest"), ("digest_mismatch", "does not match the artifact"),
                       ("self_test", "self-test"), ("load_failed", "cannot be loaded"),
                       ("run_failed", "running it failed"), ("run_failed", "failed on")):
        if words in message:
            return key
    return "other"


def _predict_all(recognizer, inputs) -> np.ndarray:
    return np.array([[r.probabilities[c] for c in recognizer.class_names]
                     for r in (recognizer.predict(**x) for x in inputs)])


def fuzz_format(artifact: Path, count: int, seed: int, workdir: Path, inputs: list[dict]) -> dict:
    from export.manifest import ArtifactError, sha256_file, sidecar_path
    from sdk import EmotionRecognizer
    from sdk.inputs import InputError

    with EmotionRecognizer.load(artifact) as clean:
        reference = _predict_all(clean, inputs)
    data = artifact.read_bytes()
    manifest = json.loads(sidecar_path(artifact).read_text())
    rng = np.random.default_rng(seed)
    outcomes: collections.Counter = collections.Counter()
    examples: dict[str, str] = {}
    started = time.perf_counter()
    for i in range(count):
        mutated = bytearray(data)
        for _ in range(int(rng.integers(1, 5))):
            pos = int(rng.integers(0, len(mutated)))
            mutated[pos] = (mutated[pos] + int(rng.integers(1, 256))) % 256
        target = workdir / f"{i % 2}" / artifact.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(bytes(mutated))
        sidecar_path(target).write_text(json.dumps({**manifest, "sha256": sha256_file(target),
                                                    "size_bytes": len(mutated)}))
        try:
            with EmotionRecognizer.load(target) as recognizer:
                got = _predict_all(recognizer, inputs)
            same = (got.argmax(1) == reference.argmax(1)).all() and np.abs(got - reference).max() <= CORRECT_TOLERANCE
            outcome = "correct" if same else "WRONG"
            if not same:
                examples.setdefault(outcome, f"max |dp| {np.abs(got - reference).max():.3g}, top-1 "
                                             f"{got.argmax(1).tolist()} vs {reference.argmax(1).tolist()}")
        except ArtifactError as err:
            outcome = f"artifact_error:{_reason(str(err))}"
            examples.setdefault(outcome, str(err)[:300])
        except InputError as err:
            outcome = "INPUT_ERROR"
            examples.setdefault(outcome, str(err)[:300])
        except Exception as err:  # noqa: BLE001 - counted as a failure, with its type
            outcome = f"OTHER:{type(err).__name__}"
            examples.setdefault(outcome, str(err)[:300])
        outcomes[outcome] += 1
        if (i + 1) % 50 == 0:
            print(f"{artifact.name}: {i + 1}/{count} {dict(outcomes)} {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
    return {"artifact": artifact.name, "mutations": count, "outcomes": dict(sorted(outcomes.items())),
            "failures": sum(n for k, n in outcomes.items() if k.startswith(FAILURES)),
            "seconds": round(time.perf_counter() - started, 1), "examples": examples}


def run(artifacts: dict[str, Path], per_format: int, seed: int = 0, formats=FORMATS) -> dict:
    inputs = fixed_inputs()
    results = {}
    with tempfile.TemporaryDirectory(prefix="emoedge-fuzz-") as tmp:
        for k, name in enumerate(formats):
            results[name] = fuzz_format(Path(artifacts[name]), per_format, seed + k, Path(tmp) / name, inputs)
    return {"per_format": per_format, "seed": seed, "correct_means": f"same top-1 and max |dp| <= {CORRECT_TOLERANCE} "
            f"on {len(inputs)} fixed inputs vs the unmutated artifact", "crashes_of_this_process": 0,
            "formats": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-format", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--dist", type=Path, help="a dir with executorch/, litert/, onnx/ model_fp32.* "
                        "(default: export the tests' tiny model)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from tests.helpers import ARTIFACTS, tiny_artifacts

    artifacts = ({b: args.dist / a for b, a in ARTIFACTS.items()} if args.dist else tiny_artifacts())
    report = run(artifacts, args.per_format, args.seed, args.formats.split(","))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        from sdk.atomic import write_text

        write_text(args.json, text + "\n")
    return 1 if any(r["failures"] for r in report["formats"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
