"""`EmotionRecognizer`: one exported model (or checkpoint) behind one small API.

The shape follows MediaPipe Tasks: one options object, a one-shot mode
(`predict`) and a streaming mode (`stream`, see sdk.runtime.streaming), results as
plain dataclasses.

    from sdk import EmotionRecognizer

    recognizer = EmotionRecognizer.load("dist/mosi/onnx/model_fp32.onnx")
    result = recognizer.predict(audio=audio_steps, video=None, text=text_steps)
    result.label, result.probabilities["positive"], result.gate_weights["audio"]

Loading reads the manifest beside the artifact (`<artifact>.json`, sdk.runtime.manifest), refuses
an unsupported manifest_version or an artifact whose size or sha256 differs from it (`ArtifactError`)
and picks the backend from the file suffix. Everything about the model (modality
names and order, shapes, normalization, vocabulary, class names) comes from the
manifest's spec; a checkpoint (torch backend) carries the same spec.

Running modes (RecognizerOptions.running_mode, as MediaPipe's IMAGE vs LIVE_STREAM):
    ONE_SHOT  `predict(...)` returns the result; `stream(callback)` may still open an explicit
              stream. A `result_callback` in the options is refused (it would never be called).
    STREAM    results go to `result_callback` (required): push steps through `stream()` (or
              build one with `StreamingRecognizer.create_from_options`); `predict` is refused.

Lifetime: `close()` (or `with EmotionRecognizer.load(...) as recognizer:`) releases the
runtime's session, interpreter or native ExecuTorch program at once; later calls raise
RecognizerClosedError.

Errors, all sdk.errors.EmoEdgeError subclasses (anything else escaping is a bug):
    ModelNotFoundError  at load: no file at model_path (an ArtifactError and a FileNotFoundError)
    ArtifactError   at load: missing manifest, unsupported manifest_version, truncated or modified artifact, a manifest
                    that does not match the artifact's embedded digest, an artifact
                    that crashes, fails or gives other outputs than at export in a
                    child process (sdk.runtime.probe); at predict: the runtime failing
                    on validated inputs or returning wrong-sized or (for inputs of
                    ordinary scale) non-finite outputs: never blamed on the input
    BackendError    at load: unknown suffix or backend, runtime not installed
    OptionsError    at load: bad options (num_threads, running_mode, a callback that does not fit
                    the mode); at predict on a STREAM recognizer
    InputError      at predict: wrong shape, dtype, NaN/inf, every modality absent,
                    text longer than the model takes, text for a non-token
                    modality, values so far out of range the model's output is
                    not finite, more than one sample
    RecognizerClosedError  predict (or a stream's push) after close()

`predict` is safe to call from several threads: validation runs in the caller's
thread, the runtime call is serialized by a lock (the runtimes' sessions are not
all re-entrant).
"""
from __future__ import annotations

import dataclasses
import enum
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sdk.errors import (ArtifactError, BackendError, EmoEdgeError, ModelNotFoundError, OptionsError,
                        RecognizerClosedError)
from sdk.inputs import InputError, InputPreparer
from sdk.runtime.backends import AUTO, BACKENDS, check_backend, load_runner
from sdk.runtime.manifest import read_manifest
from sdk.runtime.tensors import softmax, top_k  # noqa: F401 - softmax/top_k were importable from here
from sdk.spec import ModelSpec, SpecError


#: Normalized inputs up to this magnitude must give finite outputs from a sound model: a non-finite
#: output then is the model's fault (ArtifactError), beyond it the input's (InputError "overflow").
ORDINARY_INPUT_SCALE = 100.0


class RunningMode(str, enum.Enum):
    ONE_SHOT = "one_shot"  # predict(...) returns a result
    STREAM = "stream"  # push(...) per step; results go to result_callback

    @classmethod
    def parse(cls, value) -> "RunningMode":
        try:
            return cls(value)
        except ValueError:
            raise OptionsError(f"running_mode must be one of {[m.value for m in cls]} (RunningMode.ONE_SHOT or "
                               f"RunningMode.STREAM), got {value!r}") from None


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


