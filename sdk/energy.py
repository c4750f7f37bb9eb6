"""Energy per inference from battery current and voltage samples (the Android benchmark's method).

The phone's fuel gauge gives the battery current (BatteryManager
BATTERY_PROPERTY_CURRENT_NOW, microamperes) and voltage (ACTION_BATTERY_CHANGED
EXTRA_VOLTAGE, millivolts). The benchmark samples both during the timed run and
during an idle baseline (same process, nothing running) and the energy is:

    P_i    = |I_i| * 1e-6 * V_i * 1e-3                       watts at sample i
    E      = sum over i of (t_{i+1} - t_i) / 1000 * (P_i + P_{i+1}) / 2
                                                             joules (trapezoid rule, t in ms)
    P_idle = E_idle / (t_last - t_first of the idle samples)  mean idle power
    E_net  = E_run - P_idle * (t_last - t_first of the run samples)
    J/inference = E_net / iterations

The magnitude of the current is used because vendors disagree on its sign (Android
documents negative = discharging; some report positive). A run on a charging phone
is meaningless (the charger feeds the phone): the benchmark refuses or flags it,
this function does not know. E_net can come out negative when the idle baseline
drew more than the run (noise on a short run); it is reported as it is, with
`below_baseline` set, never clipped.

This is pure arithmetic shared by `python -m sdk.device report` and the contract
(contract/energy.json) that the Kotlin core passes too.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping


class EnergyError(ValueError):
    """Samples that cannot be integrated; `kind` is "too_few_samples", "unordered_samples",
    "non_finite" or "no_iterations"."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def _series(samples: Iterable[Mapping], what: str) -> list[tuple[float, float]]:
    """[(t_ms, watts)] after checking order and values."""
    points = []
    for sample in samples:
        t, current, voltage = float(sample["t_ms"]), float(sample["current_ua"]), float(sample["voltage_mv"])
        if not all(math.isfinite(v) for v in (t, current, voltage)):
            raise EnergyError(f"{what}: a sample has a non-finite value: {dict(sample)}", "non_finite")
        if points and t <= points[-1][0]:
            raise EnergyError(f"{what}: timestamps must increase; {t} ms follows {points[-1][0]} ms",
                              "unordered_samples")
        points.append((t, abs(current) * 1e-6 * voltage * 1e-3))
    if len(points) < 2:
        raise EnergyError(f"{what}: {len(points)} sample(s); at least 2 are needed to integrate power over time",
                          "too_few_samples")
    return points


def integrate_joules(points: list[tuple[float, float]]) -> float:
    """Trapezoid rule over [(t_ms, watts)]."""
    return sum((t1 - t0) / 1000.0 * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in zip(points, points[1:]))


def energy_per_inference(run_samples: Iterable[Mapping], idle_samples: Iterable[Mapping], iterations: int) -> dict:
    """Joules per inference (see the module docstring). Samples are mappings with t_ms,
    current_ua and voltage_mv; returns the intermediate values too."""
    if int(iterations) < 1:
        raise EnergyError(f"iterations must be >= 1, got {iterations}", "no_iterations")
    run, idle = _series(run_samples, "run"), _series(idle_samples, "idle")
    run_s, idle_s = (run[-1][0] - run[0][0]) / 1000.0, (idle[-1][0] - idle[0][0]) / 1000.0
    run_j, idle_j = integrate_joules(run), integrate_joules(idle)
    idle_power_w = idle_j / idle_s
    net_j = run_j - idle_power_w * run_s
    return {
        "run_seconds": run_s,
        "idle_seconds": idle_s,
        "run_joules": run_j,
        "idle_joules": idle_j,
        "run_power_w": run_j / run_s,
        "idle_power_w": idle_power_w,
        "net_joules": net_j,
        "joules_per_inference": net_j / int(iterations),
        "below_baseline": net_j < 0,
    }
