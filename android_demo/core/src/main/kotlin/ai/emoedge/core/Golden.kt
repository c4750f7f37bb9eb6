package ai.emoedge.core

import java.io.File
import kotlin.math.abs

/** A golden file that cannot be used: unreadable, another version, or written for another artifact. */
class GoldenException(
    message: String,
) : IllegalArgumentException(message)

/** The bounds an artifact's outputs must meet against PyTorch's (the file's `tolerance`). */
class GoldenTolerance(
    val maxAbsProbDiff: Double,
    val maxAbsGateDiff: Double,
    val top1MustMatch: Boolean,
)

/** One golden case: the model inputs (absent modalities already zeros) and PyTorch's outputs for them. */
class GoldenCase(
    val name: String,
    val inputs: PackedInputs,
    val probabilities: DoubleArray,
    val gateWeights: DoubleArray,
    val top1: Int,
)

/** What [GoldenFile.check] found: per file, the worst deviations, the top-1 agreement and every failure. */
class GoldenReport(
    val artifact: String,
    val cases: Int,
    val maxAbsProbDiff: Double,
    val maxAbsGateDiff: Double,
    val top1Agreement: Double,
    val failures: List<String>,
) {
    val passed: Boolean get() = failures.isEmpty() && cases > 0

    override fun toString(): String =
        "$artifact: $cases cases, max |dp| ${"%.2e".format(maxAbsProbDiff)}, max |dgate| " +
            "${"%.2e".format(maxAbsGateDiff)}, top-1 agreement ${"%.3f".format(top1Agreement)}, " +
            (if (passed) "pass" else "FAIL: " + failures.joinToString("; "))
}

/**
 * The golden vectors written beside an artifact by `python -m export` (`model_fp32.golden.json` next to
 * `model_fp32.pte`; format: contract/README.md, "golden/", and sdk/golden.py). [checkArtifact] refuses a
 * file whose recorded sha256 is not the artifact's; [check] runs every case through a [ModelRunner]
 * and compares the softmax of its logits (float64) and its gate weights with PyTorch's.
 */
