"""Artifact defences that run before an artifact is loaded into the calling process.

A .pte, .tflite or .onnx is parsed by native code (ExecuTorch, LiteRT, ONNX
Runtime). A crafted or corrupted file whose sidecar sha256 was recomputed passes
the integrity check (sdk.runtime.manifest.check_artifact) and can then crash the
process inside that code (issue 13 #2: one changed byte of a .pte gave a
segfault). ExecuTorch's own flatbuffer verification
(`Program::Verification::InternalConsistency`, used by native/et_runner.cpp and
the pybindings path) catches structural damage but not damaged delegate
payloads or constant data, and ORT/LiteRT offer no equivalent switch. So, before
the in-process load:

1. `check_binding`: the manifest's digest (sdk.runtime.manifest.manifest_digest, over
   class names, modality names, shapes, dtypes, spec, self-test outputs) must equal
   the copy the artifact carries (the .pte/.tflite trailer here; the .onnx
   metadata, read by the child). An edited manifest -> ArtifactError.
2. `probe`: a child process (`python -m sdk.runtime.probe`, no torch import for
   the native ExecuTorch, LiteRT and ONNX runners) loads the artifact with the same
   runtime, runs the self-test inputs recorded at export and compares the outputs
   (same top-1, max |Δprobability| and |Δgate| <= SELF_TEST_TOLERANCE). A crash
   (signal), a hang, a runtime error, non-finite or different outputs ->
   ArtifactError naming the file and the fix (re-export). The verdict is cached per
   process by (backend, artifact sha256, manifest digest).

Both run whatever `verify_artifact` says: that option only skips the sha256.
Limit: the child and the parent read the file separately; a file swapped between
the two is not covered (the artifact is trusted to stay put while loading).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from sdk.errors import ArtifactError, BackendError
from sdk.runtime.manifest import manifest_digest, read_trailer, sha256_file
from sdk.runtime.tensors import softmax

#: The same runtime at one thread on the same bytes reproduces its outputs (to float rounding): a
#: tolerance far below what any prediction could notice.
SELF_TEST_TOLERANCE = 1e-5
PROBE_TIMEOUT_S = 60.0
_FIX = "re-export it with `python -m export` (or restore the artifact and its manifest from the same export)"

_verdicts: dict[tuple, str] = {}
_verdicts_lock = threading.Lock()


def _artifact_error(message: str) -> ArtifactError:
    return ArtifactError(message)


# ------------------------------------------------------------------ the self-test inputs
def self_test_inputs(manifest: dict) -> list[list[np.ndarray]]:
    """Fixed input lists (modalities in order, then presence), from the manifest's inputs and spec
    only: two samples with every modality present, then one per modality with only it present (the
    others zero, presence 0). Float inputs (normalized space) are smooth values in about [-1.5, 1.5],
    token inputs spread ids over the whole vocabulary."""
    inputs = manifest["inputs"]
    vocab = [len(m.get("vocabulary") or []) for m in manifest["spec"]["modalities"]]
    n_modalities = len(inputs) - 1
    patterns = [None, None] + list(range(n_modalities))  # None: all present; i: only modality i
    samples = []
    for k, only in enumerate(patterns):
        xs = []
        for i, entry in enumerate(inputs[:-1]):
            shape, dtype = tuple(int(d) for d in entry["shape"]), np.dtype(entry["dtype"])
            n = int(np.prod(shape))
            if only is not None and only != i:
                xs.append(np.zeros(shape, dtype))
            elif dtype.kind in "iu":
                size = max(vocab[i] if i < len(vocab) else 1, 1)
                xs.append(((np.arange(n, dtype=np.int64) * 7 + 3 * k + 1) % size).astype(dtype).reshape(shape))
            else:
                x = 1.5 * np.sin(0.37 * np.arange(n, dtype=np.float64) + 1.1 * k + 0.3 * i)
                xs.append(x.astype(dtype).reshape(shape))
        presence = np.ones(tuple(inputs[-1]["shape"]), dtype=np.float32)
        if only is not None:
            presence[...] = 0.0
            presence[..., only] = 1.0
        samples.append(xs + [presence])
    return samples


def _run_self_test(run, manifest: dict) -> tuple[list, list]:
    logits, gates = [], []
    n_classes, n_modalities = len(manifest["class_names"]), len(manifest["inputs"]) - 1
    for i, xs in enumerate(self_test_inputs(manifest)):
        out_logits, out_gates = run(xs)
        out_logits = np.asarray(out_logits, dtype=np.float64).reshape(-1)
        out_gates = np.asarray(out_gates, dtype=np.float64).reshape(-1)
        if out_logits.size != n_classes or out_gates.size != n_modalities:
            raise ValueError(f"self-test sample {i}: the model returns {out_logits.size} logits and "
                             f"{out_gates.size} gate weights, its manifest says {n_classes} classes and "
                             f"{n_modalities} modalities")
        if not (np.isfinite(out_logits).all() and np.isfinite(out_gates).all()):
            raise ValueError(f"self-test sample {i}: non-finite outputs on ordinary inputs")
        logits.append(out_logits.tolist())
        gates.append(out_gates.tolist())
    return logits, gates


def measure_self_test(backend: str, artifact: Path | str, manifest: dict) -> dict:
    """At export (a trusted, freshly written artifact): its outputs on `self_test_inputs`."""
    from sdk.runtime.backends import load_runner

    runner = load_runner(backend, artifact, 1)
    try:
        logits, gates = _run_self_test(runner, manifest)
    finally:
        runner.close()
    return {"samples": len(logits), "tolerance": SELF_TEST_TOLERANCE, "logits": logits, "gates": gates}


def compare_self_test(expected: dict, logits: list, gates: list) -> str | None:
    """None when the outputs match the export-time ones, else what differs."""
    if len(logits) != len(expected["logits"]):
        return f"the self-test ran {len(logits)} samples, the manifest records {len(expected['logits'])}"
    for i, (want_l, got_l, want_g, got_g) in enumerate(zip(expected["logits"], logits, expected["gates"], gates)):
        p, q = softmax(np.asarray(want_l).reshape(-1)), softmax(np.asarray(got_l).reshape(-1))
        if int(p.argmax()) != int(q.argmax()):
            return f"self-test sample {i}: top-1 class {int(q.argmax())}, at export {int(p.argmax())}"
        dp = float(np.abs(p - q).max())
        dg = float(np.abs(np.asarray(want_g) - np.asarray(got_g)).max())
        if dp > SELF_TEST_TOLERANCE or dg > SELF_TEST_TOLERANCE:
            return (f"self-test sample {i}: outputs differ from those measured at export "
                    f"(max |Δprobability| {dp:.3g}, |Δgate| {dg:.3g}; tolerance {SELF_TEST_TOLERANCE})")
    return None


# ------------------------------------------------------------------ the parent's checks
def check_binding(path: Path, manifest: dict, embedded: str | None) -> None:
    """The artifact's copy of the manifest digest must equal the digest of this manifest."""
    if embedded is None:
        raise _artifact_error(
            f"{path}: the artifact carries no manifest digest (exported by an emoedge before manifests were "
            f"bound to their artifact, or the file was altered), so an edited manifest could not be detected; "
            f"{_FIX}")
    try:
        actual = manifest_digest(manifest)
    except (TypeError, ValueError) as err:
        raise _artifact_error(f"{path}: its manifest cannot be hashed ({err}); {_FIX}") from err
    if actual != embedded:
        raise _artifact_error(
            f"{path}: its manifest does not match the artifact (manifest digest {actual[:16]}..., the artifact "
            f"was exported with {embedded[:16]}...): the class names, classes, modalities, input shapes, dtypes, "
            f"spec or self-test were edited, or the manifest is from another export; {_FIX}")


