"""Bad training data and user files (issue 13, findings 3, 4 and 8).

Before the fix: one NaN in a training .npz gave an all-NaN model with exit 0, a
1e30 value silently zeroed its modality, a diverging loss wrote a NaN model, an
npz-trained model could not be evaluated (or, named like a built-in set, was
evaluated on the built-in set), and damaged files gave tracebacks.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sdk import evaluate, train
from sdk.data import load_dataset
from sdk.data.npz import load_npz, save_npz

SMALL = ["--epochs", "2", "--quiet", "--hidden-size", "16", "--ffn-size", "16", "--threads", "1"]


@pytest.fixture(scope="module")
def small_dataset():
    return load_dataset("synthetic", n_samples=240)


def _npz(dataset, path, name=None, **edit):
    """Write `dataset` to `path` with its arrays edited by `edit` (modality -> function of the array)."""
    import dataclasses

    inputs = {k: v.copy() for k, v in dataset.inputs.items()}
    for modality, change in edit.items():
        inputs[modality] = change(inputs[modality])
    return save_npz(dataclasses.replace(dataset, inputs=inputs, name=name or dataset.name), path)


def _set(index, value):
    def change(x):
        x = x.astype(np.result_type(x.dtype, np.asarray(value).dtype))
        x[index] = value
        return x
    return change


@pytest.mark.parametrize("value,problem", [(np.nan, "not finite"), (np.inf, "not finite"), (1e30, "absurdly large")])
def test_training_refuses_non_finite_or_absurd_values(small_dataset, tmp_path, capsys, value, problem):
    path = _npz(small_dataset, tmp_path / "bad.npz", audio=_set((7, 2, 3), value))
    out = tmp_path / "run"
    assert train.main(["--dataset", "npz", "--data", str(path), "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err
    assert f"modality 'audio', sample 7" in err and "step 2" in err and problem in err
    assert not (out / "model.pt").exists()


def test_complex_features_are_refused(small_dataset, tmp_path):
    path = _npz(small_dataset, tmp_path / "complex.npz", audio=lambda x: x.astype(np.complex64) * 1j)
    with pytest.raises(ValueError, match="real numbers.*complex"):
        load_npz(path)


def test_a_diverging_loss_stops_training_without_writing(tmp_path, capsys):
    out = tmp_path / "run"
    code = train.main(["--dataset", "synthetic", "--out", str(out), "--lr", "1e25", *SMALL])
    assert code == 2
    err = capsys.readouterr().err
    assert "the training loss became" in err and "Lower --lr" in err
    assert not (out / "model.pt").exists()


@pytest.mark.parametrize("damage", ["truncated", "not_zip", "npy_renamed", "corrupt_zip"])
def test_damaged_npz_files_give_clear_errors(small_dataset, tmp_path, capsys, damage):
    good = _npz(small_dataset, tmp_path / "good.npz")
    bad = tmp_path / "bad.npz"
    data = good.read_bytes()
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "not_zip":
        bad.write_text("label,split\n1,train\n")
    elif damage == "npy_renamed":
        with open(bad, "wb") as f:
            np.save(f, np.zeros(3))
    else:
        middle = len(data) // 2
        bad.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :])
    code = train.main(["--dataset", "npz", "--data", str(bad), "--out", str(tmp_path / "run"), *SMALL])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and str(bad) in err and "Traceback" not in err


@pytest.fixture(scope="module")
def npz_run(small_dataset, tmp_path_factory):
    """A model trained from an .npz whose `name` is 'synthetic', like the built-in set."""
    root = tmp_path_factory.mktemp("npz")
    import dataclasses

    keep = np.flatnonzero(small_dataset.split != "test")[:150].tolist() + np.flatnonzero(small_dataset.split == "test")[:30].tolist()
    mine = dataclasses.replace(small_dataset.subset(np.array(keep)), name="synthetic")
    path = save_npz(mine, root / "mine.npz")
    out = root / "run"
    assert train.main(["--dataset", "npz", "--data", str(path), "--out", str(out), *SMALL]) == 0
    return path, out, mine


def test_an_npz_model_remembers_its_file(npz_run):
    from sdk.checkpoint import load_checkpoint
    from sdk.atomic import sha256_file

    path, out, _ = npz_run
    model, payload = load_checkpoint(out)
    assert model.spec.dataset == "npz"
    assert payload["data_source"] == {"loader": "npz", "path": str(path.resolve()), "sha256": sha256_file(path)}


def test_evaluate_uses_the_npz_file_not_a_builtin_set_of_the_same_name(npz_run, tmp_path):
    path, out, mine = npz_run
    result = tmp_path / "eval.json"
    assert evaluate.main(["--checkpoint", str(out), "--json", str(result)]) == 0
    # 30 test samples in the file; the built-in synthetic set has hundreds.
    assert int((mine.split == "test").sum()) == 30
    assert json.loads(result.read_text())["samples"] == 30


def test_a_moved_or_changed_npz_is_named_and_data_fixes_it(npz_run, tmp_path, capsys):
    path, out, _ = npz_run
    moved = tmp_path / "moved.npz"
    shutil.copy(path, moved)
    path.rename(path.with_suffix(".away"))
    try:
        assert evaluate.main(["--checkpoint", str(out)]) != 0
        assert "pass it with --data" in capsys.readouterr().err
        assert evaluate.main(["--checkpoint", str(out), "--data", str(moved)]) == 0
    finally:
        path.with_suffix(".away").rename(path)


def test_an_old_npz_checkpoint_gets_a_clear_error(npz_run, tmp_path, capsys):
    """A checkpoint from before data sources: its spec names the file's dataset, not a loader."""
    import torch

    _, out, _ = npz_run
    payload = torch.load(out / "model.pt", weights_only=True)
    payload.pop("data_source")
    payload["spec"]["dataset"] = "my_features"
    old = tmp_path / "old"
    old.mkdir()
    torch.save(payload, old / "model.pt")
    assert evaluate.main(["--checkpoint", str(old)]) != 0
    assert "does not record the file it came from" in capsys.readouterr().err


def test_pnao_and_export_use_the_npz_file(npz_run, tmp_path):
    """The pruned model keeps the file's record, so its export verifies on the same test samples."""
    from compress import pnao
    from export.pipeline import load_splits
    from sdk.checkpoint import load_checkpoint

    path, out, _ = npz_run
    assert pnao.main(["--checkpoint", str(out), "--out", str(tmp_path / "pnao"), "--rounds", "1",
                      "--rewind-epochs", "1", "--quiet", "--threads", "1"]) == 0
    model, payload = load_checkpoint(tmp_path / "pnao" / "best")
    assert payload["data_source"]["path"] == str(path.resolve())
    assert len(load_splits(model, payload, None)["test"]) == 30
