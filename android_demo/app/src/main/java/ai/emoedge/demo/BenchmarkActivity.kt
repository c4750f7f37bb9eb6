package ai.emoedge.demo

import ai.emoedge.core.BatterySample
import ai.emoedge.core.BenchmarkReport
import ai.emoedge.core.BenchmarkRun
import ai.emoedge.core.InputPacker
import ai.emoedge.core.Manifest
import ai.emoedge.core.ModalityKind
import ai.emoedge.core.RawInput
import ai.emoedge.demo.runtime.Runtimes
import android.app.Activity
import android.content.Intent
import android.content.IntentFilter
import android.os.BatteryManager
import android.os.Build
import android.os.Bundle
import android.os.Debug
import android.os.PowerManager
import android.os.SystemClock
import android.util.Log
import java.io.File
import java.util.Random
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Headless benchmark, driven by adb (python -m sdk.device bench does this):
 *
 *   adb shell am start -W -n ai.emoedge.demo/.BenchmarkActivity \
 *     --es model /data/local/tmp/emoedge/model_fp32.pte --ei iterations 200 --ei warmup 20 \
 *     --es modalities audio,video,text [--ez allow_charging false] [--ei threads 1]
 *
 * Measures load time, first inference, p50/p90/p99 of steady-state inferences (core LatencyStats),
 * memory (PSS after the run), energy per inference (BatteryManager current x voltage sampled during
 * the run, minus an idle baseline of the same length, core EnergyEstimate) and the thermal status
 * before and after. Refuses to start while charging unless allow_charging is set, in which case
 * the run is flagged and energy is not reported. Writes files/bench/result.json (a JSON list of
 * metric records with device info) and logs "EMOEDGE_BENCH_DONE <path>" or "EMOEDGE_BENCH_ERROR".
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
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
                out.writeText("{\"error\": \"${e.javaClass.simpleName}: ${e.message?.replace("\"", "'")}\"}\n")
                Log.e(TAG, "EMOEDGE_BENCH_ERROR ${e.message}", e)
            }
            runOnUiThread { finish() }
        }.start()
    }

    private fun battery(): BatteryManager = getSystemService(BATTERY_SERVICE) as BatteryManager

    private fun charging(): Boolean {
        val status = registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        return (status?.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0) ?: 0) != 0
    }

    private fun sample(start: Long): BatterySample {
        val status = registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        val voltage = status?.getIntExtra(BatteryManager.EXTRA_VOLTAGE, 0) ?: 0
        val current = battery().getLongProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW)
        return BatterySample((SystemClock.elapsedRealtimeNanos() - start) / 1e6, current.toDouble(), voltage.toDouble())
    }

    /** Samples the fuel gauge every [periodMs] on its own thread while [body] runs. */
    private fun <T> sampled(
        periodMs: Long,
        samples: MutableList<BatterySample>,
        body: () -> T,
    ): T {
        val running = AtomicBoolean(true)
        val start = SystemClock.elapsedRealtimeNanos()
        val sampler =
            Thread {
                while (running.get()) {
                    synchronized(samples) { samples += sample(start) }
                    SystemClock.sleep(periodMs)
                }
            }
        sampler.start()
        try {
            return body()
        } finally {
            running.set(false)
            sampler.join()
            synchronized(samples) { samples += sample(start) }
        }
    }

    private fun run(intent: Intent): BenchmarkRun {
        val modelPath = intent.getStringExtra("model") ?: throw IllegalArgumentException("--es model PATH is required")
        val iterations = intent.getIntExtra("iterations", 200)
        val warmup = intent.getIntExtra("warmup", 20)
        val threads = intent.getIntExtra("threads", 1)
        val allowCharging = intent.getBooleanExtra("allow_charging", false)
        val charging = charging()
        if (charging && !allowCharging) {
            throw IllegalStateException("the phone is charging: unplug it (or pass --ez allow_charging true to run without energy)")
        }
        val power = getSystemService(POWER_SERVICE) as PowerManager
        val thermalBefore = if (Build.VERSION.SDK_INT >= 29) power.currentThermalStatus else null

        val (file, manifest) = ModelAssets(this).open(modelPath)
        val modalities =
            intent
                .getStringExtra("modalities")
                ?.split(',')
                ?.map { it.trim() }
                ?.filter { it.isNotEmpty() } ?: manifest.modalityNames
        val packed = InputPacker(manifest).pack(exampleInputs(manifest, modalities))

        val loadStart = SystemClock.elapsedRealtimeNanos()
        val runner = Runtimes.open(file, manifest, threads)
        val loadMs = (SystemClock.elapsedRealtimeNanos() - loadStart) / 1e6
        runner.use {
            val firstStart = SystemClock.elapsedRealtimeNanos()
            it.run(packed)
            val firstMs = (SystemClock.elapsedRealtimeNanos() - firstStart) / 1e6
            repeat(warmup) { _ -> it.run(packed) }
            val runSamples = ArrayList<BatterySample>()
            val latencies = DoubleArray(iterations)
            val runStart = SystemClock.elapsedRealtimeNanos()
            sampled(PERIOD_MS, runSamples) {
                for (i in 0 until iterations) {
                    val t0 = SystemClock.elapsedRealtimeNanos()
                    it.run(packed)
                    latencies[i] = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
                }
            }
            val runMs = (SystemClock.elapsedRealtimeNanos() - runStart) / 1_000_000
            val idleSamples = ArrayList<BatterySample>()
            sampled(PERIOD_MS, idleSamples) { SystemClock.sleep(maxOf(runMs, 2 * PERIOD_MS)) } // idle, same length
            val memory = Debug.MemoryInfo().also { info -> Debug.getMemoryInfo(info) }
            return BenchmarkRun(
                model = file.name,
                runtime = it.runtime,
                precision = manifest.precision,
                modalities = modalities,
                iterations = iterations,
                warmup = warmup,
                loadMs = loadMs,
                firstInferenceMs = firstMs,
                latenciesMs = latencies,
                pssKb = memory.totalPss.toLong(),
                runBattery = runSamples,
                idleBattery = idleSamples,
                charging = charging || charging(),
                thermalBefore = thermalBefore,
                thermalAfter = if (Build.VERSION.SDK_INT >= 29) power.currentThermalStatus else null,
                device =
                    mapOf(
                        "manufacturer" to Build.MANUFACTURER,
                        "model" to Build.MODEL,
                        "soc" to if (Build.VERSION.SDK_INT >= 31) Build.SOC_MODEL else null,
                        "abi" to Build.SUPPORTED_ABIS.firstOrNull(),
                        "sdk_int" to Build.VERSION.SDK_INT,
                        "release" to Build.VERSION.RELEASE,
                        "threads" to threads,
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
        const val PERIOD_MS = 100L
    }
}
