package ai.emoedge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import kotlin.math.sqrt

/** The benchmark protocol's platform-free parts: block schedule, energy sources and units, the report. */
class BenchmarkTest {
    private val boot0 = 100_000.0
    private val blockMs = 5_000.0
    private val extraW = listOf(2.0, 2.2, 1.9, 2.1)
    private val inferences = listOf(1000, 1020, 990, 1010)

    private fun blocks(): List<Block> {
        val out = ArrayList<Block>()
        var t = boot0
        for (i in extraW.indices) {
            out += Block("idle", t, t + blockMs, 0)
            t += blockMs
            out += Block("run", t, t + blockMs, inferences[i])
            t += blockMs
        }
        out += Block("idle", t, t + blockMs, 0)
        return out
    }

    /** Two rails, cumulative µWs every 250 ms: 0.4 W idle on both together, plus extraW[i] on the CPU in run block i. */
    private fun rails(): Map<String, List<Pair<Double, Double>>> {
        val runs = blocks().filter { it.kind == "run" }
        val end = blocks().last().endMs + 2000
        val out = LinkedHashMap<String, List<Pair<Double, Double>>>()
        for ((rail, idle) in listOf("S4M_VDD_CPUCORE" to 0.3, "S2S_VDD_G3D" to 0.1)) {
            val points = ArrayList<Pair<Double, Double>>()
            var t = boot0 - 2000
            var uws = 0.0
            points += t to uws
            while (t < end) {
                val i = runs.indexOfFirst { t >= it.startMs && t < it.endMs }
                val watts = idle + if (rail == "S4M_VDD_CPUCORE" && i >= 0) extraW[i] else 0.0
                uws += watts * 0.25 * 1e6
                t += 250.0
                points += t to uws
            }
            out[rail] = points
        }
        return out
    }

    private fun battery(
        currentUa: Double = -450_000.0,
        runExtraUa: Double = -500_000.0,
        voltageMv: Double = 3900.0,
    ): List<BatterySample> {
        val runs = blocks().filter { it.kind == "run" }
        return (0 until 100).map { k ->
            val t = boot0 - 1000 + 500.0 * k
            BatterySample(t, currentUa + if (runs.any { t >= it.startMs && t < it.endMs }) runExtraUa else 0.0, voltageMv)
        }
    }

    @Test
    fun blockEnergyRecoversThePowerPutIntoTheRails() {
        val e = BlockEnergy.of(blocks(), EnergySeries.rails(rails(), "power_monitor"))
        val perBlock = extraW.indices.map { extraW[it] * 5.0 / inferences[it] * 1e3 }
        val mean = perBlock.average()
        val stderr = sqrt(perBlock.sumOf { (it - mean) * (it - mean) } / 3) / 2
        assertEquals(mean, e.mjPerInference, 1e-9)
        assertEquals(stderr, e.uncertaintyMj!!, 1e-9)
        assertEquals(0.4, e.idlePowerW!!, 1e-9)
        assertEquals(4, e.runBlocks)
        assertEquals(inferences.sum(), e.inferences)
    }

    @Test
    fun batteryUnitsAndSigns() {
        val plain = BlockEnergy.of(blocks(), EnergySeries.battery(battery(), false).first).mjPerInference
        val (ma, maNotes) = EnergySeries.battery(battery(-450.0, -500.0), false)
        assertTrue(maNotes.any { "mA" in it })
        val (uv, uvNotes) = EnergySeries.battery(battery(voltageMv = 3_900_000.0), false)
        assertTrue(uvNotes.any { "µV" in it })
        val (flipped, signNotes) = EnergySeries.battery(battery(450_000.0, 500_000.0), false)
        assertTrue(signNotes.any { "inverts the sign" in it })
        for (series in listOf(ma, uv, flipped)) assertEquals(plain, BlockEnergy.of(blocks(), series).mjPerInference, 1e-9)
        val unsupported = battery().map { BatterySample(it.tMs, Long.MIN_VALUE.toDouble(), it.voltageMv) }
        assertEquals("unsupported", assertThrows(EnergyException::class.java) { BatteryUnits.check(unsupported, false) }.kind)
        assertEquals("charging", assertThrows(EnergyException::class.java) { BatteryUnits.check(battery(), true) }.kind)
        assertEquals(
            "implausible",
            assertThrows(EnergyException::class.java) { BatteryUnits.check(battery(voltageMv = 1200.0), false) }.kind,
        )
    }

    @Test
    fun sourcesInPriorityOrder() {
        val (rails, _) = BlockEnergy.choose(blocks(), rails(), battery(), false)
        assertEquals("power_monitor", rails!!.source)
        val (gauge, _) = BlockEnergy.choose(blocks(), emptyMap(), battery(), false)
        assertEquals("battery_manager", gauge!!.source)
        val (none, notes) = BlockEnergy.choose(blocks(), emptyMap(), battery(), true)
        assertNull(none)
        assertTrue(notes.single(), notes.single().contains("plugged in"))
        val short = rails().mapValues { (_, v) -> v.take(10) } // stops before the blocks: next source
        val (fallback, why) = BlockEnergy.choose(blocks(), short, battery(), false)
        assertEquals("battery_manager", fallback!!.source)
        assertTrue(why[0].startsWith("power_monitor not used"))
    }

