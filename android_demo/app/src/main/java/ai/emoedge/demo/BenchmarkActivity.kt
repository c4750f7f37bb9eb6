package ai.emoedge.demo

import ai.emoedge.core.Accelerator
import ai.emoedge.core.BatterySample
import ai.emoedge.core.BenchmarkReport
import ai.emoedge.core.BenchmarkRun
import ai.emoedge.core.BlockSchedule
import ai.emoedge.core.InputPacker
import ai.emoedge.core.Manifest
import ai.emoedge.core.ModalityKind
import ai.emoedge.core.RawInput
import ai.emoedge.core.ThermalSample
import ai.emoedge.demo.runtime.Runtimes
import android.app.Activity
import android.content.Intent
import android.content.IntentFilter
import android.os.BatteryManager
import android.os.Build
import android.os.Bundle
import android.os.Debug
import android.os.OutcomeReceiver
import android.os.PowerManager
import android.os.PowerMonitor
import android.os.PowerMonitorReadings
import android.os.SystemClock
import android.os.health.SystemHealthManager
import android.provider.Settings
import android.util.Log
import android.view.WindowManager
import java.io.File
import java.util.Random
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Headless benchmark, driven by adb (python -m sdk.device bench does this, with `am start -W -S` so
 * every run is a fresh process and a cold start):
 *
 *   adb shell am start -W -S -n ai.emoedge.demo/.BenchmarkActivity \
 *     --es model /data/local/tmp/emoedge/model_fp32.pte --ei duration_s 30 --ei block_s 5 \
 *     --ei warmup 20 --ei threads 1 [--es modalities audio,video,text] [--ez energy true] \
 *     [--es accelerator cpu|gpu|npu]
 *
 * The accelerator (default: what the artifact is built for) goes to core AcceleratorPlan, which picks the
 * runtime's delegate or execution provider (XNNPACK or Vulkan .pte, LiteRT CPU/GPU/NPU, ONNX Runtime
 * CPU/NNAPI/QNN) or refuses with the reason; the result records the accelerator, the delegate that ran and
 * the share of the graph it took.
 *
 * Protocol: the screen is kept on (FLAG_KEEP_SCREEN_ON) and its state recorded; the artifact's sha256 is
 * checked first and not timed; load (timed), first inference (timed), warm-up, then duration_s of
 * inference in run blocks of block_s between idle blocks of the same length (core BlockSchedule). A side
 * thread samples, every 250 ms, the power monitors (SystemHealthManager.getPowerMonitorReadings, API 35+:
 * measured rails, which keep working while plugged in) and BatteryManager current/voltage, and every
 * second thermal status, PowerManager.getThermalHeadroom and PSS. Core BenchmarkReport turns it into the
 * result records; energy per inference is computed from the best in-app source (core BlockEnergy), and
 * the host may replace it with Perfetto's rails. There is no refusal to run while plugged in: a plugged
 * phone without rails gets no battery-based energy, and says why.
 * Writes files/bench/result.json and logs "EMOEDGE_BENCH_DONE <path>" or "EMOEDGE_BENCH_ERROR".
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        val out = File(getExternalFilesDir(null) ?: filesDir, "bench/result.json")
        Thread {
            try {
                val records = BenchmarkReport.records(run(intent))
                out.parentFile?.mkdirs()
                val tmp = File(out.path + ".tmp")
                tmp.writeText(BenchmarkReport.toJson(records))
                tmp.renameTo(out)
                Log.i(TAG, "EMOEDGE_BENCH_DONE ${out.absolutePath}")
            } catch (e: Exception) {
                out.parentFile?.mkdirs()
                val tmp = File(out.path + ".tmp")
                tmp.writeText("{\"error\": \"${e.javaClass.simpleName}: ${e.message?.replace("\"", "'")}\"}\n")
                tmp.renameTo(out)
                Log.e(TAG, "EMOEDGE_BENCH_ERROR ${e.message}", e)
            }
            runOnUiThread { finish() }
        }.start()
    }

    private fun bootMs() = SystemClock.elapsedRealtimeNanos() / 1e6

    private fun plugged(): Boolean {
        val status = registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        return (status?.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0) ?: 0) != 0
    }

    private fun batterySample(): BatterySample {
        val status = registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        val voltage = status?.getIntExtra(BatteryManager.EXTRA_VOLTAGE, 0) ?: 0
        // Long.MIN_VALUE where unsupported; units and sign are checked by core BatteryUnits.
        val current = (getSystemService(BATTERY_SERVICE) as BatteryManager).getLongProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW)
        return BatterySample(bootMs(), current.toDouble(), voltage.toDouble())
    }

    /** The measured power rails (API 35+), or an empty list where the phone exposes none. */
    private fun powerMonitors(health: SystemHealthManager?): List<PowerMonitor> {
        if (Build.VERSION.SDK_INT < 35 || health == null) return emptyList()
        val latch = CountDownLatch(1)
        var found: List<PowerMonitor> = emptyList()
        health.getPowerMonitors(Executors.newSingleThreadExecutor()) { monitors ->
            found = monitors.filter { it.type == PowerMonitor.POWER_MONITOR_TYPE_MEASUREMENT }
            latch.countDown()
        }
        latch.await(2, TimeUnit.SECONDS)
        return found
    }

    /** One reading of every rail: name -> (elapsedRealtime ms, cumulative µWs). */
    private fun readRails(
        health: SystemHealthManager,
        monitors: List<PowerMonitor>,
    ): Map<String, Pair<Double, Double>> {
        if (Build.VERSION.SDK_INT < 35 || monitors.isEmpty()) return emptyMap()
        val latch = CountDownLatch(1)
        val out = HashMap<String, Pair<Double, Double>>()
        health.getPowerMonitorReadings(
            monitors,
            null,
            Executors.newSingleThreadExecutor(),
            object : OutcomeReceiver<PowerMonitorReadings, RuntimeException> {
                override fun onResult(result: PowerMonitorReadings) {
                    for (m in monitors) {
                        val energy = result.getConsumedEnergy(m)
                        if (energy != PowerMonitorReadings.ENERGY_UNAVAILABLE.toLong()) {
                            out[m.name] = result.getTimestampMillis(m).toDouble() to energy.toDouble()
                        }
                    }
                    latch.countDown()
                }

                override fun onError(error: RuntimeException) {
                    Log.w(TAG, "power monitor reading failed: ${error.message}")
                    latch.countDown()
                }
            },
        )
        latch.await(1, TimeUnit.SECONDS)
        return out
    }

    private fun run(intent: Intent): BenchmarkRun {
        val modelPath = intent.getStringExtra("model") ?: throw IllegalArgumentException("--es model PATH is required")
        val durationS = intent.getIntExtra("duration_s", 30)
        val blockS = intent.getIntExtra("block_s", 5)
        val warmup = intent.getIntExtra("warmup", 20)
        val threads = intent.getIntExtra("threads", 1)
        val energyWanted = intent.getBooleanExtra("energy", true)
        val accelerator = intent.getStringExtra("accelerator")?.let { Accelerator.of(it) }
        require(durationS >= 1 && blockS in 1..durationS) { "need 1 <= block_s <= duration_s, got $blockS and $durationS" }
        val power = getSystemService(POWER_SERVICE) as PowerManager
        val health = if (Build.VERSION.SDK_INT >= 35) getSystemService(SystemHealthManager::class.java) else null
        val monitors = if (energyWanted) powerMonitors(health) else emptyList()
        val screen =
            mapOf(
                "interactive" to power.isInteractive,
                "brightness" to Settings.System.getInt(contentResolver, Settings.System.SCREEN_BRIGHTNESS, -1),
                "keep_on" to true,
            )

        val (file, manifest) = ModelAssets(this).open(modelPath)
        manifest.checkArtifact(file) // hashing is not part of the load time
        val modalities =
            intent
                .getStringExtra("modalities")
                ?.split(',')
                ?.map { it.trim() }
                ?.filter { it.isNotEmpty() } ?: manifest.modalityNames
        val packed = InputPacker(manifest).pack(exampleInputs(manifest, modalities))

        val pssBefore = Debug.getPss()
        val loadStart = SystemClock.elapsedRealtimeNanos()
        val runner = Runtimes.open(file, manifest, threads, artifactChecked = true, accelerator = accelerator)
        val loadMs = (SystemClock.elapsedRealtimeNanos() - loadStart) / 1e6
        runner.use {
            val firstStart = SystemClock.elapsedRealtimeNanos()
            it.run(packed)
            val firstMs = (SystemClock.elapsedRealtimeNanos() - firstStart) / 1e6
            repeat(warmup) { _ -> it.run(packed) }

            val rails = HashMap<String, MutableList<Pair<Double, Double>>>()
            val battery = ArrayList<BatterySample>()
            val thermal = ArrayList<ThermalSample>()
            var wasPlugged = plugged()
            val running = AtomicBoolean(true)
            val sampler =
                Thread {
                    var tick = 0
                    while (running.get()) {
                        if (health != null && monitors.isNotEmpty()) {
                            for ((name, reading) in readRails(health, monitors)) rails.getOrPut(name) { ArrayList() } += reading
                        }
                        if (energyWanted) battery += batterySample()
                        if (tick % 4 == 0) {
                            val headroom = if (Build.VERSION.SDK_INT >= 30) power.getThermalHeadroom(0).toDouble() else Double.NaN
                            thermal +=
                                ThermalSample(
                                    bootMs(),
                                    if (Build.VERSION.SDK_INT >= 29) power.currentThermalStatus else null,
                                    headroom.takeIf { h -> h.isFinite() },
                                    Debug.getPss(),
                                )
                            wasPlugged = wasPlugged || plugged()
                        }
                        tick++
                        SystemClock.sleep(PERIOD_MS)
                    }
                }
            sampler.start()
            val (blocks, latencies) =
                try {
                    BlockSchedule(maxOf(1, durationS / blockS), blockS * 1000L, ::bootMs) { ms -> SystemClock.sleep(ms) }
                        .run { it.run(packed) }
                } finally {
                    SystemClock.sleep(2 * PERIOD_MS) // a last reading after the final idle block
                    running.set(false)
                    sampler.join()
                }
            return BenchmarkRun(
                model = file.name,
                runtime = it.runtime,
                delegate = it.delegate,
                accelerator = it.accelerator,
                delegatedFraction = it.delegatedFraction,
                precision = manifest.precision,
                modalities = modalities,
                threads = threads,
                durationS = durationS,
                blockS = blockS,
                warmup = warmup,
                loadMs = loadMs,
                firstInferenceMs = firstMs,
                latenciesMs = latencies,
                blocks = blocks,
                pssBeforeKb = pssBefore,
                pssAfterKb = Debug.getPss(),
                thermal = thermal,
                powerMonitor = rails,
                battery = battery,
                plugged = wasPlugged || plugged(),
                energyWanted = energyWanted,
                screen = screen,
                device =
                    mapOf(
                        "manufacturer" to Build.MANUFACTURER,
                        "model" to Build.MODEL,
                        "soc" to if (Build.VERSION.SDK_INT >= 31) Build.SOC_MODEL else null,
                        "abi" to Build.SUPPORTED_ABIS.firstOrNull(),
                        "sdk_int" to Build.VERSION.SDK_INT,
                        "release" to Build.VERSION.RELEASE,
                    ),
            )
        }
    }

    /** One sample with the requested modalities present (the rest absent through the mask). */
    private fun exampleInputs(
        manifest: Manifest,
        present: List<String>,
    ): Map<String, RawInput?> {
        val unknown = present - manifest.modalityNames.toSet()
        require(unknown.isEmpty()) { "unknown modalities $unknown; this model has ${manifest.modalityNames}" }
        val rng = Random(0)
        return manifest.modalities.associate { m ->
            m.name to
                if (m.name !in present) {
                    null
                } else if (m.kind == ModalityKind.TOKENS) {
                    RawInput.Tokens(LongArray(m.seqLen) { 3L + rng.nextInt(m.vocabulary.size - 3) })
                } else if (m.isWaveform) {
                    // Raw PCM in [-1, 1] (the model computes and normalizes the log-mel spectrogram itself).
                    RawInput.Floats(intArrayOf(m.seqLen), FloatArray(m.seqLen) { (0.1 * rng.nextGaussian()).coerceIn(-1.0, 1.0).toFloat() })
                } else if (m.normalizeInGraph) {
                    // Raw 0..255 pixels (normalized in the graph), e.g. one 48 x 48 face crop.
                    RawInput.Floats(intArrayOf(m.seqLen, *m.stepShape), FloatArray(m.seqLen * m.stepSize) { rng.nextInt(256).toFloat() })
                } else {
                    val stats = if (m.kind == ModalityKind.FRAMES) m.height * m.width else 1
                    val data =
                        FloatArray(m.seqLen * m.stepSize) { j ->
                            val s = (j % m.stepSize) / stats
                            val g = rng.nextGaussian().toFloat()
                            if (m.mean.isEmpty()) g else m.mean[s] + m.std[s] * g
                        }
                    RawInput.Floats(intArrayOf(m.seqLen, *m.stepShape), data)
                }
        }
    }

    companion object {
        const val TAG = "EmoedgeBench"
        const val PERIOD_MS = 250L
    }
}
