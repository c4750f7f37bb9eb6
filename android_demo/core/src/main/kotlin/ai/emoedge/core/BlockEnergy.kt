package ai.emoedge.core

import kotlin.math.abs
import kotlin.math.sqrt

/** One block of the benchmark protocol in boot-time ms (SystemClock.elapsedRealtime): "idle" or "run". */
class Block(
    val kind: String,
    val startMs: Double,
    val endMs: Double,
    val inferences: Int,
) {
    fun toMap(): Map<String, Any> = linkedMapOf("kind" to kind, "start_ms" to startMs, "end_ms" to endMs, "inferences" to inferences)
}

/**
 * Cumulative energy E(t) in joules per channel over boot-time ms (sdk/energy.py EnergySeries): [at]
 * interpolates every channel linearly and sums them. Counters must not go down.
 */
class EnergySeries(
    channels: Map<String, List<Pair<Double, Double>>>,
    val source: String,
) {
    val channels: Map<String, List<Pair<Double, Double>>>

    init {
        if (channels.isEmpty()) throw EnergyException("too_few_samples", "$source: no energy channels")
        this.channels =
            channels.mapValues { (name, raw) ->
                val points = raw.sortedBy { it.first }
                if (points.size < 2) {
                    throw EnergyException("too_few_samples", "$source: channel $name has ${points.size} reading(s); at least 2 are needed")
                }
                for (i in 1 until points.size) {
                    if (!points[i].second.isFinite() || !points[i - 1].second.isFinite()) {
                        throw EnergyException("non_finite", "$source: channel $name has a non-finite reading")
                    }
                    if (points[i].second < points[i - 1].second) {
                        throw EnergyException(
                            "unordered_samples",
                            "$source: channel $name counter went down at ${points[i].first} ms (counter reset?)",
                        )
                    }
                }
                points
            }
    }

    fun at(tMs: Double): Double {
        var total = 0.0
        for ((name, p) in channels) {
            if (tMs < p.first().first || tMs > p.last().first) {
                throw EnergyException(
                    "too_few_samples",
                    "$source: channel $name covers ${p.first().first}..${p.last().first} ms, not $tMs ms (the readings must span every block)",
                )
            }
            for (i in 1 until p.size) {
                val (t0, j0) = p[i - 1]
                val (t1, j1) = p[i]
                if (tMs in t0..t1) {
                    total += if (t1 == t0) j0 else j0 + (j1 - j0) * (tMs - t0) / (t1 - t0)
                    break
                }
            }
        }
        return total
    }

    companion object {
        /** Power-rail counters {rail: [(t_ms, µWs)]} (PowerMonitorReadings, ODPM) in joules. */
        fun rails(
            readings: Map<String, List<Pair<Double, Double>>>,
            source: String,
        ) = EnergySeries(readings.mapValues { (_, v) -> v.map { it.first to it.second * 1e-6 } }, source)

        /** The fuel gauge's power (after [BatteryUnits.check]) integrated by the trapezoid rule. */
        fun battery(
            samples: List<BatterySample>,
            plugged: Boolean,
        ): Pair<EnergySeries, List<String>> {
            val (scaled, notes) = BatteryUnits.check(samples, plugged)
            val watts = scaled.map { abs(it.currentUa) * 1e-6 * it.voltageMv * 1e-3 }
            for (i in 1 until scaled.size) {
                if (scaled[i].tMs <= scaled[i - 1].tMs) {
                    throw EnergyException("unordered_samples", "battery: timestamps must increase at sample $i")
                }
            }
            if (scaled.size < 2) throw EnergyException("too_few_samples", "battery: ${scaled.size} sample(s); at least 2 are needed")
            val points = ArrayList<Pair<Double, Double>>()
            var joules = 0.0
            points += scaled[0].tMs to 0.0
            for (i in 1 until scaled.size) {
                joules += (scaled[i].tMs - scaled[i - 1].tMs) / 1000.0 * (watts[i] + watts[i - 1]) / 2.0
                points += scaled[i].tMs to joules
            }
            return EnergySeries(mapOf("battery" to points), "battery_manager") to notes
        }
    }
}

/** BatteryManager readings checked for units and sign (sdk/energy.py battery_watts, same rules). */
object BatteryUnits {
    const val UNSUPPORTED = Long.MIN_VALUE

