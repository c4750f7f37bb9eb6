"""ios_demo/tools/make_replay.py writes the feature-replay file the iOS app decodes
(ios_demo/Sources/EmoEdgeCore/ReplayFile.swift: source, modalities, samples[label, inputs])."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_replay_file_from_the_synthetic_set(tmp_path):
    manifest = ROOT / "contract" / "manifests" / "synthetic_tokens.json"
    out = tmp_path / "replay.json"
    done = subprocess.run([sys.executable, str(ROOT / "ios_demo" / "tools" / "make_replay.py"), "--manifest",
                           str(manifest), "--dataset", "synthetic", "--count", "5", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    spec = json.loads(manifest.read_text())["spec"]
    assert set(document) == {"source", "modalities", "samples"}
    assert document["modalities"] == [m["name"] for m in spec["modalities"]]
    assert len(document["samples"]) == 5
    by_name = {m["name"]: m for m in spec["modalities"]}
    seen = set()
    for sample in document["samples"]:
        assert set(sample) == {"label", "inputs"} and sample["label"] in json.loads(manifest.read_text())["class_names"]
        for name, tensor in sample["inputs"].items():
            m = by_name[name]
            step = {"features": [m["feature_dim"]], "frames": [m["channels"], m["height"], m["width"]],
                    "tokens": []}[m["kind"]]
            assert tensor["shape"][1:] == step and 1 <= tensor["shape"][0] <= m["seq_len"]
            assert tensor["dtype"] == ("int64" if m["kind"] == "tokens" else "float32")
            size = 1
            for d in tensor["shape"]:
                size *= d
            assert len(tensor["data"]) == size
            seen.add(name)
    assert seen == set(by_name), f"no sample had {set(by_name) - seen}"
