"""Golden vectors at export: a few test samples x presence patterns -> the PyTorch model's outputs.

`reference_cases` runs the model as trained (the same model export verification compares
against) once per export; `write_golden` writes `<stem>.golden.json` beside each artifact with
that artifact's sha256 and its precision's tolerance (format and checking: sdk.golden).

Samples: test samples with every modality present (the first `CANDIDATES`), of which the
`SAMPLES` whose smallest top-1 margin (p1 - p2) over the patterns is largest, so an int8
artifact's small deviations do not flip a golden case's top-1 by chance. Patterns: all
present; each modality alone; and, with a frames modality among three or more, all but the
frames (the live model's audio + text with no face).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sdk import golden
from sdk.atomic import write_text
from sdk.runtime.tensors import softmax
from sdk.spec import WAVEFORM

SAMPLES = 2
CANDIDATES = 32


def _run(model, inputs: list[torch.Tensor], presence: list[float]) -> tuple[np.ndarray, np.ndarray]:
    mask = torch.tensor([presence], dtype=torch.float32)
    xs = [x if p > 0 else torch.zeros_like(x) for x, p in zip(inputs, presence)]
    with torch.no_grad():
        logits, gates = model(*xs, mask)
    return softmax(logits.double().numpy())[0], gates.double().numpy()[0]


def _margin(probabilities: np.ndarray) -> float:
    top = np.sort(probabilities)[::-1]
    return float(top[0] - top[1]) if top.size > 1 else 1.0


def reference_cases(model, test, samples: int = SAMPLES) -> tuple[list[dict], list[dict]]:
    """(samples, cases) of the golden files of one export, from the PyTorch model on `test`."""
    model.eval()
    spec = model.spec
    patterns = golden.presence_patterns(spec)
    full = torch.nonzero(test.presence.min(dim=1).values > 0).flatten().tolist()
    candidates = (full or list(range(len(test))))[:CANDIDATES]
    results = {}
    for i in candidates:
        inputs = [x[i : i + 1] for x in test.inputs]
        results[i] = [(name, presence, *_run(model, inputs, presence)) for name, presence in patterns]
    ranked = sorted(candidates, key=lambda i: -min(_margin(r[2]) for r in results[i]))
    chosen = sorted(ranked[:samples])
    sample_docs, cases = [], []
    for k, i in enumerate(chosen):
        inputs = {m.name: golden.encode_input(x[i : i + 1].numpy(), pcm=m.kind == WAVEFORM)
                  for m, x in zip(spec.modalities, test.inputs)}
        sample_docs.append({"name": f"test_{i}", "inputs": inputs})
        for name, presence, probs, gates in results[i]:
            cases.append({"name": f"test_{i}/{name}", "sample": k, "presence": presence,
                          "expected": {"probabilities": probs.tolist(), "gate_weights": gates.tolist(),
                                       "top1": int(np.argmax(probs))}})
    return sample_docs, cases


def write_golden(artifact: Path, fmt: str, precision: str, sha256: str, spec, reference: tuple) -> Path:
    """Write `<stem>.golden.json` beside `artifact` atomically (sdk.atomic)."""
    samples, cases = reference
    doc = golden.build(artifact.name, fmt, precision, sha256, spec.class_names, spec.modality_names, samples, cases)
    return write_text(golden.golden_path(artifact), golden.dumps(doc))
