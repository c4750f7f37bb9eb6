"""Copy exported artifacts + manifests into the app's assets, with recorded feature files to replay.

    python android_demo/scripts/copy_assets.py --models dist/mosi --dataset mosi --samples 20

Copies every .pte/.tflite/.onnx under --models that has its manifest beside it into
android_demo/app/src/main/assets/models/ (keeping format/file names, e.g.
models/executorch/model_fp32.pte and .pte.json) with its golden vectors (model_fp32.golden.json,
written by the export: sdk/golden.py; the app's instrumented GoldenInstrumentedTest checks them on a
device), and writes
assets/replay/<dataset>.json: raw test-split samples (unnormalized, the valid steps
only, absent modalities as null, with the label) for the modalities a phone cannot
compute (MOSI's openSMILE/COVAREP audio and 3D-CNN/Facet video features, GloVe text
vectors). The app replays them and says so on screen. Run from the repository root
with the project's venv (it reads the dataset with sdk.data).

A live model's audio counts only when Silero VAD finds speech in it (as in the Python SDK):
`--vad dist/silero` copies silero_vad.pte and silero_vad.json, written by
`python -m export.silero --out dist/silero`, to assets/vad/ after checking the .pte's sha256
against the manifest. Without it the app keeps a live model's audio absent and says why.

A live model's face modality needs MediaPipe's face detector model in the assets:
`--face-model blaze_face_short_range.tflite` copies a downloaded file to
assets/blaze_face_short_range.tflite (README, "Run it on your phone", step 2).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "app" / "src" / "main" / "assets"
SUFFIXES = (".pte", ".tflite", ".onnx")
#: Silero VAD's files (python -m export.silero) and where ModelAssets.voiceActivity() looks for them.
VAD_FILES = ("silero_vad.pte", "silero_vad.json")
VAD_DIR = "vad"
#: The asset name MainActivity opens with MediaPipe's FaceDetector.
FACE_MODEL = "blaze_face_short_range.tflite"


def golden_path(artifact: Path) -> Path:
    """The golden vectors beside an artifact (sdk.golden.golden_path): model_fp32.onnx -> model_fp32.golden.json."""
    return artifact.with_name(artifact.stem + ".golden.json")


def copy_models(models: Path, assets: Path) -> list[Path]:
    copied = []
    for artifact in sorted(p for p in models.rglob("*") if p.suffix in SUFFIXES):
        sidecar = artifact.with_name(artifact.name + ".json")
        if not sidecar.is_file():
            print(f"skip {artifact}: no manifest beside it", file=sys.stderr)
            continue
        target = assets / "models" / artifact.relative_to(models)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(artifact, target)
        shutil.copy2(sidecar, target.with_name(sidecar.name))
        golden = golden_path(artifact)
        if golden.is_file():
            shutil.copy2(golden, target.with_name(golden.name))
        else:
            print(f"note {artifact}: no golden file {golden.name} beside it (exported before golden vectors)",
                  file=sys.stderr)
        copied.append(target)
    return copied


def copy_vad(source: Path, assets: Path) -> list[Path]:
    """silero_vad.pte + silero_vad.json from an `export.silero` directory into assets/vad/, the .pte's sha256 checked.
    Raises FileNotFoundError / ValueError naming the problem and the fix."""
    missing = [name for name in VAD_FILES if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"--vad {source}: {', '.join(missing)} missing; "
                                f"run `python -m export.silero --out {source}` first")
    manifest = json.loads((source / VAD_FILES[1]).read_text())
    expected = manifest.get("files", {}).get(VAD_FILES[0], {}).get("sha256")
    actual = hashlib.sha256((source / VAD_FILES[0]).read_bytes()).hexdigest()
    if expected != actual:
        raise ValueError(f"--vad {source}: silero_vad.pte's sha256 {actual} is not the manifest's {expected}; "
                         "re-run `python -m export.silero` so both come from one export")
    target = assets / VAD_DIR
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in VAD_FILES:
        shutil.copy2(source / name, target / name)
        copied.append(target / name)
    return copied


def replay_samples(dataset_name: str, count: int) -> dict:
    from sdk.data import load_dataset

    data = load_dataset(dataset_name)
    test = np.flatnonzero(data.split == "test")[:count]
    samples = []
    for i in test:
        sample = {"label": data.class_names[int(data.labels[i])], "modalities": {}}
        for j, m in enumerate(data.modalities):
            if not data.presence[i, j]:
                sample["modalities"][m.name] = None
                continue
            steps = int(data.lengths[m.name][i])
            x = data.inputs[m.name][i][m.seq_len - steps:]  # left-padded: the valid steps are the last ones
            sample["modalities"][m.name] = {"shape": list(x.shape), "data": x.reshape(-1).astype(float).tolist()}
        samples.append(sample)
    return {"dataset": dataset_name, "about": "recorded test-split features replayed by the demo", "samples": samples}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, required=True, help="an export directory, e.g. dist/mosi")
    parser.add_argument("--dataset", help="dataset whose test samples to ship for replay (mosi, synthetic, ...)")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--vad", type=Path,
                        help="a `python -m export.silero` output directory: Silero VAD for live audio, to assets/vad/")
    parser.add_argument("--face-model", type=Path,
                        help=f"MediaPipe's BlazeFace short-range .tflite, copied to assets/{FACE_MODEL} (live models)")
    args = parser.parse_args(argv)
    if args.face_model is not None:
        if not args.face_model.is_file():
            print(f"error: --face-model {args.face_model} is not a file; download blaze_face_short_range.tflite first "
                  "(android_demo/README.md)", file=sys.stderr)
            return 2
        args.assets.mkdir(parents=True, exist_ok=True)
        shutil.copy2(args.face_model, args.assets / FACE_MODEL)
        print(f"copied {args.assets / FACE_MODEL}")
    if args.vad is not None:
        try:
            for path in copy_vad(args.vad, args.assets):
                print(f"copied {path}")
        except (FileNotFoundError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    copied = copy_models(args.models, args.assets)
    if not copied:
        print(f"error: no artifacts with manifests under {args.models}; export with `python -m export`", file=sys.stderr)
        return 2
    for path in copied:
        print(f"copied {path}")
    if args.dataset:
        replay = args.assets / "replay" / f"{args.dataset}.json"
        replay.parent.mkdir(parents=True, exist_ok=True)
        replay.write_text(json.dumps(replay_samples(args.dataset, args.samples)))
        print(f"wrote {replay}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
