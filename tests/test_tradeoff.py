"""compress.tradeoff: the per-round table of int8 latency, size and accuracy."""
from __future__ import annotations

import pytest

from compress.tradeoff import accuracy_columns, entries, format_table, main


def row(name, params, macs, et_ms, et_kb, acc):
    return {"name": name, "params": params, "macs": macs, "flop_floor_ms": 1.0, "peak_gflops": 90.0,
            "artifacts": {"executorch/fp32": {"size_bytes": 4000 * 1024, "status": "ok"},
                          "executorch/int8": {"size_bytes": et_kb * 1024, "status": "ok", "p50_ms": et_ms,
                                              "floor_ratio": et_ms / 1.0}},
            "accuracy": {"paired A+T+V": acc}}


def test_table_gives_fractions_of_the_unpruned_model():
    table = format_table([row("unpruned", 1000, 50e6, 4.8, 1000, 0.83), row("round_1", 500, 20e6, 2.4, 400, 0.82)],
                         ["executorch"])
    lines = table.splitlines()
    assert lines[0].startswith("| model | params | MACs | executorch int8 p50 ms (x floor)")
    assert "| round_1 | 500 (50%) | 20.0 M (40%) | 2.40 (2.4x) | 400 (10.0%) | 0.8200 |" == lines[3]


def test_live_protocol_columns_are_read_from_sdk_evaluate_json():
    evaluation = {"protocol": {"unimodal": {"ravdess_speech": {"accuracy": 0.54}, "fer2013": {"accuracy": 0.61}},
                               "paired_subsets": {"audio+text+video": {"accuracy": 0.83}}}}
    assert accuracy_columns(evaluation) == {"speech (RAVDESS)": 0.54, "faces (FER2013)": 0.61, "paired A+T+V": 0.83}
    assert accuracy_columns({"subsets": {"audio": {"accuracy": 0.5}}}) == {"audio": 0.5}


def test_entries_put_the_baseline_first_and_order_rounds_numerically(tmp_path):
    (tmp_path / "rounds").mkdir()
    for i in (10, 2, 0):
        (tmp_path / "rounds" / f"round_{i}.pt").write_bytes(b"")
    names = [n for n, _ in entries(tmp_path, tmp_path / "base", "all")]
    assert names == ["unpruned", "round_0", "round_2", "round_10"]
    assert [n for n, _ in entries(tmp_path, None, "2")] == ["round_2"]


def test_cli_names_a_missing_pnao_run(tmp_path, capsys):
    assert main(["--pnao", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no round checkpoints" in capsys.readouterr().err
    assert main(["--pnao", str(tmp_path), "--out", str(tmp_path / "o"), "--formats", "coreml"]) == 2
    assert "unknown format" in capsys.readouterr().err


@pytest.mark.slow
def test_tradeoff_end_to_end_on_a_small_pnao_run(tmp_path):
    """Real export (ONNX), evaluation and bench of a baseline and two PNAO rounds of a synthetic model."""
    import json

    import torch

    from compress.pnao import PnaoOptions, run_pnao
    from sdk.train import checkpoint_data, train_run
    from sdk.checkpoint import load_checkpoint
    from sdk.data import load_dataset
    from sdk.training import TrainConfig, config_from_dict

    torch.set_num_threads(1)
    config = TrainConfig(epochs=3, batch_size=32, l1=1e-4)
    train_run(load_dataset("synthetic", None), tmp_path / "base", config, progress=False)
    model, payload = load_checkpoint(tmp_path / "base")
    run_pnao(model, checkpoint_data(model, payload), config_from_dict(payload["train_config"]), tmp_path / "pnao",
             PnaoOptions(rounds=1, naor=0.5, rewind_epochs=1, l1=1e-4, normalizer="mean"), progress=False,
             extra={"train_config": payload["train_config"]})
    assert main(["--pnao", str(tmp_path / "pnao"), "--baseline", str(tmp_path / "base"), "--formats", "onnx",
                 "--runs", "5", "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "tradeoff.json").read_text())
    assert [r["name"] for r in result["rows"]] == ["unpruned", "round_0", "round_1"]
    for row in result["rows"]:
        assert row["artifacts"]["onnx/int8"]["p50_ms"] > 0 and row["accuracy"]
    assert result["rows"][2]["macs"] < result["rows"][0]["macs"]
    assert "onnx/fp32" in result["rows"][0]["artifacts"]  # the size reference
    assert (tmp_path / "out" / "tradeoff.png").stat().st_size > 0