    /** The samples in µA and mV, and notes on what was assumed; throws for unusable readings. */
    fun check(
        samples: List<BatterySample>,
        plugged: Boolean,
    ): Pair<List<BatterySample>, List<String>> {
        if (plugged) {
            throw EnergyException(
                "charging",
                "battery current is meaningless while the phone is plugged in (USB counts): use a power-rail source, " +
                    "or unplug and use wireless adb (adb pair, adb connect)",
            )
        }
        if (samples.any { it.currentUa == UNSUPPORTED.toDouble() } || (samples.isNotEmpty() && samples.all { it.currentUa == 0.0 })) {
            throw EnergyException(
                "unsupported",
                "BatteryManager.BATTERY_PROPERTY_CURRENT_NOW is unsupported on this phone (Long.MIN_VALUE or always 0)",
            )
        }
        val notes = ArrayList<String>()
        val medianI = samples.map { abs(it.currentUa) }.sorted().let { if (it.isEmpty()) 0.0 else it[it.size / 2] }
        val scaleI = if (samples.isNotEmpty() && medianI < 10_000) 1000.0 else 1.0
        if (scaleI != 1.0) notes += "battery current reported in mA (median |I| < 10,000): scaled to µA"
        val medianV = samples.map { it.voltageMv }.sorted().let { if (it.isEmpty()) 0.0 else it[it.size / 2] }
        val scaleV =
            when {
                samples.isEmpty() -> 1.0
                medianV > 100_000 -> (1e-3).also { notes += "battery voltage reported in µV: scaled to mV" }
                medianV < 10 -> (1e3).also { notes += "battery voltage reported in V: scaled to mV" }
                else -> 1.0
            }
        val scaled = samples.map { BatterySample(it.tMs, it.currentUa * scaleI, it.voltageMv * scaleV) }
        for (s in scaled) {
            if (s.voltageMv.isFinite() && s.voltageMv !in 2500.0..5500.0) {
                throw EnergyException("implausible", "battery voltage ${s.voltageMv} mV is outside 2,500..5,500 mV after unit checks")
            }
        }
        val positive = scaled.count { it.currentUa > 0 }
        if (positive >
            scaled.size / 2.0
        ) {
            notes += "positive battery current while discharging: this vendor inverts the sign; magnitudes used"
        }
        val minority = minOf(positive, scaled.size - positive)
        if (minority > 0 && minority > 0.1 * scaled.size) {
            notes +=
                "battery current changed sign in $minority of ${scaled.size} samples: the gauge is noisy or the phone was charging part of the time"
        }
        return scaled to notes
    }
}

/**
 * Energy per inference from interleaved idle/run blocks (sdk/energy.py block_energy): for run block i,
 * e_i = (E(end) - E(start) - P_idle,i * d_i) / n_i with P_idle,i the mean power of the idle blocks beside
 * it; the result is the mean of e_i and its standard error sd(e_i)/sqrt(k) (null for one block).
 */
