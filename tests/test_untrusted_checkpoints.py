"""A planted `model.pt` never runs code, whichever entry point loads it (issue 13, finding 1).

The file is a real pickle whose unpickling calls `os.system("touch <marker>")`.
Before the fix (`torch.load(weights_only=False)`) every entry point below ran it
and created the marker; now each refuses the file with a clear error first.
"""
from __future__ import annotations

import os

import pytest
import torch

from sdk.checkpoint import load_checkpoint


class _RunsCode:
    """Unpickling this calls os.system(command): what an attacker's checkpoint does."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture
def planted(tmp_path):
    """(run directory holding a malicious model.pt, marker path the payload would create)."""
    marker = tmp_path / "code-ran"
    run = tmp_path / "run"
    run.mkdir()
    payload = {"spec": _RunsCode(f"touch {marker}"), "state_dict": {}}
    torch.save(payload, run / "model.pt")
    return run, marker


def _refused(marker, capsys=None):
    assert not marker.exists(), "the checkpoint's pickle ran code"


def test_load_checkpoint_refuses_without_running(planted):
    run, marker = planted
    with pytest.raises(ValueError, match="not a readable emoedge checkpoint.*without running"):
        load_checkpoint(run)
    _refused(marker)


def test_recognizer_load_refuses_without_running(planted):
    from sdk.runtime import EmotionRecognizer

    run, marker = planted
    with pytest.raises(ValueError, match="not a readable emoedge checkpoint"):
        EmotionRecognizer.load(run)
    _refused(marker)


@pytest.mark.parametrize("entry", ["predict", "evaluate", "export", "pnao"])
def test_clis_refuse_without_running(planted, tmp_path, capsys, entry):
    run, marker = planted
    if entry == "predict":
        from sdk.predict import main

        code = main(["--model", str(run)])
    elif entry == "evaluate":
        from sdk.evaluate import main

        code = main(["--checkpoint", str(run)])
    elif entry == "export":
        from export.__main__ import main

        code = main(["--checkpoint", str(run), "--out", str(tmp_path / "dist"), "--quiet"])
    else:
        from compress.pnao import main

        code = main(["--checkpoint", str(run), "--out", str(tmp_path / "pnao"), "--rounds", "1", "--quiet"])
    assert code != 0
    assert "not a readable emoedge checkpoint" in capsys.readouterr().err
    _refused(marker)


def test_pnao_resume_skips_a_planted_round(planted, tmp_path):
    """`--resume` reads rounds/round_N.pt through `last_completed`: a planted round is skipped, not run."""
    from compress.pnao import last_completed

    run, marker = planted
    out = tmp_path / "pnao"
    (out / "rounds").mkdir(parents=True)
    os.replace(run / "model.pt", out / "rounds" / "round_3.pt")
    assert last_completed(out) is None
    _refused(marker)


def test_checkpoints_we_write_load_with_weights_only(tmp_path):
    """Everything save_checkpoint stores (numpy numbers included) reloads under weights_only=True."""
    import numpy as np

    from sdk.checkpoint import save_checkpoint
    from sdk.data import load_dataset
    from sdk.model import build_model
    from sdk.train import build_spec

    model = build_model(build_spec(load_dataset("synthetic", n_samples=64), hidden_size=16, ffn_size=16))
    path = save_checkpoint(tmp_path, model, {"metrics": {"accuracy": np.float32(0.5), "sizes": np.array([1, 2])}})
    payload = torch.load(path, weights_only=True)
    assert payload["metrics"] == {"accuracy": 0.5, "sizes": [1, 2]}
    reloaded, _ = load_checkpoint(path)
    assert reloaded.spec == model.spec
    with pytest.raises(TypeError, match="cannot go into a checkpoint"):
        save_checkpoint(tmp_path / "other", model, {"bad": object()})
