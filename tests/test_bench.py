"""sdk.bench: the one-thread peak over several shapes and the FLOP-floor ratios of every latency column."""
from __future__ import annotations

import pytest
import torch

from sdk import bench


def test_peak_is_the_best_of_every_shape_at_one_thread():
    threads_seen = []

    def tiny(t):  # an 8x8 matmul is all call overhead: far below a 256x256 one's GFLOP/s
        return t.mm, (t.randn(8, 8), t.randn(8, 8))

    def counted(t):
        def mm(a, b):
            threads_seen.append(torch.get_num_threads())
            return torch.mm(a, b)
        return mm, (t.randn(256, 256), t.randn(256, 256))

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = bench.peak_gflops({"tiny": tiny, "gemm 256": counted}, repeats=3, seconds=0.02)
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)
    assert set(threads_seen) == {1}
    assert set(result["shapes"]) == {"tiny", "gemm 256"}
    assert result["peak_gflops"] == max(result["shapes"].values())
    assert result["peak_shape"] == "gemm 256"
    assert all(gflops > 0 for gflops in result["shapes"].values())


def test_default_shapes_are_all_measured():
    result = bench.peak_gflops(repeats=1, seconds=0.0)
    assert list(result["shapes"]) == list(bench.PEAK_SHAPES)
    assert len(bench.PEAK_SHAPES) >= 6
    assert result["peak_gflops"] == max(result["shapes"].values())
    assert result["shapes"][result["peak_shape"]] == result["peak_gflops"]


def test_thread_count_restored_when_a_shape_fails():
    def broken(t):
        return (lambda: t.randn(2)), ()  # no matmul or convolution: counts 0 FLOPs

    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="0 FLOPs"):
        bench.peak_gflops({"broken": broken})
    assert torch.get_num_threads() == before


def test_every_latency_column_has_its_floor_ratio(tmp_path, monkeypatch):
    latencies = {"load_ms": 50.0, "first_ms": 2.0, "p50_ms": 1.0, "p90_ms": 1.5, "p99_ms": 3.0,
                 "runtime_p50_ms": 0.5, "peak_rss_mb": 40.0}
    monkeypatch.setattr(bench, "find_artifacts", lambda models: [(tmp_path / "m.onnx", {"format": "onnx"})])
    monkeypatch.setattr(bench, "run_worker", lambda *args: dict(latencies))
    monkeypatch.setattr(bench, "count_flops", lambda checkpoint: 2_000_000)  # 2 MFLOPs
    monkeypatch.setattr(bench, "peak_gflops", lambda: {"peak_gflops": 100.0, "peak_shape": "gemm 512",
                                                       "shapes": {"gemm 256": 80.0, "gemm 512": 100.0}})
    result = bench.benchmark(tmp_path, tmp_path / "ckpt", threads=1, runs=1, warmup=0, progress=False)
    assert result["flop_floor_ms"] == pytest.approx(0.02)  # 2 MFLOPs at 100 GFLOP/s
    assert result["peak_shapes"] == {"gemm 256": 80.0, "gemm 512": 100.0}
    for row in result["rows"]:
        assert set(row["ratios_to_flop_floor"]) == set(bench.FLOOR_COLUMNS)
        for key in bench.FLOOR_COLUMNS:
            assert row["ratios_to_flop_floor"][key] == pytest.approx(latencies[key] / 0.02)
    markdown = bench.format_markdown(result)
    assert "one-thread peak: 100.0 GFLOP/s (gemm 512)" in markdown
    assert "gemm 256 80.0" in markdown
    cells = markdown.splitlines()[4].split(" | ")  # the torch row
    assert cells[3:8] == ["2.00 (100.0×)", "1.000 (50.0×)", "1.500 (75.0×)", "3.000 (150.0×)", "0.500 (25.0×)"]
