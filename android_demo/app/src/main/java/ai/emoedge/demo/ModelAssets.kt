package ai.emoedge.demo

import ai.emoedge.core.Json
import ai.emoedge.core.Manifest
import ai.emoedge.core.RawInput
import ai.emoedge.core.SileroManifest
import android.content.Context
import java.io.File

/**
 * The artifacts and manifests that `android_demo/scripts/copy_assets.py` put under assets/models/,
 * copied once into the app's files dir (runtimes want a file path), and the recorded feature files
 * under assets/replay/ for modalities a phone cannot compute.
 */
class ModelAssets(
    private val context: Context,
) {
    /** Asset paths of every artifact, e.g. "models/executorch/model_fp32.pte". */
    fun artifacts(): List<String> =
        listOf("executorch", "litert", "onnx").flatMap { dir ->
            (context.assets.list("models/$dir") ?: emptyArray())
                .filter { !it.endsWith(".json") }
                .map { "models/$dir/$it" }
        }

    /** The artifact as a file (copied from the APK on first use) and its manifest; a pushed file path works too. */
    fun open(path: String): Pair<File, Manifest> {
        val file = if (path.startsWith("/")) File(path) else copyOut(path)
        val manifestFile = File(file.path + ".json")
        if (!path.startsWith("/")) copyOut("$path.json")
        require(manifestFile.isFile) { "${file.name}: its manifest ${manifestFile.name} is missing; copy both files" }
        return file to Manifest.parse(manifestFile.readText())
    }

    /**
     * Silero VAD (vad/silero_vad.pte and vad/silero_vad.json, from `python -m export.silero`, copied by
     * copy_assets.py --vad) as a file and its manifest, or null when the app was built without it.
     */
    fun voiceActivity(): Pair<File, SileroManifest>? {
        val names = context.assets.list("vad") ?: emptyArray()
        if (SileroManifest.PTE !in names || VAD_MANIFEST !in names) return null
        val manifest = SileroManifest.parse(copyOut("vad/$VAD_MANIFEST").readText())
        return copyOut("vad/${SileroManifest.PTE}") to manifest
    }

    private fun copyOut(asset: String): File {
        val target = File(context.filesDir, asset)
        if (!target.isFile) {
            target.parentFile?.mkdirs()
            context.assets.open(asset).use { input -> target.outputStream().use { input.copyTo(it) } }
        }
        return target
    }

    /** Recorded samples for [dataset] (replay/<dataset>.json), or empty when none were shipped. */
    fun replay(dataset: String): List<ReplaySample> {
        val name = "replay/$dataset.json"
        if ((context.assets.list("replay") ?: emptyArray()).none { "replay/$it" == name }) return emptyList()
        val root =
            Json.parse(
                context.assets
                    .open(name)
                    .bufferedReader()
                    .readText(),
            ) as Map<*, *>
        return (root["samples"] as List<*>).map { s ->
            val sample = s as Map<*, *>
            val modalities =
                (sample["modalities"] as Map<*, *>).entries.associate { (k, v) ->
                    k as String to (v as Map<*, *>?)?.let { t -> toRaw(t) }
                }
            ReplaySample(sample["label"] as String, modalities)
        }
    }

    private fun toRaw(t: Map<*, *>): RawInput {
        val shape = (t["shape"] as List<*>).map { (it as Number).toInt() }.toIntArray()
        val data = (t["data"] as List<*>).map { (it as Number).toDouble() }
        return if (shape.size == 1) {
            RawInput.Tokens(data.map { it.toLong() }.toLongArray())
        } else {
            RawInput.Floats(shape, data.map { it.toFloat() }.toFloatArray())
        }
    }
}

const val VAD_MANIFEST = "silero_vad.json"

/** One recorded test sample: its label and per-modality raw features (null = absent in the recording). */
class ReplaySample(
    val label: String,
    val modalities: Map<String, RawInput?>,
)
