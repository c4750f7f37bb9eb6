"""The error contract of the SDK: every documented error is an `EmoEdgeError`.

    EmoEdgeError
    ├── InputError            (also a ValueError)    sdk.inputs: an input the model cannot take
    ├── ArtifactError         (also a ValueError)    an artifact that must not run (manifest, sha256, probe)
    │   └── ModelNotFoundError (also a FileNotFoundError) no file at the model path
    ├── BackendError          (also a RuntimeError)  a runtime that cannot be used here
    ├── OptionsError          (also a ValueError)    bad options, or a call that does not fit the running mode
    └── RecognizerClosedError (also a RuntimeError)  a call after close()

The second base keeps `except ValueError` / `except RuntimeError` written against
older versions working. Standard library only: every runtime module imports it.
"""
from __future__ import annotations


class EmoEdgeError(Exception):
    """Base of every error the SDK documents; anything else escaping a call is a bug."""


class ArtifactError(EmoEdgeError, ValueError):
    """An artifact that does not match its manifest (or has none, or fails its self-test): do not run it."""


class BackendError(EmoEdgeError, RuntimeError):
    """A backend that cannot be used here (its runtime is not installed, or it rejects the file)."""


class ModelNotFoundError(ArtifactError, FileNotFoundError):
    """No file (or run directory) at the model path."""


class OptionsError(EmoEdgeError, ValueError):
    """Bad recognizer options, or a call that does not fit the running mode (one-shot `predict` vs a
    stream with its `result_callback`)."""


class RecognizerClosedError(EmoEdgeError, RuntimeError):
    """A call on a recognizer (or stream) after close()."""


__all__ = ["ArtifactError", "BackendError", "EmoEdgeError", "ModelNotFoundError", "OptionsError", "RecognizerClosedError"]
