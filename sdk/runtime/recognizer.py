"""`EmotionRecognizer`: one exported model (or checkpoint) behind one small API.

The shape follows MediaPipe Tasks: one options object, a one-shot mode
(`predict`) and a streaming mode (`stream`, see sdk.runtime.streaming), results as
plain dataclasses.

    from sdk import EmotionRecognizer

    recognizer = EmotionRecognizer.load("dist/mosi/onnx/model_fp32.onnx")
    result = recognizer.predict(audio=audio_steps, video=None, text=text_steps)
    result.label, result.probabilities["positive"], result.gate_weights["audio"]

Loading reads the manifest beside the artifact (`<artifact>.json`), refuses an
artifact whose size or sha256 differs from it (`export.manifest.ArtifactError`)
and picks the backend from the file suffix. Everything about the model (modality
names and order, shapes, normalization, vocabulary, class names) comes from the
manifest's spec; a checkpoint (torch backend) carries the same spec.

Errors, all documented (anything else is a bug):
    ArtifactError   at load: missing manifest, truncated or modified artifact, a manifest
                    that does not match the artifact's embedded digest, an artifact
                    that crashes, fails or gives other outputs than at export in a
                    child process (sdk.runtime.probe); at predict: the runtime failing
                    on validated inputs or returning wrong-sized or (for inputs of
                    ordinary scale) non-finite outputs: never blamed on the input
    BackendError    at load: unknown suffix or backend, runtime not installed
    InputError      at predict: wrong shape, dtype, NaN/inf, every modality absent,
                    text longer than the model takes, text for a non-token
                    modality, values so far out of range the model's output is
                    not finite, more than one sample
    RecognizerClosedError  predict after close()

`predict` is safe to call from several threads: validation runs in the caller's
thread, the runtime call is serialized by a lock (the runtimes' sessions are not
all re-entrant).
"""
from __future__ import annotations

import dataclasses
import enum
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sdk.inputs import InputError, InputPreparer
from sdk.runtime.backends import AUTO, BACKENDS, BackendError, check_backend, load_runner
from sdk.spec import ModelSpec, SpecError


#: Normalized inputs up to this magnitude must give finite outputs from a sound model: a non-finite
#: output then is the model's fault (ArtifactError), beyond it the input's (InputError "overflow").
ORDINARY_INPUT_SCALE = 100.0


class RecognizerClosedError(RuntimeError):
    """predict() on a recognizer after close()."""


class RunningMode(str, enum.Enum):
    ONE_SHOT = "one_shot"  # predict(...) returns a result
    STREAM = "stream"  # push(...) per step; results go to result_callback


@dataclass(frozen=True)
class RecognitionResult:
    """One prediction.

    probabilities: class name -> probability (softmax of the logits, sums to 1).
    gate_weights: modality name -> fusion gate weight (0 for an absent modality).
    modalities_used: the present modalities, in spec order.
    latency_ms: wall time of the whole call (validation, preprocessing, inference).
    timestamp_ms: streaming only: the time of the push that triggered this result;
    input_timestamps_ms: streaming only: modality -> time of its newest step used.
    """

    label: str
    probabilities: dict[str, float]
    gate_weights: dict[str, float]
    modalities_used: tuple[str, ...]
    latency_ms: float
    timestamp_ms: float | None = None
    input_timestamps_ms: dict[str, float] = field(default_factory=dict)
    #: raw-signal inputs only (sdk.live_inputs): absent modality -> "no_speech" | "no_face" | "no_text" |
    #: "not_given" | "stale"; `details`: VAD frame counts, the face box.
    absent_reasons: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["modalities_used"] = list(self.modalities_used)
        return data


