package ai.emoedge.core

import kotlin.math.exp

/** One prediction: the live emotion, class probabilities, gate weight per modality, latency. */
class Recognition(
    val label: String,
    val probabilities: Map<String, Double>,
    val gateWeights: Map<String, Double>,
    val modalitiesUsed: List<String>,
    val latencyMs: Double,
)

object Results {
    /** Softmax in float64 after subtracting the largest logit. */
    fun softmax(logits: DoubleArray): DoubleArray {
        require(logits.isNotEmpty()) { "no logits" }
        val max = logits.max()
        val e = DoubleArray(logits.size) { exp(logits[it] - max) }
        val sum = e.sum()
        return DoubleArray(e.size) { e[it] / sum }
    }

    /** Indices of the k largest values, largest first; ties keep the lower index first. */
    fun topK(
        values: DoubleArray,
        k: Int,
    ): List<Int> {
        require(k in 1..values.size) { "k must be in [1, ${values.size}], got $k" }
        return values.indices.sortedWith(compareByDescending<Int> { values[it] }.thenBy { it }).take(k)
    }

    /** The model's two outputs for one sample -> a [Recognition] (sdk.runtime.recognizer.result_from_outputs). */
    fun fromOutputs(
        manifest: Manifest,
        logits: FloatArray,
        gateWeights: FloatArray,
        presence: FloatArray,
        latencyMs: Double = 0.0,
    ): Recognition {
        require(logits.size == manifest.classNames.size) { "expected ${manifest.classNames.size} logits, got ${logits.size}" }
        require(gateWeights.size == manifest.modalities.size) { "expected ${manifest.modalities.size} gate weights" }
        val p = softmax(DoubleArray(logits.size) { logits[it].toDouble() })
        val names = manifest.modalityNames
        return Recognition(
            label = manifest.classNames[topK(p, 1)[0]],
            probabilities = manifest.classNames.withIndex().associate { (i, c) -> c to p[i] },
            gateWeights = names.withIndex().associate { (i, n) -> n to gateWeights[i].toDouble() },
            modalitiesUsed = names.filterIndexed { i, _ -> presence[i] > 0f },
            latencyMs = latencyMs,
        )
    }
}
