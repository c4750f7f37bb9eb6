"""Write the feature-replay file the iOS demo ships for feature models (MOSI-style).

A model whose audio/video/text inputs are precomputed features (COVAREP, FACET,
GloVe for MOSI) cannot get them from the iPhone's microphone and camera, so the app
replays real test samples and says so on screen. This writes them in the contract
tensor format (contract/README.md), raw (not normalized): the app normalizes with
the manifest's statistics like every other input.

    python ios_demo/tools/make_replay.py --manifest dist/mosi/executorch/model_fp32.pte.json \
        --dataset mosi --count 32 --out ios_demo/App/Models/replay.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sdk.data import load_dataset
from sdk.spec import ModelSpec


def replay_samples(spec: ModelSpec, dataset, count: int) -> list[dict]:
    """The first `count` test samples: each present modality's valid (last `length`) steps."""
    test = dataset.part("test") if (dataset.split == "test").any() else dataset
    samples = []
    for i in range(min(count, len(test))):
        inputs = {}
        for j, m in enumerate(spec.modalities):
            length = int(test.lengths[m.name][i])
            if test.presence[i, j] <= 0 or length < 1:
                continue
            x = np.asarray(test.inputs[m.name][i][-length:])
            dtype = "int64" if m.kind == "tokens" else "float32"
            data = x.reshape(-1).astype(np.int64 if dtype == "int64" else np.float32).tolist()
            inputs[m.name] = {"shape": list(x.shape), "dtype": dtype, "data": data}
        samples.append({"label": test.class_names[int(test.labels[i])], "inputs": inputs})
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, type=Path, help="the artifact's manifest (<artifact>.json)")
    parser.add_argument("--dataset", default="mosi", help="dataset name for sdk.data.load_dataset")
    parser.add_argument("--data", default=None, help="dataset path (default: where training found it)")
    parser.add_argument("--count", type=int, default=32, help="test samples to write")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    spec = ModelSpec.from_dict(json.loads(args.manifest.read_text())["spec"])
    dataset = load_dataset(args.dataset, args.data)
    if dataset.modality_names != spec.modality_names:
        parser.error(f"dataset modalities {dataset.modality_names} differ from the model's {spec.modality_names}")
    document = {"source": f"{args.dataset} test split, raw features", "modalities": spec.modality_names,
                "samples": replay_samples(spec, dataset, args.count)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document))
    print(f"wrote {len(document['samples'])} samples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
