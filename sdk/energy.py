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


# ------------------------------------------------------------------ issue 18: sources, units, blocks
#
# The benchmark alternates idle and run blocks of the same length (idle, run, idle, run, ..., idle).
# Every energy source is turned into one cumulative series E(t) in joules over boot-time
# milliseconds (CLOCK_BOOTTIME: SystemClock.elapsedRealtime in the app, the Perfetto trace clock,
# the power HAL's timestamps), and then, for run block i of duration d_i with n_i inferences,
#
#     P_idle,i = mean power of the idle blocks right before and after it
#     e_i      = (E(end_i) - E(start_i) - P_idle,i * d_i) / n_i          joules per inference
#     result   = mean of e_i,  uncertainty = sample std of e_i / sqrt(k)  (k run blocks, k >= 2)
#
# so slow drift (temperature, screen, radio) is taken out block by block and the spread between
# blocks says how far the number can be trusted.

LONG_MIN = -(2 ** 63)  # BatteryManager.getLongProperty's "unsupported" (Long.MIN_VALUE)

SOURCES = {
    "power_monitor": "power rails read in the app (SystemHealthManager.getPowerMonitorReadings, API 35+)",
    "perfetto_rails": "power rails from a host-started Perfetto trace (android.power data source)",
    "battery_manager": "battery fuel gauge in the app (BatteryManager current x voltage; whole phone, coarse)",
}


class EnergySeries:
    """Cumulative energy E(t) in joules, summed over channels; `at(t_ms)` interpolates each channel linearly."""

    def __init__(self, channels: Mapping[str, list[tuple[float, float]]], source: str):
        if not channels:
            raise EnergyError(f"{source}: no energy channels", "too_few_samples")
        self.source = source
        self.channels = {}
        for name, points in channels.items():
            points = sorted((float(t), float(j)) for t, j in points)
            if len(points) < 2:
                raise EnergyError(f"{source}: channel {name} has {len(points)} reading(s); at least 2 are needed",
                                  "too_few_samples")
            for (t0, j0), (t1, j1) in zip(points, points[1:]):
                if not (math.isfinite(j0) and math.isfinite(j1)):
                    raise EnergyError(f"{source}: channel {name} has a non-finite reading", "non_finite")
                if j1 < j0:
                    raise EnergyError(f"{source}: channel {name} counter went down at {t1} ms ({j0} -> {j1} J); "
                                      "cumulative energy counters never decrease (counter reset?)", "unordered_samples")
            self.channels[name] = points

    @property
    def span_ms(self) -> tuple[float, float]:
        return (max(p[0][0] for p in self.channels.values()), min(p[-1][0] for p in self.channels.values()))

    def at(self, t_ms: float) -> float:
        total = 0.0
        for name, points in self.channels.items():
            if not points[0][0] <= t_ms <= points[-1][0]:
                raise EnergyError(f"{self.source}: channel {name} covers {points[0][0]:.0f}..{points[-1][0]:.0f} ms, "
                                  f"not {t_ms:.0f} ms (the readings must span every block)", "too_few_samples")
            for (t0, j0), (t1, j1) in zip(points, points[1:]):
                if t0 <= t_ms <= t1:
                    total += j0 if t1 == t0 else j0 + (j1 - j0) * (t_ms - t0) / (t1 - t0)
                    break
        return total


def rails_series(rails: Mapping[str, Iterable], source: str) -> EnergySeries:
    """Power-rail counters {rail: [[t_ms, microwatt_seconds], ...]} (ODPM, PowerMonitorReadings) as joules."""
    return EnergySeries({name: [(t, uws * 1e-6) for t, uws in points] for name, points in rails.items()}, source)


