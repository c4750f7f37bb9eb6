"""Power rails and battery counters from a Perfetto trace with the `android.power` data source.

`sdk.device bench` starts `perfetto` on the phone with `trace_config(...)` before the benchmark,
stops it after, pulls the trace and reads it with `read_power_trace`. On phones whose power HAL
exposes on-device power monitors (ODPM: Pixel 6 and later, many recent Snapdragon phones) the
trace holds one cumulative energy counter per rail (microwatt-seconds), sampled every
`poll_ms`; those rails keep measuring while the phone is plugged in, unlike the battery current.

Parsing: the `perfetto` package's TraceProcessor would run SQL over the trace, but it needs its
`trace_processor_shell` binary, which it downloads on first use (perfetto.trace_processor.platform
fetches it from the Perfetto site); this project runs offline and never downloads binaries at run
time. The package also ships the trace protobufs (perfetto.protos.perfetto.trace.perfetto_trace_pb2),
and the power packets are simple, so they are read with those directly: TracePacket.power_rails
(rail_descriptor: index -> rail name; energy_data: index, timestamp_ms, energy in µWs) and
TracePacket.battery (BatteryCounters: current_ua, voltage_uv, charge_counter_uah). Timestamps are
boot-time (CLOCK_BOOTTIME) milliseconds, the clock of SystemClock.elapsedRealtime in the app.
"""
from __future__ import annotations

from pathlib import Path

REMOTE_TRACE = "/data/misc/perfetto-traces/emoedge_power.pftrace"


class TraceError(ValueError):
    """A file that is not a readable Perfetto trace."""


def _protos():
    try:
        from perfetto.protos.perfetto.trace import perfetto_trace_pb2
    except ImportError as err:  # pragma: no cover - a dependency of the project
        raise TraceError("the `perfetto` Python package is missing: pip install perfetto") from err
    return perfetto_trace_pb2


def trace_config(duration_ms: int, poll_ms: int = 250) -> str:
    """The text-format TraceConfig: power rails plus battery current/voltage/charge, every poll_ms."""
    if poll_ms < 100:
        raise ValueError(f"poll_ms must be >= 100 (the power HAL's minimum period), got {poll_ms}")
    return ("buffers { size_kb: 16384 fill_policy: RING_BUFFER }\n"
            "data_sources { config { name: \"android.power\" android_power_config {\n"
            f"  battery_poll_ms: {int(poll_ms)}\n"
            "  collect_power_rails: true\n"
            "  battery_counters: BATTERY_COUNTER_CURRENT\n"
            "  battery_counters: BATTERY_COUNTER_VOLTAGE\n"
            "  battery_counters: BATTERY_COUNTER_CHARGE\n"
            "} } }\n"
            f"duration_ms: {int(duration_ms)}\n")


def read_power_trace(path: Path) -> dict:
    """{"rails": {name: [[t_ms, µWs], ...]}, "battery": [{"t_ms", "current_ua", "voltage_mv"}], "packets": n}."""
    pb = _protos()
    data = Path(path).read_bytes()
    trace = pb.Trace()
    try:
        trace.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError
        raise TraceError(f"{path}: not a Perfetto trace ({err})") from err
    names: dict[int, str] = {}
    readings: dict[int, list[list[float]]] = {}
    battery = []
    for packet in trace.packet:
        if packet.HasField("power_rails"):
            rails = packet.power_rails
            for d in rails.rail_descriptor:
                names[d.index] = d.rail_name or d.subsys_name or f"rail{d.index}"
            for e in rails.energy_data:
                t_ms = float(e.timestamp_ms) if e.timestamp_ms else packet.timestamp / 1e6
                readings.setdefault(e.index, []).append([t_ms, float(e.energy)])
        if packet.HasField("battery"):
            b = packet.battery
            if b.HasField("current_ua") and b.HasField("voltage_uv"):
                battery.append({"t_ms": packet.timestamp / 1e6, "current_ua": float(b.current_ua),
                                "voltage_mv": b.voltage_uv / 1000.0})
    if not trace.packet and data:
        raise TraceError(f"{path}: no trace packets ({len(data)} bytes)")
    rails = {names.get(i, f"rail{i}"): sorted(points) for i, points in readings.items()}
    return {"rails": rails, "battery": sorted(battery, key=lambda s: s["t_ms"]), "packets": len(trace.packet)}


def write_synthetic_trace(path: Path, rails: dict[str, list[tuple[float, float]]],
                          battery: list[dict] = (), session_uuid: int = 1) -> None:
    """A trace with the same packets a phone's `android.power` data source writes (for tests and demos):
    rails {name: [(t_ms, µWs cumulative)]}, battery [{"t_ms", "current_ua", "voltage_mv"}]."""
    pb = _protos()
    trace = pb.Trace()
    descriptor = trace.packet.add()
    descriptor.timestamp = 0
    for index, name in enumerate(rails):
        d = descriptor.power_rails.rail_descriptor.add()
        d.index, d.rail_name, d.subsys_name, d.sampling_rate = index, name, name.split("_")[0], 1000
    descriptor.power_rails.session_uuid = session_uuid
    times = sorted({t for points in rails.values() for t, _ in points})
    for t in times:
        packet = trace.packet.add()
        packet.timestamp = int(t * 1e6)
        for index, points in enumerate(rails.values()):
            for tp, energy in points:
                if tp == t:
                    e = packet.power_rails.energy_data.add()
                    e.index, e.timestamp_ms, e.energy = index, int(round(t)), int(round(energy))
    for s in battery:
        packet = trace.packet.add()
        packet.timestamp = int(s["t_ms"] * 1e6)
        packet.battery.current_ua = int(s["current_ua"])
        packet.battery.voltage_uv = int(s["voltage_mv"] * 1000)
    Path(path).write_bytes(trace.SerializeToString())