class GoldenFile(
    val artifact: String,
    val format: String,
    val precision: String,
    val sha256: String,
    val classNames: List<String>,
    val modalities: List<String>,
    val tolerance: GoldenTolerance,
    val cases: List<GoldenCase>,
) {
    /** Refuses a golden file recorded for another artifact (sha256 differs). */
    fun checkArtifact(file: File) {
        val actual = file.inputStream().use { Manifest.sha256Hex(it) }
        if (actual != sha256) {
            throw GoldenException(
                "golden file of $artifact records sha256 ${sha256.take(16)}..., ${file.name} has ${actual.take(16)}...: " +
                    "it is for another artifact; refusing to check it. $FIX",
            )
        }
    }

    /** Refuses a golden file whose class or modality names are not the manifest's. */
    fun checkManifest(manifest: Manifest) {
        if (manifest.classNames != classNames || manifest.modalityNames != modalities) {
            throw GoldenException("golden file of $artifact: class or modality names differ from the manifest's; $FIX")
        }
    }

    /** Every case through [run] (inputs -> outputs), compared with the tolerance. */
    fun check(run: (PackedInputs) -> ModelOutputs): GoldenReport {
        val failures = mutableListOf<String>()
        var maxDp = 0.0
        var maxDg = 0.0
        var agree = 0
        for (case in cases) {
            val out = run(case.inputs)
            if (out.logits.size != case.probabilities.size || out.gateWeights.size != case.gateWeights.size) {
                failures += "${case.name}: the artifact gives ${out.logits.size} logits and ${out.gateWeights.size} gate " +
                    "weights, the golden file ${case.probabilities.size} and ${case.gateWeights.size}"
                continue
            }
            val p = Results.softmax(DoubleArray(out.logits.size) { out.logits[it].toDouble() })
            val dp = p.indices.maxOf { deviation(p[it], case.probabilities[it]) }
            val dg = case.gateWeights.indices.maxOf { deviation(out.gateWeights[it].toDouble(), case.gateWeights[it]) }
            val top1 = Results.topK(p, 1)[0]
            maxDp = maxOf(maxDp, dp)
            maxDg = maxOf(maxDg, dg)
            if (top1 == case.top1) agree++
            if (!(dp <= tolerance.maxAbsProbDiff)) failures += "${case.name}: max |dp| $dp > ${tolerance.maxAbsProbDiff}"
            if (!(dg <= tolerance.maxAbsGateDiff)) failures += "${case.name}: max |dgate| $dg > ${tolerance.maxAbsGateDiff}"
            if (tolerance.top1MustMatch && top1 != case.top1) {
                failures += "${case.name}: top-1 '${classNames[top1]}', PyTorch '${classNames[case.top1]}'"
            }
        }
        return GoldenReport(artifact, cases.size, maxDp, maxDg, agree.toDouble() / maxOf(1, cases.size), failures)
    }

    /** [check] with a runner (the app's ExecuTorch, LiteRT or ONNX Runtime runner). */
    fun check(runner: ModelRunner): GoldenReport = check { runner.run(it) }

    companion object {
        const val SUPPORTED_VERSION = 1
        const val SUFFIX = ".golden.json"
        private const val FIX = "re-export with `python -m export` and copy the artifact with its golden file again"

        /** Where the golden file of an artifact lives: model_fp32.pte -> model_fp32.golden.json. */
        fun pathFor(artifact: String): String = artifact.substringBeforeLast('.') + SUFFIX

        fun parse(text: String): GoldenFile =
            try {
                fromJson(Json.parse(text).obj("golden file"))
            } catch (e: ManifestException) {
                throw GoldenException("not a usable golden file: ${e.message}; $FIX")
            } catch (e: Json.ParseException) {
                throw GoldenException("not a usable golden file: ${e.message}; $FIX")
            }

        private fun fromJson(root: Map<String, Any?>): GoldenFile {
            val version = root["golden_version"].int("golden_version")
            if (version != SUPPORTED_VERSION) throw GoldenException("golden_version $version is not $SUPPORTED_VERSION; $FIX")
            val modalities = root["modalities"].list("modalities").map { it.str("modality") }
            val tol = root["tolerance"].obj("tolerance")
            val tolerance =
                GoldenTolerance(
                    tol["max_abs_prob_diff"].num("max_abs_prob_diff"),
                    tol["max_abs_gate_diff"].num("max_abs_gate_diff"),
                    tol["top1_must_match"] as? Boolean ?: true,
                )
            val samples =
                root["samples"].list("samples").map { s ->
                    val inputs = s.obj("sample")["inputs"].obj("inputs")
                    modalities.map { name -> tensor(name, inputs[name] ?: throw GoldenException("a sample has no input '$name'")) }
                }
            val cases =
                root["cases"].list("cases").map { c ->
                    val case = c.obj("case")
                    val name = case["name"].str("name")
                    val sample = samples.getOrNull(case["sample"].int("sample")) ?: throw GoldenException("$name: no such sample")
                    val presence = case["presence"].list("presence").map { it.num("presence").toFloat() }.toFloatArray()
                    if (presence.size != modalities.size) throw GoldenException("$name: ${presence.size} presence values")
                    val tensors = sample.mapIndexed { i, t -> if (presence[i] > 0f) t else zerosLike(t) }
                    val expected = case["expected"].obj("expected")
                    GoldenCase(
                        name,
                        PackedInputs(tensors, presence),
                        expected["probabilities"].list("probabilities").map { it.num("probability") }.toDoubleArray(),
                        expected["gate_weights"].list("gate_weights").map { it.num("gate weight") }.toDoubleArray(),
                        expected["top1"].int("top1"),
                    )
                }
            if (cases.isEmpty()) throw GoldenException("no cases; $FIX")
            return GoldenFile(
                artifact = root["artifact"].str("artifact"),
                format = root["format"].str("format"),
                precision = root["precision"].str("precision"),
                sha256 = root["sha256"].str("sha256"),
                classNames = root["class_names"].list("class_names").map { it.str("class name") },
                modalities = modalities,
                tolerance = tolerance,
                cases = cases,
            )
        }

        /** A golden tensor as the model input: float32, int64 ids, or int16 PCM as k / 32768 in float32. */
        private fun tensor(
            name: String,
            value: Any?,
        ): PackedTensor {
            val t = value.obj(name)
            val shape = t["shape"].list("shape").map { it.num("shape").toLong() }.toLongArray()
            val data = t["data"].list("data")
            if (data.size.toLong() !=
                shape.fold(1L) { a, b -> a * b }
            ) {
                throw GoldenException("$name: data does not fill ${shape.joinToString()}")
            }
            return when (val dtype = t["dtype"].str("dtype")) {
                "int64" -> PackedTensor(name, shape, longs = LongArray(data.size) { data[it].num(name).toLong() })
                "int16" -> PackedTensor(name, shape, floats = FloatArray(data.size) { data[it].num(name).toFloat() / 32768f })
                "float32" -> PackedTensor(name, shape, floats = FloatArray(data.size) { data[it].num(name).toFloat() })
                else -> throw GoldenException("$name: dtype '$dtype' is not float32, int64 or int16")
            }
        }

        private fun zerosLike(t: PackedTensor): PackedTensor =
            PackedTensor(
                t.name,
                t.shape,
                floats = t.floats?.let { FloatArray(it.size) },
                longs = t.longs?.let { LongArray(it.size) },
                ints = t.ints?.let { IntArray(it.size) },
            )

        private fun deviation(
            actual: Double,
            expected: Double,
        ): Double = if (actual.isFinite()) abs(actual - expected) else Double.POSITIVE_INFINITY
    }
}
