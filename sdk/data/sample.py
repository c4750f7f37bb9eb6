"""Save one sample of a dataset as the raw files `python -m sdk.predict` takes.

    python -m sdk.data.sample --dataset synthetic --index 0 --out runs/demo-sample
    python -m sdk.predict --model dist/onnx/model_fp32.onnx --audio runs/demo-sample/audio.npy \\
        --video runs/demo-sample/video.npy --text runs/demo-sample/text.npy

Writes OUT/<modality>.npy for each modality present in the sample (its valid steps only,
raw values as the dataset holds them: unnormalized features and frames, token ids) and
OUT/sample.json (dataset, split, index, true label, the files). Prints the label and the
predict flags. Writes are atomic (sdk.atomic).
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from sdk.atomic import atomic_write_bytes, write_json
from sdk.data import DATASETS, SPLITS, load_dataset


def save_sample(dataset, split: str, index: int, out: Path) -> dict:
    """Write sample `index` of `split` into `out`; the description written to sample.json."""
    part = dataset.part(split)
    if not 0 <= index < len(part):
        raise ValueError(f"--index {index} is outside the {split} split's {len(part)} samples; pass 0..{len(part) - 1}")
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for j, m in enumerate(dataset.modalities):
        if part.presence[index, j] == 0:
            continue
        length = int(part.lengths[m.name][index])
        steps = np.ascontiguousarray(part.inputs[m.name][index, m.seq_len - length:])
        buffer = io.BytesIO()
        np.save(buffer, steps, allow_pickle=False)
        atomic_write_bytes(out / f"{m.name}.npy", lambda f, data=buffer.getvalue(): f.write(data))
        files[m.name] = f"{m.name}.npy"
    description = {"dataset": dataset.name, "split": split, "index": index,
                   "label": dataset.class_names[int(part.labels[index])], "files": files}
    write_json(out / "sample.json", description)
    return description


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.data.sample", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="synthetic")
    parser.add_argument("--data", help="dataset directory or .npz file (real datasets only)")
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--index", type=int, default=0, help="sample index within the split (default 0)")
    parser.add_argument("--out", type=Path, default=Path("runs/sample"), help="directory to write")
    args = parser.parse_args(argv)
    try:
        description = save_sample(load_dataset(args.dataset, args.data), args.split, args.index, args.out)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    flags = " ".join(f"--{name} {args.out / file}" for name, file in description["files"].items())
    print(f"{description['dataset']} {args.split} sample {args.index}: true label {description['label']}")
    print(f"predict flags: {flags}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