def probe(backend: str, path: Path, manifest: dict, sha256: str | None = None) -> None:
    """Load and self-test the artifact in a child process (see the module docstring); raise
    ArtifactError (or BackendError when the runtime is missing) instead of crashing this process."""
    path = Path(path)
    if backend != "onnx":
        check_binding(path, manifest, read_trailer(path))
    if "self_test" not in manifest:
        raise _artifact_error(f"{path}: its manifest has no self-test record (exported by an emoedge before "
                              f"artifacts were self-tested and bound to their manifest); {_FIX}")
    key = (backend, sha256 or sha256_file(path), manifest_digest(manifest))
    with _verdicts_lock:
        if _verdicts.get(key) == "ok":
            return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        done = subprocess.run([sys.executable, "-m", "sdk.runtime.probe", backend, str(path)],
                              input=json.dumps(manifest).encode(), capture_output=True, env=env,
                              timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise _artifact_error(f"{path}: loading and running it once did not finish in {PROBE_TIMEOUT_S:.0f} s "
                              f"(in a separate process); the file is corrupt or not from `python -m export`; "
                              f"{_FIX}") from err
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name if -done.returncode in signal.valid_signals() else "a signal"
        raise _artifact_error(
            f"{path}: the {backend} runtime crashed ({name}) loading and running it once in a separate process "
            f"(this process is unharmed); the file is corrupt or crafted (its sha256 matches the manifest, so the "
            f"manifest was rewritten too, or integrity checking is off); {_FIX}")
    # A runtime may log raw bytes of the damaged file: decode leniently.
    stdout, stderr = (done.stdout or b"").decode(errors="replace"), (done.stderr or b"").decode(errors="replace")
    verdict = _last_json(stdout)
    if done.returncode != 0 or verdict is None:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        raise _artifact_error(f"{path}: the {backend} runtime failed on it in a separate process "
                              f"(exit {done.returncode}: {' | '.join(tail)[-400:]}); {_FIX}")
    if verdict.get("kind") == "backend":
        raise BackendError(verdict["error"])
    if backend == "onnx" and "digest" in verdict:  # it loaded: an edited manifest is named as such first
        check_binding(path, manifest, verdict["digest"])
    if not verdict.get("ok"):
        raise _artifact_error(f"{path}: {verdict.get('error', 'rejected')}; {_FIX}")
    with _verdicts_lock:
        _verdicts[key] = "ok"


def _last_json(stdout: str):
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


# ------------------------------------------------------------------ the child
def _child(backend: str, path: str) -> dict:
    from sdk.runtime.backends import load_runner
    from sdk.runtime.native import NativeUnavailable

    manifest = json.loads(sys.stdin.read())
    try:
        run = load_runner(backend, path, 1)
    except BackendError as err:
        missing = isinstance(err.__cause__, (ImportError, NativeUnavailable))
        return {"ok": False, "kind": "backend" if missing else "artifact", "error": f"cannot be loaded: {err}"}
    except Exception as err:  # noqa: BLE001 - any failure of the runtime on this file is the file's
        return {"ok": False, "kind": "artifact", "error": f"cannot be loaded: {type(err).__name__}: {err}"}
    digest = {"digest": getattr(run, "metadata", {}).get("emoedge.manifest_digest")}
    try:
        logits, gates = _run_self_test(run, manifest)
    except Exception as err:  # noqa: BLE001
        return {"ok": False, "kind": "artifact", "error": f"running it failed: {type(err).__name__}: {err}",
                **digest}
    differs = compare_self_test(manifest["self_test"], logits, gates)
    if differs:
        return {"ok": False, "kind": "artifact", "error": f"{differs} (corrupted weights or a different model)",
                **digest}
    return {"ok": True, **digest}


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2])), flush=True)