def check_options(options: RecognizerOptions) -> RunningMode:
    """Validate the options that do not need the model; returns the running mode. OptionsError otherwise."""
    if isinstance(options.num_threads, bool) or not isinstance(options.num_threads, int) or options.num_threads < 1:
        raise OptionsError(f"num_threads must be an int >= 1, got {options.num_threads!r}")
    mode = RunningMode.parse(options.running_mode)
    if options.result_callback is not None and not callable(options.result_callback):
        raise OptionsError(f"result_callback must be callable, got {type(options.result_callback).__name__}")
    if mode is RunningMode.ONE_SHOT and options.result_callback is not None:
        raise OptionsError("result_callback is only called in running_mode=RunningMode.STREAM; with ONE_SHOT, "
                           "predict() returns the result: drop the callback or set running_mode=STREAM")
    if mode is RunningMode.STREAM and options.result_callback is None:
        raise OptionsError("running_mode=RunningMode.STREAM delivers results to result_callback: pass one "
                           "(or use running_mode=ONE_SHOT and predict())")
    return mode


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
        check_options(options)
        path = Path(options.model_path)
        if not path.exists():
            raise ModelNotFoundError(f"{path}: no such model file; pass an exported artifact or a checkpoint")
        backend = check_backend(options.backend, path)
        if backend == "torch":
            runner = load_runner(backend, path, options.num_threads)
            return cls(runner.model.spec, runner, options, backend)
        manifest = read_manifest(path, options.verify_artifact)
        try:
            spec = ModelSpec.from_dict(manifest["spec"])
        except (KeyError, TypeError, ValueError, SpecError) as err:
            raise ArtifactError(f"{path}: its manifest has no usable model spec ({err}); re-export it") from err
        from sdk.runtime.probe import probe

        # Always, whatever verify_artifact says: the manifest must match the artifact's embedded digest,
        # and the artifact must load and pass its self-test in a child process before it is loaded here.
        probe(backend, path, manifest, manifest.get("sha256") if options.verify_artifact else None)
        try:
            runner = load_runner(backend, path, options.num_threads)
        except BackendError as err:  # it passed the probe: only a file changed since can fail here
            raise ArtifactError(f"{path}: {err}; the file changed after it was checked, or is corrupt: "
                                f"re-export it with `python -m export`") from err
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
        says why each absent modality is absent.

        OptionsError on a recognizer created with running_mode=STREAM (push to `stream()` instead)."""
        if self.running_mode is RunningMode.STREAM:
            raise OptionsError("this recognizer runs in running_mode=STREAM: push inputs to its stream() and "
                               "receive results in result_callback, or load it with running_mode=ONE_SHOT "
                               "to call predict()")
        return self._predict(image=image, sample_rate=sample_rate, vad=vad, color_order=color_order, **modalities)

    def _predict(self, *, image=None, sample_rate: int | None = None, vad: bool | None = None,
                 color_order: str = "rgb", **modalities) -> RecognitionResult:
        """`predict` without the running-mode check (the stream's own calls)."""
        if self._closed:
            raise RecognizerClosedError("this recognizer was closed; load the model again")
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
            except EmoEdgeError:
                raise
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
        return ArtifactError(f"{self.options.model_path}: {what}; the model file is corrupt or does not match its "
                             f"manifest: re-export it with `python -m export`")

    def stream(self, callback: Callable[[RecognitionResult], None] | None = None, **options):
        """A `StreamingRecognizer` on this model (see sdk.runtime.streaming); closing it leaves this
        recognizer open. In STREAM mode the callback is the options' result_callback."""
        from sdk.runtime.streaming import StreamingRecognizer

        if self._closed:
            raise RecognizerClosedError("this recognizer was closed; load the model again")
        if self.running_mode is RunningMode.STREAM:
            if callback is not None and callback is not self.options.result_callback:
                raise OptionsError("this recognizer runs in running_mode=STREAM with its options' result_callback; "
                                   "call stream() without a callback (or load another recognizer)")
            callback = self.options.result_callback
        options.setdefault("stale_after_ms", self.options.stale_after_ms)
        options.setdefault("min_interval_ms", self.options.min_interval_ms)
        return StreamingRecognizer(self, callback, **options)

    # ------------------------------------------------------------- lifetime
    @property
    def running_mode(self) -> RunningMode:
        return RunningMode(self.options.running_mode)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the runtime (session, interpreter, native program) now; idempotent. A call in
        progress in another thread finishes first (the runtime lock)."""
        with self._lock:
            self._closed = True
            run, self._run = self._run, None
        close = getattr(run, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "EmotionRecognizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["BACKENDS", "ArtifactError", "BackendError", "EmoEdgeError", "EmotionRecognizer", "InputError",
           "ModelNotFoundError", "OptionsError", "RecognitionResult", "RecognizerClosedError", "RecognizerOptions",
           "RunningMode"]
