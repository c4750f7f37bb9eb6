package ai.emoedge.core

import kotlin.math.floor

/** Latency samples without statistics; [kind] is "no_samples" or "non_finite". */
class StatsException(
    val kind: String,
    message: String,
) : IllegalArgumentException(message)

/**
 * count, min, max, mean, p50/p90/p99 of latencies in ms (sdk.bench.latency_stats).
 * Percentiles: linear interpolation between closest ranks (numpy default, Hyndman-Fan type 7):
 * h = (n - 1) q / 100, p = x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 */
class LatencyStats(
    val count: Int,
    val minMs: Double,
    val maxMs: Double,
    val meanMs: Double,
    val p50Ms: Double,
    val p90Ms: Double,
    val p99Ms: Double,
    /**
     * Mean after dropping floor(0.1 n) samples at each end (ExecuTorch minibench's trimmed mean;
     * sdk.device_report.trimmed_mean). Not in [toMap]: contract/latency_stats.json fixes that map's keys.
     */
    val trimmedMeanMs: Double,
) {
    fun toMap(): Map<String, Any> =
        linkedMapOf(
            "count" to count,
            "min_ms" to minMs,
            "max_ms" to maxMs,
            "mean_ms" to meanMs,
            "p50_ms" to p50Ms,
            "p90_ms" to p90Ms,
            "p99_ms" to p99Ms,
        )

    companion object {
        fun of(samplesMs: DoubleArray): LatencyStats {
            if (samplesMs.isEmpty()) throw StatsException("no_samples", "no latency samples; run at least one iteration")
            if (samplesMs.any { !it.isFinite() }) throw StatsException("non_finite", "latency samples must be finite")
            val x = samplesMs.sortedArray()
            return LatencyStats(
                x.size,
                x.first(),
                x.last(),
                x.sum() / x.size,
                percentile(x, 50.0),
                percentile(x, 90.0),
                percentile(x, 99.0),
                trimmedMean(x, TRIM),
            )
        }

        const val TRIM = 0.1

        /** Mean of already sorted samples after dropping floor(proportion * n) at each end. */
        fun trimmedMean(
            sorted: DoubleArray,
            proportion: Double,
        ): Double {
            require(sorted.isNotEmpty() && proportion in 0.0..0.5)
            val cut = floor(proportion * sorted.size).toInt()
            val kept = sorted.copyOfRange(cut, sorted.size - cut)
            return if (kept.isEmpty()) sorted[sorted.size / 2] else kept.average()
        }

        /** The percentile q in [0, 100] of already sorted samples. */
        fun percentile(
            sorted: DoubleArray,
            q: Double,
        ): Double {
            require(sorted.isNotEmpty() && q in 0.0..100.0)
            val h = (sorted.size - 1) * q / 100.0
            val lo = floor(h).toInt()
            if (lo + 1 >= sorted.size) return sorted[lo]
            return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo])
        }
    }
}
