package ai.emoedge.core

/** One side-thread reading: thermal status (PowerManager.THERMAL_STATUS_*), getThermalHeadroom, PSS. */
class ThermalSample(
    val tMs: Double,
    val status: Int?,
    val headroom: Double?,
    val pssKb: Long?,
) {
    fun toMap(): Map<String, Any?> = linkedMapOf("t_ms" to tMs, "status" to status, "headroom" to headroom, "pss_kb" to pssKb)
}

/**
 * Everything one benchmark run measured (BenchmarkActivity fills it; times in boot-time ms).
 * [delegate] is what the runtime says executed (ExecuTorch: the method's backends), [accelerator] the
 * choice the run asked for (cpu, gpu, npu), [delegatedFraction] the share of the graph's nodes the
 * delegate took (the export's `notes.delegation`; null when unknown), [powerMonitor] the cumulative µWs
 * per rail from SystemHealthManager (API 35+; empty when absent).
 */
class BenchmarkRun(
    val model: String,
    val runtime: String,
    val delegate: String?,
    val precision: String,
    val modalities: List<String>,
    val threads: Int,
    val durationS: Int,
    val blockS: Int,
    val warmup: Int,
    val loadMs: Double,
    val firstInferenceMs: Double,
    val latenciesMs: DoubleArray,
    val blocks: List<Block>,
    val pssBeforeKb: Long?,
    val pssAfterKb: Long?,
    val thermal: List<ThermalSample>,
    val powerMonitor: Map<String, List<Pair<Double, Double>>>,
    val battery: List<BatterySample>,
    val plugged: Boolean,
    val energyWanted: Boolean,
    val screen: Map<String, Any?>,
    val device: Map<String, Any?>,
    val accelerator: String = Accelerator.CPU.json,
    val delegatedFraction: Double? = null,
)

/**
 * The on-device result: a JSON list of metric records in the one format that `python -m sdk.device
 * report` reads for Android and iOS (schema [SCHEMA], sdk/device_report.py documents every field).
 * Raw data (latency samples, blocks, thermal samples, power and battery readings) is kept so the host
 * recomputes the statistics and the energy with the same definitions; the host also adds the cold
 * start time and the Perfetto rails, and picks the energy source.
 */
object BenchmarkReport {
    const val SCHEMA = "emoedge.bench/2"

    fun records(run: BenchmarkRun): List<Map<String, Any?>> {
        val flags = ArrayList<String>()
        val stats = LatencyStats.of(run.latenciesMs)
        var energy: BlockEnergy? = null
        var notes: List<String> = listOf("energy not requested")
        if (run.energyWanted) {
            val (chosen, why) = BlockEnergy.choose(run.blocks, run.powerMonitor, run.battery, run.plugged)
            energy = chosen
            notes = why
            if (chosen?.belowBaseline == true) flags += "energy below the idle baseline: run longer"
        }
        val pssPeak = (run.thermal.mapNotNull { it.pssKb } + listOfNotNull(run.pssAfterKb)).maxOrNull()
        val base =
            linkedMapOf<String, Any?>(
                "schema" to SCHEMA,
                "platform" to "android",
                "model" to run.model,
                "runtime" to run.runtime,
                "delegate" to run.delegate,
                "accelerator" to run.accelerator,
                "delegated_fraction" to run.delegatedFraction,
                "precision" to run.precision,
                "modalities" to run.modalities,
                "threads" to run.threads,
                "duration_s" to run.durationS,
                "block_s" to run.blockS,
                "warmup" to run.warmup,
                "screen" to run.screen,
                "flags" to flags,
                "device" to run.device,
            )

        fun record(
            metric: String,
            value: Any?,
            unit: String,
            extra: Map<String, Any?> = emptyMap(),
        ): Map<String, Any?> = linkedMapOf<String, Any?>("metric" to metric, "value" to value, "unit" to unit) + base + extra

        val out =
            mutableListOf(
                record("load_ms", run.loadMs, "ms"),
                record("first_inference_ms", run.firstInferenceMs, "ms"),
                record("p50_ms", stats.p50Ms, "ms"),
                record("p90_ms", stats.p90Ms, "ms"),
                record("p99_ms", stats.p99Ms, "ms"),
                record("mean_ms", stats.meanMs, "ms"),
                record("trimmed_mean_ms", stats.trimmedMeanMs, "ms"),
                record("inferences", run.latenciesMs.size, "count"),
                record(
                    "pss_change_mb",
                    if (run.pssBeforeKb != null &&
                        run.pssAfterKb != null
                    ) {
                        (run.pssAfterKb - run.pssBeforeKb) / 1024.0
                    } else {
                        null
                    },
                    "MB",
                ),
                record("pss_peak_mb", pssPeak?.let { it / 1024.0 }, "MB"),
                record("thermal_status_max", run.thermal.mapNotNull { it.status }.maxOrNull(), "PowerManager.THERMAL_STATUS_*"),
                record("thermal_headroom_max", run.thermal.mapNotNull { it.headroom }.maxOrNull(), "getThermalHeadroom"),
                record(
                    "energy_mj_per_inference",
                    energy?.mjPerInference,
                    "mJ",
                    mapOf(
                        "uncertainty_mj" to energy?.uncertaintyMj,
                        "source" to energy?.source,
                        "energy" to energy?.toMap(),
                        "energy_notes" to notes,
                    ),
                ),
                record("latency_samples", null, "ms", mapOf("samples" to run.latenciesMs.toList())),
                record("blocks", null, "boot-time ms", mapOf("samples" to run.blocks.map { it.toMap() })),
                record("thermal_samples", null, "t_ms/status/headroom/pss_kb", mapOf("samples" to run.thermal.map { it.toMap() })),
            )
        if (run.powerMonitor.isNotEmpty()) {
            val rails = run.powerMonitor.mapValues { (_, v) -> v.map { listOf(it.first, it.second) } }
            out +=
                record(
                    "power_samples",
                    null,
                    "t_ms/µWs cumulative",
                    mapOf("samples" to mapOf("source" to "power_monitor", "rails" to rails)),
                )
        }
        if (run.battery.isNotEmpty()) {
            out +=
                record(
                    "battery_samples",
                    null,
                    "t_ms/current_ua/voltage_mv",
                    mapOf("samples" to run.battery.map { it.toMap() }, "plugged" to run.plugged),
                )
        }
        return out
    }

    fun toJson(records: List<Map<String, Any?>>): String = Json.write(records) + "\n"
}