@dataclass
class RecognizerOptions:
    """Everything `EmotionRecognizer.create_from_options` needs.

    model_path: an artifact (.pte, .tflite, .onnx, with its manifest beside it) or a
        checkpoint (model.pt or the run directory holding it) for the torch backend.
    backend: "auto" (from the suffix), "executorch", "litert", "onnx" or "torch".
    num_threads: intra-op threads of the runtime (process-wide for torch and ExecuTorch).
    verify_artifact: check size and sha256 against the manifest before loading (the manifest digest
        and the child-process probe, sdk.runtime.probe, run either way).
    running_mode, result_callback, stale_after_ms, min_interval_ms: streaming (see
        sdk.runtime.streaming.StreamingRecognizer).
    """

    model_path: str | Path
    backend: str = AUTO
    num_threads: int = 1
    verify_artifact: bool = True
    running_mode: RunningMode = RunningMode.ONE_SHOT
    result_callback: Callable[[RecognitionResult], None] | None = None
    stale_after_ms: float | None = None
    min_interval_ms: float = 0.0


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k(probabilities, k: int) -> list[int]:
    """Indices of the `k` largest probabilities, largest first; ties keep the lower index first."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if not 1 <= k <= p.size:
        raise ValueError(f"k must be in [1, {p.size}], got {k}")
    return [int(i) for i in np.argsort(-p, kind="stable")[:k]]


def result_from_outputs(class_names, modality_names, logits, gate_weights, presence, latency_ms: float = 0.0
                        ) -> RecognitionResult:
    """The model's two outputs for one sample -> a RecognitionResult: softmax (float64) of the logits,
    label = the top-1 class, gate weight per modality name, the present modalities in spec order."""
    probabilities = softmax(np.asarray(logits, dtype=np.float64).reshape(-1))
    gates = np.asarray(gate_weights, dtype=np.float64).reshape(-1)
    return RecognitionResult(
        label=class_names[top_k(probabilities, 1)[0]],
        probabilities={c: float(p) for c, p in zip(class_names, probabilities)},
        gate_weights={n: float(g) for n, g in zip(modality_names, gates)},
        modalities_used=tuple(n for n, p in zip(modality_names, np.asarray(presence).reshape(-1)) if p > 0),
        latency_ms=latency_ms,
    )


def read_manifest(path: Path, verify: bool) -> dict:
    from export.manifest import ArtifactError, check_artifact, sidecar_path

    if verify:
        return check_artifact(path)
    try:
        return json.loads(sidecar_path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path}: cannot read its manifest {sidecar_path(path).name} ({err})") from err


class EmotionRecognizer:
    """A loaded model; build it with `load` or `create_from_options`."""

    def __init__(self, spec: ModelSpec, runner, options: RecognizerOptions, backend: str,
                 manifest: dict | None = None):
        self.spec = spec
        self.options = options
        self.backend = backend
        self.manifest = manifest or {}
        self._run = runner
        self._preparer = InputPreparer(spec)
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------- creation
    @classmethod
    def create_from_options(cls, options: RecognizerOptions) -> "EmotionRecognizer":
        if not isinstance(options.num_threads, int) or options.num_threads < 1:
            raise ValueError(f"num_threads must be an int >= 1, got {options.num_threads!r}")
        path = Path(options.model_path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such model file; pass an exported artifact or a checkpoint")
        backend = check_backend(options.backend, path)
        if backend == "torch":
            runner = load_runner(backend, path, options.num_threads)
            return cls(runner.model.spec, runner, options, backend)
        manifest = read_manifest(path, options.verify_artifact)
        try:
            spec = ModelSpec.from_dict(manifest["spec"])
        except (KeyError, TypeError, SpecError) as err:
            from export.manifest import ArtifactError

            raise ArtifactError(f"{path}: its manifest has no usable model spec ({err}); re-export it") from err
        from sdk.runtime.probe import probe

        # Always, whatever verify_artifact says: the manifest must match the artifact's embedded digest,
        # and the artifact must load and pass its self-test in a child process before it is loaded here.
        probe(backend, path, manifest, manifest.get("sha256") if options.verify_artifact else None)
        runner = load_runner(backend, path, options.num_threads)
        return cls(spec, runner, options, backend, manifest)

    @classmethod
    def load(cls, path: str | Path, backend: str = AUTO, num_threads: int = 1, **options) -> "EmotionRecognizer":
        """Shortcut for `create_from_options(RecognizerOptions(path, backend, num_threads, ...))`."""
        return cls.create_from_options(RecognizerOptions(path, backend=backend, num_threads=num_threads, **options))

    # ------------------------------------------------------------- access
    @property
    def modality_names(self) -> list[str]:
        return self.spec.modality_names

    @property
    def class_names(self) -> list[str]:
        return list(self.spec.class_names)

    @property
    def precision(self) -> str:
        return self.manifest.get("precision", "fp32")

    def __repr__(self) -> str:
        return (f"EmotionRecognizer({str(self.options.model_path)!r}, backend={self.backend!r}, "
                f"modalities={self.modality_names}, classes={self.class_names})")

    # ------------------------------------------------------------- inference
    def predict(self, *, image=None, sample_rate: int | None = None, vad: bool | None = None,
                color_order: str = "rgb", **modalities) -> RecognitionResult:
        """Recognize one sample: each modality an array (steps, *step_shape), a str for a
        token modality, or None when absent. See the module docstring for the errors.

        Raw signals (live models, sdk.live_inputs): `image=` a camera frame (face detected and
        cropped; `color_order="bgr"` for OpenCV frames), `sample_rate=` the rate of the PCM given
        as the waveform modality (any rate, resampled); with either (or `vad=True`) audio counts
        only when speech is detected, empty text is absent, and the result's `absent_reasons`
        says why each absent modality is absent."""
        start = time.perf_counter()
        reasons, details = {}, {}
        if vad or image is not None or sample_rate is not None:
            from sdk.live_inputs import LivePreparer, all_absent_error

            modalities, reasons, details = LivePreparer(self.spec, self._preparer.tokenizers).prepare(
                modalities, image=image, sample_rate=sample_rate, use_vad=vad is not False, color_order=color_order)
            if all(modalities.get(n) is None for n in self.spec.modality_names):
                raise all_absent_error(reasons)
        arrays, presence = self._preparer.arrays(**modalities)
        if presence.shape[0] != 1:
            raise InputError(
                f"predict takes one sample, got a batch of {presence.shape[0]}; call predict once per sample "
                "(the exported models take batch 1)",
                kind="batch_too_large",
            )
        logits, gates = self._infer(arrays + [presence])
        result = result_from_outputs(self.spec.class_names, self.spec.modality_names, logits, gates, presence[0],
                                     latency_ms=(time.perf_counter() - start) * 1e3)
        return dataclasses.replace(result, absent_reasons=reasons, details=details) if reasons or details else result

    def _infer(self, inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._closed:
                raise RecognizerClosedError("this recognizer was closed; load the model again")
            try:
                logits, gates = self._run(inputs)
            except Exception as err:  # noqa: BLE001 - the inputs were fully validated: the model is at fault
                raise self._model_error(f"the {self.backend} runtime failed on validated inputs "
                                        f"({type(err).__name__}: {err})") from err
        logits = np.asarray(logits, dtype=np.float64).reshape(-1)
        gates = np.asarray(gates, dtype=np.float64).reshape(-1)
        if logits.size != self.spec.num_classes or gates.size != len(self.spec.modalities):
            raise self._model_error(f"the model returned {logits.size} logits and {gates.size} gate weights for "
                                    f"{self.spec.num_classes} classes and {len(self.spec.modalities)} modalities")
        if not (np.isfinite(logits).all() and np.isfinite(gates).all()):
            floats = [x for x in inputs[:-1] if x.dtype.kind == "f"]
            largest = max((float(np.abs(x).max()) for x in floats), default=0.0)
            if largest <= ORDINARY_INPUT_SCALE:
                raise self._model_error(f"the model's output is not finite for inputs of ordinary scale "
                                        f"(largest normalized value {largest:.3g})")
            raise InputError(
                f"the model's output is not finite for these inputs (largest normalized value {largest:.3g}); "
                "the inputs are far outside the range of the training data: check their units and scale",
                kind="overflow",
            )
        return logits, gates

    def _model_error(self, what: str):
        """An error of the model (not of the user's input): an ArtifactError naming the file and the fix."""
        from export.manifest import ArtifactError

        return ArtifactError(f"{self.options.model_path}: {what}; the model file is corrupt or does not match its "
                             f"manifest: re-export it with `python -m export`")

    def stream(self, callback: Callable[[RecognitionResult], None] | None = None, **options):
        """A `StreamingRecognizer` on this model (see sdk.runtime.streaming)."""
        from sdk.runtime.streaming import StreamingRecognizer

        callback = callback or self.options.result_callback
        options.setdefault("stale_after_ms", self.options.stale_after_ms)
        options.setdefault("min_interval_ms", self.options.min_interval_ms)
        return StreamingRecognizer(self, callback, **options)

    # ------------------------------------------------------------- lifetime
    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._run = None

    def __enter__(self) -> "EmotionRecognizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["BACKENDS", "BackendError", "EmotionRecognizer", "InputError", "RecognitionResult",
           "RecognizerClosedError", "RecognizerOptions", "RunningMode"]
