"""Recognize one sample from the command line.

    python -m sdk.predict --model dist/mosi/onnx/model_fp32.onnx --audio a.npy --text t.npy
    python -m sdk.predict --model dist/meld/executorch/model_fp32.pte --text "I can't believe it!"
    python -m sdk.predict --model runs/mosi --video v.npy --json
    python -m sdk.predict --model dist/live/onnx/model_fp32.onnx --audio clip.wav --image face.jpg --text "..."

Each modality of the model gets a flag (`--<name> FILE.npy`, or a string for a
token modality); absent modalities are simply left out. A live model also takes
raw signals: `--audio` a WAV/FLAC/OGG file at any sample rate (resampled; counts
only where speech is detected), `--image` a photo (the face is detected and
cropped; none found -> absent), `--text` the text; the output says why each
absent modality is absent. Prints the label, the
probability per class, the gate weight per modality and the latency; `--json`
prints the result as JSON instead. Exit status 2 for bad input or a bad model
file, with the reason on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sdk.runtime.backends import AUTO, BACKENDS


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")


def read_image(path: str | Path) -> np.ndarray:
    """An image file -> (H, W, 3) uint8 BGR (OpenCV's order) or (H, W) gray."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"--image: cannot read {path} as an image (JPEG, PNG, BMP, ...)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    return image


def _value(name: str, text: str, token_modality: bool):
    """A .npy path -> array; for a token modality any other string is the text itself."""
    path = Path(text)
    if text.endswith(".npy") or (path.is_file() and not token_modality):
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"--{name}: cannot read {text} as a .npy array ({err})") from err
    if token_modality:
        return text
    raise ValueError(f"--{name}: {text} is not a .npy file; pass the {name} features saved with numpy.save")


def format_result(result) -> str:
    width = max(map(len, [*result.probabilities, *result.gate_weights]))
    lines = [f"label: {result.label}  ({result.confidence:.3f})", "probabilities:"]
    lines += [f"  {c:<{width}}  {p:.4f}" for c, p in result.probabilities.items()]
    lines.append("gate weights:")
    lines += [f"  {n:<{width}}  {w:.4f}" + ("" if n in result.modalities_used else "  (absent)")
              for n, w in result.gate_weights.items()]
    for name, reason in getattr(result, "absent_reasons", {}).items():
        lines.append(f"absent: {name} ({reason})")
    lines.append(f"latency: {result.latency_ms:.2f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    base = argparse.ArgumentParser(add_help=False)
    base.add_argument("--model", type=Path)
    base.add_argument("--backend", default=AUTO, choices=[AUTO, *BACKENDS])
    base.add_argument("--threads", type=int, default=1)
    known, _ = base.parse_known_args(argv)

    parser = argparse.ArgumentParser(
        prog="python -m sdk.predict", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument("--model", type=Path, required=True,
                        help="an artifact (.pte, .tflite, .onnx with its .json manifest) or a checkpoint (run dir)")
    parser.add_argument("--backend", default=AUTO, choices=[AUTO, *BACKENDS], help="default: from the file suffix")
    parser.add_argument("--threads", type=int, default=1, help="runtime threads (default 1)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")

    from sdk.runtime import ArtifactError, BackendError, EmotionRecognizer, InputError

    recognizer = None
    if known.model is not None:
        try:
            recognizer = EmotionRecognizer.load(known.model, backend=known.backend, num_threads=max(1, known.threads))
        except (ArtifactError, BackendError, FileNotFoundError, ValueError) as err:
            if "-h" not in argv and "--help" not in argv:
                print(f"error: {err}", file=sys.stderr)
                return 2
    names = recognizer.spec.modalities if recognizer else []
    for m in names:
        what = "a .npy file of token ids, or the text itself" if m.kind == "tokens" else \
            f".npy file of shape (steps, {', '.join(map(str, m.step_shape()))}), raw (unnormalized) values"
        parser.add_argument(f"--{m.name}", metavar="TEXT" if m.kind == "tokens" else "FILE.npy",
                            help=f"{m.name}: {what}; leave out if absent")
    from sdk.live_inputs import face_modality, waveform_modality

    if recognizer is not None and face_modality(recognizer.spec) is not None:
        parser.add_argument("--image", metavar="IMAGE",
                            help="a photo or camera frame (JPEG/PNG): the face is detected and cropped")
    if recognizer is None:
        parser.epilog = (parser.epilog or "") + "\n\nThe modality flags (--audio, --video, --text, ...) come from the model."
    args = parser.parse_args(argv)
    try:
        raw: dict = {}
        inputs = {}
        live = face_modality(recognizer.spec) is not None or waveform_modality(recognizer.spec) is not None
        for m in names:
            value = getattr(args, m.name)
            if value is None:
                continue
            if m.kind == "waveform" and value.lower().endswith(AUDIO_SUFFIXES):
                from sdk.audio_io import read_audio

                inputs[m.name], raw["sample_rate"] = read_audio(value)
            elif m.kind == "tokens" and not value.endswith(".npy") and live:
                inputs[m.name] = value
                raw["vad"] = True  # a live model: empty text is absent (with its reason), not an error
            else:
                inputs[m.name] = _value(m.name, value, m.kind == "tokens")
        if getattr(args, "image", None) is not None:
            raw.update(image=read_image(args.image), color_order="bgr")
        result = recognizer.predict(**inputs, **raw)
    except (InputError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
