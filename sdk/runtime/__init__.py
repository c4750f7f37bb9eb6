"""The Python runtime SDK: `EmotionRecognizer` (one-shot) and `StreamingRecognizer`.

    from sdk.runtime import EmotionRecognizer
    with EmotionRecognizer.load("dist/mosi/onnx/model_fp32.onnx") as recognizer:
        print(recognizer.predict(audio=audio, text=text))

See sdk.runtime.recognizer (API, running modes, errors), sdk.runtime.streaming (ring
buffers, callbacks), sdk.runtime.backends and sdk.runtime.runners (which runtime runs
which file), sdk.runtime.manifest (reading and checking manifests), sdk.runtime.native
and sdk.runtime.native_build (the torch-free ExecuTorch runner).

This package runs artifacts with numpy, onnxruntime and ai-edge-litert (plus the
executorch wheel's libraries for .pte): no module in it imports torch, export or
compress at module level (tests/test_import_graph.py). Names are imported on first use.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "ArtifactError": "sdk.errors", "BackendError": "sdk.errors", "EmoEdgeError": "sdk.errors",
    "ModelNotFoundError": "sdk.errors", "OptionsError": "sdk.errors", "RecognizerClosedError": "sdk.errors",
    "InputError": "sdk.inputs",
    "BACKENDS": "sdk.runtime.backends",
    "EmotionRecognizer": "sdk.runtime.recognizer", "RecognitionResult": "sdk.runtime.recognizer",
    "RecognizerOptions": "sdk.runtime.recognizer", "RunningMode": "sdk.runtime.recognizer",
    "Runner": "sdk.runtime.runners",
    "StreamingRecognizer": "sdk.runtime.streaming",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sdk.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
