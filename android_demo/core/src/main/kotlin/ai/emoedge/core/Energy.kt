package ai.emoedge.core

import kotlin.math.abs

/** Samples that cannot be integrated; [kind]: too_few_samples, unordered_samples, non_finite, no_iterations. */
class EnergyException(
    val kind: String,
    message: String,
) : IllegalArgumentException(message)

/** One fuel-gauge reading: BatteryManager current (microamperes) and battery voltage (millivolts). */
class BatterySample(
    val tMs: Double,
    val currentUa: Double,
    val voltageMv: Double,
) {
    fun toMap(): Map<String, Double> = linkedMapOf("t_ms" to tMs, "current_ua" to currentUa, "voltage_mv" to voltageMv)
}

/**
 * Energy per inference (sdk/energy.py): P = |I| * V, trapezoid rule over time, minus the idle
 * baseline's mean power over the run's duration, divided by the iterations.
 */
class EnergyEstimate(
    val runSeconds: Double,
    val idleSeconds: Double,
    val runJoules: Double,
    val idleJoules: Double,
    val runPowerW: Double,
    val idlePowerW: Double,
    val netJoules: Double,
    val joulesPerInference: Double,
    val belowBaseline: Boolean,
) {
    fun toMap(): Map<String, Any> =
        linkedMapOf(
            "run_seconds" to runSeconds,
            "idle_seconds" to idleSeconds,
            "run_joules" to runJoules,
            "idle_joules" to idleJoules,
            "run_power_w" to runPowerW,
            "idle_power_w" to idlePowerW,
            "net_joules" to netJoules,
            "joules_per_inference" to joulesPerInference,
            "below_baseline" to belowBaseline,
        )

    companion object {
        fun of(
            run: List<BatterySample>,
            idle: List<BatterySample>,
            iterations: Int,
        ): EnergyEstimate {
            if (iterations < 1) throw EnergyException("no_iterations", "iterations must be >= 1, got $iterations")
            val runW = watts(run, "run")
            val idleW = watts(idle, "idle")
            val runS = (run.last().tMs - run.first().tMs) / 1000.0
            val idleS = (idle.last().tMs - idle.first().tMs) / 1000.0
            val runJ = integrate(run, runW)
            val idleJ = integrate(idle, idleW)
            val idlePower = idleJ / idleS
            val net = runJ - idlePower * runS
            return EnergyEstimate(runS, idleS, runJ, idleJ, runJ / runS, idlePower, net, net / iterations, net < 0)
        }

        private fun watts(
            samples: List<BatterySample>,
            what: String,
        ): DoubleArray {
            for ((i, s) in samples.withIndex()) {
                if (!(s.tMs.isFinite() && s.currentUa.isFinite() && s.voltageMv.isFinite())) {
                    throw EnergyException("non_finite", "$what: sample $i has a non-finite value")
                }
                if (i > 0 && s.tMs <= samples[i - 1].tMs) {
                    throw EnergyException(
                        "unordered_samples",
                        "$what: timestamps must increase; ${s.tMs} ms follows ${samples[i - 1].tMs} ms",
                    )
                }
            }
            if (samples.size < 2) {
                throw EnergyException("too_few_samples", "$what: ${samples.size} sample(s); at least 2 are needed")
            }
            return DoubleArray(samples.size) { abs(samples[it].currentUa) * 1e-6 * samples[it].voltageMv * 1e-3 }
        }

        private fun integrate(
            samples: List<BatterySample>,
            watts: DoubleArray,
        ): Double {
            var joules = 0.0
            for (i in 0 until samples.size - 1) {
                joules += (samples[i + 1].tMs - samples[i].tMs) / 1000.0 * (watts[i] + watts[i + 1]) / 2.0
            }
            return joules
        }
    }
}
