"""The Python runtime SDK: `EmotionRecognizer` (one-shot) and `StreamingRecognizer`.

    from sdk.runtime import EmotionRecognizer
    recognizer = EmotionRecognizer.load("dist/mosi/onnx/model_fp32.onnx")
    print(recognizer.predict(audio=audio, text=text))

See sdk.runtime.recognizer (API, errors), sdk.runtime.streaming (ring buffers,
callbacks) and sdk.runtime.backends (which runtime runs which file).
"""
from sdk.inputs import InputError
from sdk.runtime.backends import BACKENDS, BackendError
from sdk.runtime.recognizer import (EmotionRecognizer, RecognitionResult, RecognizerClosedError, RecognizerOptions,
                                    RunningMode)
from sdk.runtime.streaming import StreamingRecognizer

__all__ = ["BACKENDS", "BackendError", "EmotionRecognizer", "InputError", "RecognitionResult",
           "RecognizerClosedError", "RecognizerOptions", "RunningMode", "StreamingRecognizer"]
