package ai.emoedge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File

/**
 * The golden-file parser and checker on contract/golden/example.golden.json (written by
 * `python -m sdk.contract --out contract/`): its expected outputs come from a stand-in function
 * (sdk.golden.toy_outputs), re-implemented here as a [ModelRunner]-shaped lambda, so parsing, PCM
 * decoding, zeroed absent modalities, presence, softmax and the tolerance are checked without a
 * runtime. The real artifacts are checked on a device by the app's GoldenInstrumentedTest.
 */
class GoldenTest {
    private val dir = File(System.getProperty("emoedge.contract.dir") ?: "../../contract")
    private val text: String get() = File(dir, "golden/example.golden.json").readText()

    /** sdk.golden.toy_outputs: s_m = mean(input m) * presence_m, logits[c] = sum_m s_m (c - m) / 4, gates = presence / sum. */
    private fun toy(
        inputs: PackedInputs,
        classes: Int,
    ): ModelOutputs {
        val presence = inputs.presence
        val s =
            DoubleArray(inputs.tensors.size) { m ->
                val t = inputs.tensors[m]
                val values = t.floats?.map { it.toDouble() } ?: t.longs!!.map { it.toDouble() }
                values.sum() / values.size * presence[m]
            }
        val logits = FloatArray(classes) { c -> s.indices.sumOf { m -> s[m] * (c - m) / 4.0 }.toFloat() }
        val total = presence.sum()
        return ModelOutputs(logits, FloatArray(presence.size) { presence[it] / total })
    }

    @Test
    fun parsesTheExample() {
        val golden = GoldenFile.parse(text)
        assertEquals("model_fp32.golden.json", GoldenFile.pathFor("model_fp32.pte"))
        assertEquals(listOf("audio", "video", "text"), golden.modalities)
        assertEquals(10, golden.cases.size)
        assertEquals(1e-4, golden.tolerance.maxAbsProbDiff, 0.0)
        val first = golden.cases[0]
        assertEquals(
            listOf(1L, 480L),
            first.inputs.tensors[0]
                .shape
                .toList(),
        )
        // int16 PCM k becomes k / 32768 in float32
        val k =
            (
                Json
                    .parse(text)
                    .obj("doc")["samples"]
                    .list("samples")[0]
                    .obj("s")["inputs"]
                    .obj("i")["audio"]
                    .obj("a")["data"]
                    .list("d")[0] as Number
            ).toFloat()
        assertEquals(k / 32768f, first.inputs.tensors[0].floats!![0], 0f)
        assertEquals("int64", first.inputs.tensors[2].dtype)
        val onlyText = golden.cases.first { it.name.endsWith("/only_text") }
        assertTrue(
            onlyText.inputs.tensors[0]
                .floats!!
                .all { it == 0f },
        )
        assertTrue(
            onlyText.inputs.tensors[1]
                .floats!!
                .all { it == 0f },
        )
        assertEquals(listOf(0f, 0f, 1f), onlyText.inputs.presence.toList())
    }

    @Test
    fun theCheckerPassesTheStandIn() {
        val golden = GoldenFile.parse(text)
        val report = golden.check { toy(it, golden.classNames.size) }
        assertTrue(report.toString(), report.passed)
        assertEquals(1.0, report.top1Agreement, 0.0)
        assertTrue(report.maxAbsProbDiff < 1e-6)
    }

    @Test
    fun aTamperedExpectationFails() {
        val edited =
            Json.parse(text).obj("doc").toMutableMap().also { doc ->
                val cases = doc["cases"].list("cases").map { it.obj("case").toMutableMap() }
                val expected = cases[3]["expected"].obj("expected").toMutableMap()
                val probabilities = expected["probabilities"].list("p").map { it.num("p") }.toMutableList()
                probabilities[0] += 1e-3
                expected["probabilities"] = probabilities
                cases[3]["expected"] = expected
                doc["cases"] = cases
            }
        val golden = GoldenFile.parse(Json.write(edited))
        val report = golden.check { toy(it, golden.classNames.size) }
        assertFalse(report.passed)
        assertTrue(report.failures.toString(), report.failures.single().startsWith("${golden.cases[3].name}: max |dp|"))
    }

    @Test
    fun aFlippedTopOneFails() {
        val golden = GoldenFile.parse(text)
        val report =
            golden.check {
                val out = toy(it, golden.classNames.size)
                out.logits[(golden.cases[0].top1 + 1) % out.logits.size] += 100f
                out
            }
        assertFalse(report.passed)
        assertTrue(report.failures.any { "top-1" in it })
    }

    @Test
    fun aGoldenFileOfAnotherArtifactIsRefused() {
        val golden = GoldenFile.parse(text)
        val artifact = File.createTempFile("example", ".bin")
        try {
            artifact.writeBytes("emoedge golden example artifact\n".toByteArray())
            golden.checkArtifact(artifact)
            artifact.writeBytes("another artifact\n".toByteArray())
            try {
                golden.checkArtifact(artifact)
                fail("a golden file for another artifact was accepted")
            } catch (e: GoldenException) {
                assertTrue(e.message!!, "another artifact" in e.message!!)
            }
        } finally {
            artifact.delete()
        }
    }

    @Test
    fun aWrongVersionIsRefused() {
        try {
            GoldenFile.parse(text.replace("\"golden_version\": 1", "\"golden_version\": 2"))
            fail("golden_version 2 was accepted")
        } catch (e: GoldenException) {
            assertTrue(e.message!!, "golden_version" in e.message!!)
        }
    }
}
