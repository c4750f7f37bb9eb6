"""The cross-language contract (contract/): the Python SDK passes every vector, and the files are
exactly what `python -m sdk.contract --out contract/` generates (so they cannot drift from the SDK)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sdk import contract
from sdk.inputs import INPUT_ERROR_KINDS

CONTRACT = Path(__file__).resolve().parent.parent / "contract"


@pytest.fixture(scope="module")
def generated():
    return contract.generate()


def test_every_file_is_committed_and_identical_to_a_fresh_generation(generated, tmp_path):
    written = contract.write(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(generated)
    for rel in generated:
        fresh, committed = (tmp_path / rel).read_bytes(), (CONTRACT / rel).read_bytes()
        assert fresh == committed, f"contract/{rel} is stale: run `python -m sdk.contract --out contract/`"


def test_generation_is_deterministic(generated):
    assert contract.generate() == generated


@pytest.mark.parametrize("rel", contract.FILES)
def test_the_python_sdk_passes_every_vector(rel):
    problems = contract.check(CONTRACT)[rel]
    assert problems == []


def test_a_changed_expectation_is_caught():
    """The checker is not vacuous: alter one expected value per file and it reports it."""
    broken = copy.deepcopy(json.loads((CONTRACT / "input_packing.json").read_text()))
    case = next(c for c in broken["cases"] if "inputs" in c["expected"])
    case["expected"]["inputs"]["audio"]["data"][-1] += 0.01
    specs = {n: contract.spec_of(json.loads((CONTRACT / "manifests" / n).read_text())) for n in contract.MANIFESTS}
    assert contract.check_packing(case, specs) == ["audio: values differ"]
    latency = json.loads((CONTRACT / "latency_stats.json").read_text())["cases"][2]
    latency["expected"]["p90_ms"] *= 1.001
    assert contract.check_latency(latency)
    energy = json.loads((CONTRACT / "energy.json").read_text())["cases"][0]
    energy["expected"]["below_baseline"] = True
    assert contract.check_energy(energy)
    facts = json.loads((CONTRACT / "manifest_parsing.json").read_text())["cases"][-1]
    facts["expected"]["input_dtypes"]["text"] = "int16"
    mans = {n: json.loads((CONTRACT / "manifests" / n).read_text()) for n in contract.MANIFESTS}
    assert contract.check_manifest_parsing(facts, mans)


def test_vectors_cover_what_the_issue_asks_for():
    packing = json.loads((CONTRACT / "input_packing.json").read_text())["cases"]
    errors = {c["expected"].get("error") for c in packing} - {None}
    assert {"all_absent", "zero_steps", "wrong_shape", "non_finite", "text_too_long"} <= errors
    assert errors <= set(INPUT_ERROR_KINDS)
    presences = [c["expected"]["inputs"]["presence"]["data"] for c in packing if "inputs" in c["expected"]]
    assert any(0.0 in p for p in presences) and any(0.0 not in p for p in presences)  # missing and complete
    for c in packing:  # an absent modality is zero-filled in its tensor and 0 in the mask, never a silent zero
        if "inputs" not in c["expected"]:
            continue
        inputs = c["expected"]["inputs"]
        for i, name in enumerate(json.loads((CONTRACT / "manifests" / c["manifest"]).read_text())["modalities"]):
            present = inputs["presence"]["data"][i] == 1.0
            assert present == (c["raw"].get(name) is not None), (c["name"], name)
            if not present:
                assert not any(inputs[name]["data"]), (c["name"], name)
    manifests = [json.loads(p.read_text()) for p in sorted((CONTRACT / "manifests").glob("*.json"))]
    kinds = {m["kind"] for man in manifests for m in man["spec"]["modalities"]}
    assert kinds == {"features", "frames", "tokens", "waveform"}
    tokenizer = json.loads((CONTRACT / "tokenizer.json").read_text())["cases"]
    assert any(1 in c["expected"].get("ids", []) for c in tokenizer)  # out-of-vocabulary words
    assert any(len(c["expected"].get("ids", [])) > c["max_len"] for c in tokenizer)  # truncation