def battery_watts(samples: Iterable[Mapping], plugged: bool) -> tuple[list[tuple[float, float]], list[str]]:
    """[(t_ms, watts)] from BatteryManager samples after unit and sign checks, and notes on what was assumed.

    - current_ua == Long.MIN_VALUE (or every sample 0): the property is unsupported on this phone;
    - a median |current| under 10,000 is taken as mA (vendors that report mA; 10 mA of a phone running a
      model is implausible), the samples are scaled by 1000 and a note says so;
    - voltage_mv above 100,000 is taken as µV, under 10 as V; after that it must lie in 2,500..5,500 mV;
    - sign: Android documents positive = charging; while discharging a positive majority means the vendor
      inverted it (noted, magnitudes used); a phone on a charger is refused (the charger feeds the phone).
    """
    samples = list(samples)
    if plugged:
        raise EnergyError("battery current is meaningless while the phone is plugged in (USB counts): the charger "
                          "feeds the phone; use a power-rail source or unplug and use wireless adb "
                          "(`adb pair`, `adb connect`)", "charging")
    if any(int(s["current_ua"]) == LONG_MIN for s in samples if math.isfinite(float(s["current_ua"]))) or \
            (samples and all(float(s["current_ua"]) == 0 for s in samples)):
        raise EnergyError("BatteryManager.BATTERY_PROPERTY_CURRENT_NOW is unsupported on this phone "
                          "(Long.MIN_VALUE or always 0)", "unsupported")
    notes = []
    currents = sorted(abs(float(s["current_ua"])) for s in samples)
    scale_i = 1.0
    if currents and currents[len(currents) // 2] < 10_000:
        scale_i = 1000.0
        notes.append("battery current reported in mA (median |I| < 10,000): scaled to µA")
    voltages = sorted(float(s["voltage_mv"]) for s in samples)
    scale_v = 1.0
    if voltages and voltages[len(voltages) // 2] > 100_000:
        scale_v, _ = 1e-3, notes.append("battery voltage reported in µV: scaled to mV")
    elif voltages and voltages[len(voltages) // 2] < 10:
        scale_v, _ = 1e3, notes.append("battery voltage reported in V: scaled to mV")
    scaled = [{"t_ms": s["t_ms"], "current_ua": float(s["current_ua"]) * scale_i,
               "voltage_mv": float(s["voltage_mv"]) * scale_v} for s in samples]
    for s in scaled:
        if math.isfinite(s["voltage_mv"]) and not 2500 <= s["voltage_mv"] <= 5500:
            raise EnergyError(f"battery voltage {s['voltage_mv']:.0f} mV is outside 2,500..5,500 mV after unit "
                              "checks: not a phone battery reading", "implausible")
    positive = sum(s["current_ua"] > 0 for s in scaled)
    if positive > len(scaled) / 2:
        notes.append("positive battery current while discharging: this vendor inverts the sign; magnitudes used")
    if 0 < positive < len(scaled) and min(positive, len(scaled) - positive) > 0.1 * len(scaled):
        notes.append(f"battery current changed sign in {min(positive, len(scaled) - positive)} of {len(scaled)} "
                     "samples: the gauge is noisy or the phone was charging part of the time")
    return _series(scaled, "battery"), notes


def battery_series(samples: Iterable[Mapping], plugged: bool) -> tuple[EnergySeries, list[str]]:
    """The fuel gauge's power integrated (trapezoid rule) into a cumulative series, and the unit/sign notes."""
    points, notes = battery_watts(samples, plugged)
    cumulative, total = [(points[0][0], 0.0)], 0.0
    for (t0, p0), (t1, p1) in zip(points, points[1:]):
        total += (t1 - t0) / 1000.0 * (p0 + p1) / 2.0
        cumulative.append((t1, total))
    return EnergySeries({"battery": cumulative}, "battery_manager"), notes


def block_energy(blocks: Iterable[Mapping], series: EnergySeries) -> dict:
    """Energy per inference from interleaved idle/run blocks (see the comment above this section).

    blocks: [{"kind": "idle"|"run", "start_ms", "end_ms", "inferences"}] in boot-time ms."""
    blocks = sorted(blocks, key=lambda b: float(b["start_ms"]))
    measured = []
    for b in blocks:
        start, end = float(b["start_ms"]), float(b["end_ms"])
        if b["kind"] not in ("idle", "run") or not end > start:
            raise EnergyError(f"bad block {dict(b)}: kind must be idle or run and end_ms > start_ms", "unordered_samples")
        joules = series.at(end) - series.at(start)
        measured.append({"kind": b["kind"], "start_ms": start, "end_ms": end, "seconds": (end - start) / 1000.0,
                         "inferences": int(b.get("inferences") or 0), "joules": joules,
                         "power_w": joules / ((end - start) / 1000.0)})
    per_inference = []
    for i, b in enumerate(measured):
        if b["kind"] != "run":
            continue
        neighbours = [measured[j]["power_w"] for j in (i - 1, i + 1)
                      if 0 <= j < len(measured) and measured[j]["kind"] == "idle"]
        if not neighbours:
            raise EnergyError(f"run block at {b['start_ms']:.0f} ms has no idle block beside it", "too_few_samples")
        if b["inferences"] < 1:
            raise EnergyError(f"run block at {b['start_ms']:.0f} ms ran no inference", "no_iterations")
        b["idle_power_w"] = sum(neighbours) / len(neighbours)
        b["net_joules"] = b["joules"] - b["idle_power_w"] * b["seconds"]
        b["joules_per_inference"] = b["net_joules"] / b["inferences"]
        per_inference.append(b["joules_per_inference"])
    if not per_inference:
        raise EnergyError("no run block: nothing to attribute energy to", "too_few_samples")
    k = len(per_inference)
    mean = sum(per_inference) / k
    stderr = (math.sqrt(sum((e - mean) ** 2 for e in per_inference) / (k - 1)) / math.sqrt(k)) if k >= 2 else None
    runs = [b for b in measured if b["kind"] == "run"]
    idles = [b for b in measured if b["kind"] == "idle"]
    return {
        "source": series.source,
        "mj_per_inference": mean * 1e3,
        "uncertainty_mj": None if stderr is None else stderr * 1e3,
        "run_blocks": k,
        "inferences": sum(b["inferences"] for b in runs),
        "run_power_w": sum(b["power_w"] for b in runs) / len(runs),
        "idle_power_w": sum(b["power_w"] for b in idles) / len(idles) if idles else None,
        "below_baseline": mean < 0,
        "blocks": measured,
    }


def energy_from_sources(blocks: list[Mapping], power: Mapping[str, Mapping] | None = None,
                        battery: list[Mapping] | None = None, plugged: bool = False) -> tuple[dict | None, list[str]]:
    """The best energy estimate the recorded sources allow, in priority order
    power_monitor > perfetto_rails > battery_manager, and notes on every source passed over.

    power: {"power_monitor": {rail: [[t_ms, µWs]]}, "perfetto_rails": {...}} (absent or empty: not recorded).
    Returns (None, notes) when no source works; `notes` then says why for each one."""
    notes = []
    for source in ("power_monitor", "perfetto_rails"):
        rails = (power or {}).get(source)
        if not rails:
            continue
        try:
            result = block_energy(blocks, rails_series(rails, source))
            result["channels"] = sorted(rails)
            return result, notes
        except EnergyError as err:
            notes.append(f"{source} not used: {err}")
    if battery:
        try:
            series, unit_notes = battery_series(battery, plugged)
            result = block_energy(blocks, series)
            result["channels"] = ["battery"]
            return result, notes + unit_notes
        except EnergyError as err:
            notes.append(f"battery_manager not used: {err}")
    if not battery and not any((power or {}).values()):
        notes.append("no energy source recorded")
    return None, notes
