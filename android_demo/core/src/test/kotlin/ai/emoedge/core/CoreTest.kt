package ai.emoedge.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/** Unit tests of the core beyond the contract vectors. */
class JsonTest {
    @Test
    fun parsesNestedValues() {
        val v = Json.parse("""{"a": [1, -2.5e3, "x\"\u00e9\n"], "b": {"c": null, "d": true}, "e": 12345678901}""").obj("root")
        assertEquals(listOf(1L, -2500.0, "x\"é\n"), v["a"])
        assertEquals(mapOf("c" to null, "d" to true), v["b"])
        assertEquals(12345678901L, v["e"])
    }

    @Test
    fun rejectsMalformedJson() {
        for (bad in listOf("{", "[1,]", "{\"a\" 1}", "tru", "\"open", "1 2", "{\"a\":1,}")) {
            assertThrows(bad, Json.ParseException::class.java) { Json.parse(bad) }
        }
    }

    @Test
    fun writesWhatItReads() {
        val value =
            linkedMapOf(
                "n" to 1.5,
                "list" to listOf(1L, 2L),
                "s" to "tab\there",
                "nan" to Double.NaN,
                "nested" to listOf(mapOf("k" to false)),
            )
        val back = Json.parse(Json.write(value)).obj("back")
        assertEquals(1.5, back["n"])
        assertEquals(listOf(1L, 2L), back["list"])
        assertEquals("tab\there", back["s"])
        assertEquals("NaN", back["nan"])
        assertEquals(listOf(mapOf("k" to false)), back["nested"])
    }
}

class ManifestTest {
    private val dir = File(System.getProperty("emoedge.contract.dir") ?: "../../contract")

    private fun features() = Manifest.parse(File(dir, "manifests/features_small.json").readText())

    @Test
    fun readsModalitiesShapesAndStatistics() {
        val m = features()
        assertEquals(listOf("audio", "video", "text"), m.modalityNames)
        assertEquals(listOf("negative", "positive"), m.classNames)
        assertArrayEquals(longArrayOf(1, 4, 5), m.modality("audio").inputShape)
        assertEquals(1e-6f, m.modality("audio").std[2])
        assertNull(m.sha256)
        val tokens = Manifest.parse(File(dir, "manifests/synthetic_tokens.json").readText())
        assertArrayEquals(intArrayOf(1, 12, 12), tokens.modality("video").stepShape)
        assertEquals(ModalityKind.TOKENS, tokens.modality("text").kind)
        assertEquals("<pad>", tokens.modality("text").vocabulary[0])
    }

    @Test
    fun refusesAnotherVersion() {
        val text = File(dir, "manifests/features_small.json").readText().replace("\"manifest_version\": 1", "\"manifest_version\": 2")
        val e = assertThrows(ManifestException::class.java) { Manifest.parse(text) }
        assertTrue(e.message!!.contains("not supported"))
    }

    @Test
    fun checksTheArtifactAgainstSizeAndSha256() {
        val file = File.createTempFile("artifact", ".pte")
        try {
            file.writeText("abc")
            val sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // sha256("abc")
            val root = Json.parse(File(dir, "manifests/features_small.json").readText()).obj("m")
            Manifest.fromJson(root + mapOf("sha256" to sha, "size_bytes" to 3L)).checkArtifact(file)
            assertThrows(
                ManifestException::class.java,
            ) { Manifest.fromJson(root + mapOf("sha256" to sha, "size_bytes" to 4L)).checkArtifact(file) }
            file.writeText("abd")
            val e =
                assertThrows(
                    ManifestException::class.java,
                ) { Manifest.fromJson(root + mapOf("sha256" to sha, "size_bytes" to 3L)).checkArtifact(file) }
            assertTrue(e.message!!.contains("sha256"))
        } finally {
            file.delete()
        }
    }
}

class PackingTest {
    private val manifest =
        Manifest.parse(
            File(System.getProperty("emoedge.contract.dir") ?: "../../contract", "manifests/features_small.json").readText(),
        )

    @Test
    fun anAbsentModalityIsZeroAndMaskedNeverSilentlyFilled() {
        val video = RawInput.Floats(intArrayOf(1, 3), floatArrayOf(2.9375f, -0.625f, -1.875f)) // exactly the mean
        val packed = InputPacker(manifest).pack(mapOf("video" to video))
        assertArrayEquals(floatArrayOf(0f, 1f, 0f), packed.presence, 0f)
        assertTrue(packed.tensors[0].floats!!.all { it == 0f })
        // a present modality whose normalized values are all zero still counts as present
        assertTrue(packed.tensors[1].floats!!.all { it == 0f })
        assertEquals(1f, packed.presence[1])
    }

    @Test
    fun windowsFeedThePackerDirectly() {
        val windows = ModalityWindows(manifest, staleAfterMs = 100.0)
        windows.add("audio", FloatArray(5 * 6) { it.toFloat() }, 0.0)
        val packed = InputPacker(manifest).pack(windows.windows(50.0))
        assertArrayEquals(floatArrayOf(1f, 0f, 0f), packed.presence, 0f)
        val e = assertThrows(InputException::class.java) { InputPacker(manifest).pack(windows.windows(500.0)) }
        assertEquals("all_absent", e.kind)
    }
}

class RingBufferTest {
    @Test
    fun matchesAListForRandomPushes() {
        val rng = java.util.Random(0)
        val ring = RingBuffer(5, 1, isTokens = true)
        var reference = listOf<Long>()
        repeat(200) {
            val steps = LongArray(1 + rng.nextInt(8)) { rng.nextInt(100).toLong() }
            ring.extend(steps)
            reference = (reference + steps.toList()).takeLast(5)
            assertEquals(reference, ring.tokenWindow().toList())
        }
    }

    @Test
    fun floatStepsWrapAround() {
        val ring = RingBuffer(3, 2, isTokens = false)
        for (k in 0 until 5) ring.extend(floatArrayOf(k.toFloat(), -k.toFloat()))
        assertArrayEquals(floatArrayOf(2f, -2f, 3f, -3f, 4f, -4f), ring.floatWindow(), 0f)
        ring.clear()
        assertEquals(0, ring.floatWindow().size)
    }
}

class StatsAndEnergyTest {
    @Test
    fun percentilesInterpolateBetweenRanks() {
        val s = LatencyStats.of(doubleArrayOf(4.0, 1.0, 3.0, 2.0))
        assertEquals(2.5, s.p50Ms, 1e-12)
        assertEquals(3.7, s.p90Ms, 1e-12)
        assertEquals(1.0, s.minMs, 0.0)
        assertEquals("no_samples", assertThrows(StatsException::class.java) { LatencyStats.of(DoubleArray(0)) }.kind)
    }

    @Test
    fun energySubtractsTheIdleBaseline() {
        fun flat(
            ua: Double,
            n: Int,
        ) = (0 until n).map { BatterySample(it * 500.0, -ua, 4000.0) }
        val e = EnergyEstimate.of(flat(250_000.0, 21), flat(50_000.0, 11), 40) // 1 W for 10 s, 0.2 W idle
        assertEquals(10.0, e.runJoules, 1e-9)
        assertEquals(0.2, e.idlePowerW, 1e-12)
        assertEquals(0.2, e.joulesPerInference, 1e-12)
    }
}