    @Test
    fun counterThatGoesDownIsRefused() {
        val bad = mapOf("cpu" to listOf(0.0 to 5.0, 250.0 to 4.0))
        assertEquals("unordered_samples", assertThrows(EnergyException::class.java) { EnergySeries.rails(bad, "x") }.kind)
    }

    @Test
    fun scheduleAlternatesIdleAndRunBlocksOnTheClock() {
        var now = 1_000.0
        val (blocks, latencies) = BlockSchedule(3, 100, { now }, { ms -> now += ms }).run { now += 7.0 }
        assertEquals(listOf("idle", "run", "idle", "run", "idle", "run", "idle"), blocks.map { it.kind })
        assertEquals(listOf(15, 15, 15), blocks.filter { it.kind == "run" }.map { it.inferences }) // ceil(100 / 7)
        assertEquals(45, latencies.size)
        assertTrue(latencies.all { it == 7.0 })
        for (i in 1 until blocks.size) assertEquals(blocks[i - 1].endMs, blocks[i].startMs, 0.0)
        assertTrue(blocks.all { it.endMs - it.startMs >= 100.0 })
    }

    @Test
    fun trimmedMeanDropsTenPercentAtEachEnd() {
        val s = LatencyStats.of(doubleArrayOf(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 100.0))
        assertEquals(5.5, s.trimmedMeanMs, 1e-12)
        assertEquals(3.0, LatencyStats.of(doubleArrayOf(3.0)).trimmedMeanMs, 0.0)
    }

    private fun run(
        plugged: Boolean,
        monitors: Boolean,
        delegate: String = "XnnpackBackend",
        accelerator: String = Accelerator.CPU.json,
        delegatedFraction: Double? = null,
    ) = BenchmarkRun(
        model = "model_fp32.pte",
        runtime = "executorch",
        delegate = delegate,
        precision = "fp32",
        modalities = listOf("audio", "text"),
        threads = 1,
        durationS = 20,
        blockS = 5,
        warmup = 20,
        loadMs = 12.5,
        firstInferenceMs = 3.25,
        latenciesMs = DoubleArray(inferences.sum()) { 2.0 + (it % 10) * 0.1 },
        blocks = blocks(),
        pssBeforeKb = 40_960,
        pssAfterKb = 53_248,
        thermal = (0 until 46).map { ThermalSample(boot0 + 1000.0 * it, if (it < 25) 0 else 1, 0.4 + 0.01 * it, 50_000L + 100 * it) },
        powerMonitor = if (monitors) rails() else emptyMap(),
        battery = battery(),
        plugged = plugged,
        energyWanted = true,
        screen = mapOf("interactive" to true, "brightness" to 102, "keep_on" to true),
        device = mapOf("manufacturer" to "test", "model" to "jvm", "sdk_int" to 35),
        accelerator = accelerator,
        delegatedFraction = delegatedFraction,
    )

    @Test
    fun resultsRecordTheAcceleratorAndTheFraction() {
        val run = run(plugged = false, monitors = false, delegate = "VulkanBackend", accelerator = "gpu", delegatedFraction = 0.9989)
        for (record in BenchmarkReport.records(run)) {
            assertEquals("gpu", record["accelerator"])
            assertEquals(0.9989, record["delegated_fraction"] as Double, 0.0)
            assertEquals("VulkanBackend", record["delegate"])
        }
    }

    @Test
    fun recordsHoldEveryMetricAndTheRawData() {
        val records = BenchmarkReport.records(run(plugged = true, monitors = true))
        val byMetric = records.associateBy { it["metric"] }
        assertEquals(BenchmarkReport.SCHEMA, byMetric.getValue("p50_ms")["schema"])
        assertEquals(12.0, byMetric.getValue("pss_change_mb")["value"] as Double, 1e-12)
        assertEquals((50_000 + 4500) / 1024.0, byMetric.getValue("pss_peak_mb")["value"] as Double, 1e-12)
        assertEquals(1, byMetric.getValue("thermal_status_max")["value"])
        val energy = byMetric.getValue("energy_mj_per_inference")
        assertEquals("power_monitor", energy["source"])
        assertEquals(
            BlockEnergy.of(blocks(), EnergySeries.rails(rails(), "power_monitor")).mjPerInference,
            energy["value"] as Double,
            1e-12,
        )
        assertEquals(true, byMetric.getValue("battery_samples")["plugged"])
        val back = Json.parse(BenchmarkReport.toJson(records)).list("records")
        assertEquals(records.size, back.size)
        val out = System.getProperty("emoedge.report.out")
        if (out != null) File(out).writeText(BenchmarkReport.toJson(records))
    }

    @Test
    fun pluggedInWithoutRailsHasNoEnergyAndSaysWhy() {
        val energy = BenchmarkReport.records(run(plugged = true, monitors = false)).single { it["metric"] == "energy_mj_per_inference" }
        assertNull(energy["value"])
        assertTrue((energy["energy_notes"] as List<*>).any { it.toString().contains("plugged in") })
    }
}
