package ai.emoedge.core

/**
 * The on-device benchmark's result: a JSON list of metric records with device info, in the spirit
 * of ExecuTorch's minibench (load, first inference and steady state separate), plus percentiles,
 * memory, energy and thermal state. `python -m sdk.device report` renders it.
 *
 * Every record: {"metric", "value", "unit", "model", "runtime", "precision", "modalities",
 * "iterations", "warmup", "flags", "device"}. Raw latency and battery samples are kept in the
 * records "latency_samples" and "battery_samples" (value = null, "samples" = ...), so the host can
 * recompute the statistics and the energy with the same definitions.
 */
class BenchmarkRun(
    val model: String,
    val runtime: String,
    val precision: String,
    val modalities: List<String>,
    val iterations: Int,
    val warmup: Int,
    val loadMs: Double,
    val firstInferenceMs: Double,
    val latenciesMs: DoubleArray,
    val pssKb: Long?,
    val runBattery: List<BatterySample>,
    val idleBattery: List<BatterySample>,
    val charging: Boolean,
    val thermalBefore: Int?,
    val thermalAfter: Int?,
    val device: Map<String, Any?>,
)

object BenchmarkReport {
    const val SCHEMA = "emoedge.android.bench/1"

    /** The metric records of one run. Energy is null and flagged when it cannot be measured. */
    fun records(run: BenchmarkRun): List<Map<String, Any?>> {
        val flags = ArrayList<String>()
        if (run.charging) flags += "charging: energy not measured (the charger feeds the phone)"
        val stats = LatencyStats.of(run.latenciesMs)
        var energy: EnergyEstimate? = null
        if (!run.charging) {
            try {
                energy = EnergyEstimate.of(run.runBattery, run.idleBattery, run.iterations)
                if (energy.belowBaseline) flags += "energy below the idle baseline: run longer"
            } catch (e: EnergyException) {
                flags += "energy not measured: ${e.kind}"
            }
        }
        val base =
            linkedMapOf<String, Any?>(
                "schema" to SCHEMA,
                "model" to run.model,
                "runtime" to run.runtime,
                "precision" to run.precision,
                "modalities" to run.modalities,
                "iterations" to run.iterations,
                "warmup" to run.warmup,
                "flags" to flags,
                "device" to run.device,
            )

        fun record(
            metric: String,
            value: Any?,
            unit: String,
            extra: Map<String, Any?> = emptyMap(),
        ): Map<String, Any?> = linkedMapOf<String, Any?>("metric" to metric, "value" to value, "unit" to unit) + base + extra

        return listOf(
            record("load_ms", run.loadMs, "ms"),
            record("first_inference_ms", run.firstInferenceMs, "ms"),
            record("p50_ms", stats.p50Ms, "ms"),
            record("p90_ms", stats.p90Ms, "ms"),
            record("p99_ms", stats.p99Ms, "ms"),
            record("mean_ms", stats.meanMs, "ms"),
            record("pss_mb", run.pssKb?.let { it / 1024.0 }, "MB"),
            record("energy_mj_per_inference", energy?.let { it.joulesPerInference * 1000.0 }, "mJ", mapOf("energy" to energy?.toMap())),
            record("thermal_status_before", run.thermalBefore, "PowerManager.THERMAL_STATUS_*"),
            record("thermal_status_after", run.thermalAfter, "PowerManager.THERMAL_STATUS_*"),
            record("latency_samples", null, "ms", mapOf("samples" to run.latenciesMs.toList())),
            record(
                "battery_samples",
                null,
                "t_ms/current_ua/voltage_mv",
                mapOf("samples" to mapOf("run" to run.runBattery.map { it.toMap() }, "idle" to run.idleBattery.map { it.toMap() })),
            ),
        )
    }

    fun toJson(records: List<Map<String, Any?>>): String = Json.write(records) + "\n"
}