class BlockEnergy(
    val source: String,
    val mjPerInference: Double,
    val uncertaintyMj: Double?,
    val runBlocks: Int,
    val inferences: Int,
    val runPowerW: Double,
    val idlePowerW: Double?,
    val perBlockMj: List<Double>,
) {
    val belowBaseline get() = mjPerInference < 0

    fun toMap(): Map<String, Any?> =
        linkedMapOf(
            "source" to source,
            "mj_per_inference" to mjPerInference,
            "uncertainty_mj" to uncertaintyMj,
            "run_blocks" to runBlocks,
            "inferences" to inferences,
            "run_power_w" to runPowerW,
            "idle_power_w" to idlePowerW,
            "below_baseline" to belowBaseline,
            "per_block_mj" to perBlockMj,
        )

    companion object {
        fun of(
            blocks: List<Block>,
            series: EnergySeries,
        ): BlockEnergy {
            val sorted = blocks.sortedBy { it.startMs }
            for (b in sorted) {
                if ((b.kind != "idle" && b.kind != "run") || b.endMs <= b.startMs) {
                    throw EnergyException("unordered_samples", "bad block ${b.toMap()}: kind must be idle or run and end_ms > start_ms")
                }
            }
            val power = sorted.map { (series.at(it.endMs) - series.at(it.startMs)) / ((it.endMs - it.startMs) / 1000.0) }
            val perInference = ArrayList<Double>()
            for ((i, b) in sorted.withIndex()) {
                if (b.kind != "run") continue
                val neighbours = listOf(i - 1, i + 1).filter { it in sorted.indices && sorted[it].kind == "idle" }.map { power[it] }
                if (neighbours.isEmpty()) {
                    throw EnergyException(
                        "too_few_samples",
                        "run block at ${b.startMs} ms has no idle block beside it",
                    )
                }
                if (b.inferences < 1) throw EnergyException("no_iterations", "run block at ${b.startMs} ms ran no inference")
                val seconds = (b.endMs - b.startMs) / 1000.0
                perInference += (power[i] - neighbours.average()) * seconds / b.inferences
            }
            if (perInference.isEmpty()) throw EnergyException("too_few_samples", "no run block: nothing to attribute energy to")
            val k = perInference.size
            val mean = perInference.average()
            val stderr = if (k >= 2) sqrt(perInference.sumOf { (it - mean) * (it - mean) } / (k - 1)) / sqrt(k.toDouble()) else null
            val runs = sorted.indices.filter { sorted[it].kind == "run" }
            val idles = sorted.indices.filter { sorted[it].kind == "idle" }
            return BlockEnergy(
                series.source,
                mean * 1e3,
                stderr?.let { it * 1e3 },
                k,
                runs.sumOf { sorted[it].inferences },
                runs.map { power[it] }.average(),
                if (idles.isEmpty()) null else idles.map { power[it] }.average(),
                perInference.map { it * 1e3 },
            )
        }

        /** The in-app sources in priority order: power monitors (rails), then the battery gauge (only unplugged). */
        fun choose(
            blocks: List<Block>,
            powerMonitor: Map<String, List<Pair<Double, Double>>>,
            battery: List<BatterySample>,
            plugged: Boolean,
        ): Pair<BlockEnergy?, List<String>> {
            val notes = ArrayList<String>()
            if (powerMonitor.isNotEmpty()) {
                try {
                    return of(blocks, EnergySeries.rails(powerMonitor, "power_monitor")) to notes
                } catch (e: EnergyException) {
                    notes += "power_monitor not used: ${e.message}"
                }
            }
            if (battery.isNotEmpty()) {
                try {
                    val (series, unitNotes) = EnergySeries.battery(battery, plugged)
                    return of(blocks, series) to notes + unitNotes
                } catch (e: EnergyException) {
                    notes += "battery_manager not used: ${e.message}"
                }
            }
            if (powerMonitor.isEmpty() && battery.isEmpty()) notes += "no energy source recorded"
            return null to notes
        }
    }
}

/**
 * The protocol's timing skeleton, platform-free so it is tested here: [blocks] run blocks of [blockMs]
 * inferring back to back, each between idle blocks of the same length (idle, run, idle, ..., run, idle).
 * [clockMs] is boot-time ms (SystemClock.elapsedRealtimeNanos / 1e6 in the app), [sleepMs] idles.
 */
class BlockSchedule(
    private val blocks: Int,
    private val blockMs: Long,
    private val clockMs: () -> Double,
    private val sleepMs: (Long) -> Unit,
) {
    init {
        require(blocks >= 1 && blockMs >= 1) { "blocks and block length must be >= 1, got $blocks x $blockMs ms" }
    }

    /** Runs the schedule; returns the blocks and every inference's latency in ms, in order. */
    fun run(infer: () -> Unit): Pair<List<Block>, DoubleArray> {
        val out = ArrayList<Block>()
        val latencies = ArrayList<Double>()

        fun idle() {
            val start = clockMs()
            var now = start
            while (now - start < blockMs) {
                sleepMs(maxOf(1L, (blockMs - (now - start)).toLong()))
                now = clockMs()
            }
            out += Block("idle", start, now, 0)
        }
        idle()
        repeat(blocks) {
            val start = clockMs()
            var now = start
            var n = 0
            while (now - start < blockMs) {
                infer()
                val after = clockMs()
                latencies += after - now
                now = after
                n++
            }
            out += Block("run", start, now, n)
            idle()
        }
        return out to latencies.toDoubleArray()
    }
}
