"""emoedge: fused audio + video + text emotion recognition for phones.

`from sdk import EmotionRecognizer` gives the runtime SDK (sdk.runtime); names are
imported on first use so `import sdk` stays light (no numpy, no torch).
"""
_RUNTIME_NAMES = ("EmotionRecognizer", "RecognizerOptions", "RecognitionResult", "RunningMode",
                  "StreamingRecognizer", "EmoEdgeError", "InputError", "ArtifactError", "BackendError",
                  "ModelNotFoundError", "OptionsError", "RecognizerClosedError")

__all__ = list(_RUNTIME_NAMES)


def __getattr__(name):
    if name in _RUNTIME_NAMES:
        from sdk import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")
