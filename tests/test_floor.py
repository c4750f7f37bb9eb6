"""compress.floor: the latency of a model's graph with every learned width scaled down."""
from __future__ import annotations

import json

import pytest

from compress.floor import main, narrowed, scaled_widths
from compress.measure import count_macs
from compress.prune import current_widths
from tests.helpers import save_tiny_checkpoint


def test_scaled_widths_stay_multiples_of_round_to_within_the_original():
    widths = {"a": 128, "b": 64, "c": 16, "d": 8}
    assert scaled_widths(widths, 1.0, 8) == widths
    assert scaled_widths(widths, 0.5, 8) == {"a": 64, "b": 32, "c": 8, "d": 8}
    assert scaled_widths(widths, 0.0, 8) == {"a": 8, "b": 8, "c": 8, "d": 8}
    assert scaled_widths({"e": 4}, 0.0, 8) == {"e": 4}  # never wider than the model was


def test_narrowest_graph_has_fewer_macs(tmp_path):
    from sdk.checkpoint import load_checkpoint

    model, _ = load_checkpoint(save_tiny_checkpoint(tmp_path))
    narrow = narrowed(model, 0.0, 2)
    assert set(current_widths(narrow).values()) == {2}
    assert count_macs(narrow) < count_macs(model)
    assert narrowed(model, 1.0, 2) is model


@pytest.mark.slow  # two int8 ExecuTorch lowerings: minutes on a busy 2-core machine
def test_floor_exports_times_and_writes_every_scale(tmp_path, capsys):
    pytest.importorskip("executorch")
    checkpoint = save_tiny_checkpoint(tmp_path / "run")
    out = tmp_path / "floor"
    assert main(["--checkpoint", str(checkpoint), "--scales", "0,1", "--round-to", "2", "--runs", "20",
                 "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "floor.json").read_text())["rows"]
    assert [r["scale"] for r in rows] == [1.0, 0.0]  # the unpruned reference first
    assert rows[0]["p50_vs_unpruned"] == 1.0 and all(r["p50_ms"] > 0 and r["runs"] == 20 for r in rows)
    assert rows[1]["macs"] < rows[0]["macs"] and rows[1]["params"] < rows[0]["params"]
    assert "| 0 |" in capsys.readouterr().out


@pytest.mark.parametrize("scales, message", [("1,x", "numbers"), ("0.5", "include 1"), ("1,2", "lie in [0, 1]")])
def test_bad_scales_are_refused(tmp_path, capsys, scales, message):
    assert main(["--checkpoint", str(tmp_path), "--scales", scales, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
