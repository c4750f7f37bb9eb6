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
