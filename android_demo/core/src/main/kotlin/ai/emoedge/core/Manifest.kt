package ai.emoedge.core

import java.io.File
import java.io.InputStream
import java.security.MessageDigest

/** A manifest that cannot be used: wrong version, missing field, artifact that does not match it. */
class ManifestException(
    message: String,
) : IllegalArgumentException(message)

enum class ModalityKind(
    val json: String,
) {
    FEATURES("features"),
    FRAMES("frames"),
    TOKENS("tokens"),

    /** One mono PCM sample in [-1, 1] per step at `sample_rate`; the log-mel front end is inside the model. */
    WAVEFORM("waveform"),
    ;

    companion object {
        fun of(json: String): ModalityKind =
            entries.firstOrNull { it.json == json }
                ?: throw ManifestException("modality kind '$json' is not one of ${entries.joinToString { it.json }}")
    }
}

/** One input modality as the manifest's `spec.modalities` describes it (sdk/spec.py ModalitySpec). */
class Modality(
    val name: String,
    val kind: ModalityKind,
    val seqLen: Int,
    val featureDim: Int,
    val channels: Int,
    val height: Int,
    val width: Int,
    val vocabulary: List<String>,
    val mean: FloatArray,
    val std: FloatArray,
    /** Waveform: samples per second (the model's rate; the app records or resamples to it). 0 otherwise. */
    val sampleRate: Int = 0,
    /** Waveform front end (sdk/frontend.py): analysis frame, hop, mel bands, band edges in Hz. */
    val winLength: Int = 0,
    val hopLength: Int = 0,
    val nMels: Int = 0,
    val fmin: Double = 0.0,
    val fmax: Double = 0.0,
    /** True: the model normalizes this modality itself (raw PCM / raw 0..255 pixels go in); the packer must not. */
    val normalizeInGraph: Boolean = false,
    /** Encoder front: "" (the kind's default) or "face" (a 48x48 face crop by [FaceCrop]). */
    val encoder: String = "",
) {
    /** Shape of one step: (F) for features, (C, H, W) for frames, () for tokens and waveform samples. */
    val stepShape: IntArray =
        when (kind) {
            ModalityKind.FEATURES -> intArrayOf(featureDim)
            ModalityKind.FRAMES -> intArrayOf(channels, height, width)
            ModalityKind.TOKENS, ModalityKind.WAVEFORM -> intArrayOf()
        }

    /** Log-mel frames of a waveform window (frames every hop, no centre padding), as sdk.spec computes them. */
    val nFrames: Int =
        if (kind != ModalityKind.WAVEFORM || seqLen < winLength || hopLength < 1) 0 else 1 + (seqLen - winLength) / hopLength

    /** Number of values in one step. */
    val stepSize: Int = stepShape.fold(1) { a, b -> a * b }

    /** The model input's shape, batch 1 included: (1, seqLen, *stepShape). */
    val inputShape: LongArray = longArrayOf(1L, seqLen.toLong(), *stepShape.map { it.toLong() }.toLongArray())

    val isTokens: Boolean get() = kind == ModalityKind.TOKENS

    val isWaveform: Boolean get() = kind == ModalityKind.WAVEFORM

    /** Whether the packer applies `(x - mean) / std` (never for tokens or for a modality normalized in the graph). */
    val packerNormalizes: Boolean get() = !isTokens && !normalizeInGraph && mean.isNotEmpty()
}

/** The JSON manifest written beside every exported artifact (export/manifest.py). */
class Manifest(
    val format: String,
    val precision: String,
    val artifact: String,
    val classNames: List<String>,
    val modalities: List<Modality>,
    val inputNames: List<String>,
    val outputNames: List<String>,
    val sha256: String?,
    val sizeBytes: Long?,
    val dataset: String,
    /** LiteRT signature and its input names in manifest order (`runtime_tensor_names`); empty = positional. */
    val runtimeSignature: String? = null,
    val runtimeInputNames: List<String> = emptyList(),
    /** The dtype of each input in [inputNames] order ("float32", "int64"; "int32" for LiteRT token ids). */
    val inputDtypes: List<String> = inputNames.map { "float32" },
    /** The export's partitioning note (`notes.delegation`: backends, delegated fraction); null when absent. */
    val delegation: Delegation? = null,
) {
    val modalityNames: List<String> get() = modalities.map { it.name }

    fun modality(name: String): Modality =
        modalities.firstOrNull { it.name == name }
            ?: throw ManifestException("no modality '$name'; this model has $modalityNames")

    /**
     * Checks an artifact against the manifest's size and sha256 before it is loaded (like
     * export.manifest.check_artifact); a manifest without them (an embedded copy) accepts any file.
     */
    fun checkArtifact(file: File) {
        val fix = "re-export it with `python -m export` and copy both files again"
        if (!file.isFile) throw ManifestException("${file.name}: artifact not found; $fix")
        if (sizeBytes != null && file.length() != sizeBytes) {
            throw ManifestException("${file.name}: ${file.length()} bytes but its manifest says $sizeBytes; $fix")
        }
        if (sha256 != null) {
            val actual = file.inputStream().use { sha256Hex(it) }
            if (actual != sha256) {
                throw ManifestException("${file.name}: sha256 ${actual.take(16)}... differs from the manifest's; $fix")
            }
        }
    }

    companion object {
        const val SUPPORTED_VERSION = 1

        fun parse(text: String): Manifest = fromJson(Json.parse(text).obj("manifest"))

        fun fromJson(root: Map<String, Any?>): Manifest {
            val version = root["manifest_version"].int("manifest_version")
            if (version != SUPPORTED_VERSION) {
                throw ManifestException(
                    "manifest version $version is not supported (this app reads $SUPPORTED_VERSION); " +
                        "re-export the model with the matching emoedge",
                )
            }
            val spec = root["spec"].obj("spec")
            val specVersion = spec["version"].int("spec.version")
            if (specVersion != SUPPORTED_VERSION) throw ManifestException("spec version $specVersion is not supported")
            val modalities =
                spec["modalities"].list("spec.modalities").mapIndexed { i, m ->
                    modality(m.obj("spec.modalities[$i]"))
                }
            if (modalities.isEmpty()) throw ManifestException("spec.modalities: a model needs at least one modality")
            val classNames = root["class_names"].list("class_names").map { it.str("class_names[]") }
            if (classNames.size < 2) throw ManifestException("class_names: at least two classes")
            val inputs = root["inputs"].list("inputs").map { it.obj("inputs[]")["name"].str("inputs[].name") }
            val dtypes = root["inputs"].list("inputs").map { it.obj("inputs[]")["dtype"] as? String ?: "float32" }
            val unknownDtype = dtypes.firstOrNull { it !in INPUT_DTYPES }
            if (unknownDtype != null) throw ManifestException("inputs: dtype '$unknownDtype' is not one of $INPUT_DTYPES")
            val expected = modalities.map { it.name } + "presence"
            if (inputs != expected) throw ManifestException("inputs $inputs do not match the modalities + presence $expected")
            return Manifest(
                format = root["format"].str("format"),
                precision = root["precision"].str("precision"),
                artifact = root["artifact"].str("artifact"),
                classNames = classNames,
                modalities = modalities,
                inputNames = inputs,
                outputNames = root["outputs"].list("outputs").map { it.obj("outputs[]")["name"].str("outputs[].name") },
                sha256 = root["sha256"] as? String,
                sizeBytes = (root["size_bytes"] as? Number)?.toLong(),
                dataset = spec["dataset"] as? String ?: "",
                runtimeSignature = (root["runtime_tensor_names"] as? Map<*, *>)?.get("signature") as? String,
                runtimeInputNames =
                    ((root["runtime_tensor_names"] as? Map<*, *>)?.get("inputs") as? List<*>)?.map { it.str("runtime input") }
                        ?: emptyList(),
                inputDtypes = dtypes,
                delegation = Delegation.fromNotes(root["notes"]),
            )
        }

        private fun modality(m: Map<String, Any?>): Modality {
            val name = m["name"].str("modality name")
            val norm = (m["normalization"] as? Map<*, *>) ?: emptyMap<String, Any?>()
            val mean = (norm["mean"] as? List<*> ?: emptyList<Any?>()).map { it.num("$name mean").toFloat() }
            val std = (norm["std"] as? List<*> ?: emptyList<Any?>()).map { it.num("$name std").toFloat() }
            if (mean.size != std.size) throw ManifestException("$name: normalization mean and std differ in length")
            if (std.any { it <= 0f }) throw ManifestException("$name: normalization std must be > 0")
            val modality =
                Modality(
                    name = name,
                    kind = ModalityKind.of(m["kind"].str("$name kind")),
                    seqLen = m["seq_len"].int("$name seq_len"),
                    featureDim = (m["feature_dim"] as? Number)?.toInt() ?: 0,
                    channels = (m["channels"] as? Number)?.toInt() ?: 0,
                    height = (m["height"] as? Number)?.toInt() ?: 0,
                    width = (m["width"] as? Number)?.toInt() ?: 0,
                    vocabulary = (m["vocabulary"] as? List<*> ?: emptyList<Any?>()).map { it.str("$name vocabulary") },
                    mean = mean.toFloatArray(),
                    std = std.toFloatArray(),
                    sampleRate = (m["sample_rate"] as? Number)?.toInt() ?: 0,
                    winLength = (m["win_length"] as? Number)?.toInt() ?: 0,
                    hopLength = (m["hop_length"] as? Number)?.toInt() ?: 0,
                    nMels = (m["n_mels"] as? Number)?.toInt() ?: 0,
                    fmin = (m["fmin"] as? Number)?.toDouble() ?: 0.0,
                    fmax = (m["fmax"] as? Number)?.toDouble() ?: 0.0,
                    normalizeInGraph = m["normalize_in_graph"] as? Boolean ?: false,
                    encoder = m["encoder"] as? String ?: "",
                )
            if (modality.seqLen < 1 || modality.stepSize < 1) throw ManifestException("$name: seq_len and step shape must be >= 1")
            if (modality.isWaveform) checkWaveform(modality)
            if (modality.normalizeInGraph && modality.kind !in setOf(ModalityKind.WAVEFORM, ModalityKind.FRAMES)) {
                throw ManifestException("$name: normalize_in_graph is for waveform and frames modalities")
            }
            if (modality.encoder !in (if (modality.kind == ModalityKind.FRAMES) setOf("", "face") else setOf(""))) {
                throw ManifestException("$name: encoder '${modality.encoder}' is not known for a ${modality.kind.json} modality")
            }
            val expectedStats =
                when (modality.kind) {
                    ModalityKind.FEATURES -> modality.featureDim
                    ModalityKind.FRAMES -> modality.channels
                    ModalityKind.TOKENS -> 0
                    ModalityKind.WAVEFORM -> modality.nMels
                }
            if (mean.isNotEmpty() && mean.size != expectedStats) {
                throw ManifestException("$name: normalization has ${mean.size} values, expected $expectedStats")
            }
            if (modality.isTokens && modality.vocabulary.size < 3) throw ManifestException("$name: a token modality needs a vocabulary")
            return modality
        }

        /** The input dtypes a manifest may name (export/manifest.py). */
        val INPUT_DTYPES = listOf("float32", "int64", "int32")

        /** sdk.spec.ModalitySpec.validate for a waveform: a rate, a window of at least one log-mel frame, stats in the graph. */
        private fun checkWaveform(m: Modality) {
            val name = m.name
            if (m.sampleRate < 1) throw ManifestException("$name: a waveform modality needs sample_rate >= 1 (e.g. 16000)")
            if (m.nFrames < 1 || m.nMels < 1) {
                throw ManifestException(
                    "$name: a waveform modality needs seq_len >= win_length, hop_length >= 1 and n_mels >= 1; got seq_len " +
                        "${m.seqLen}, win_length ${m.winLength}, hop_length ${m.hopLength}, n_mels ${m.nMels}",
                )
            }
            if (!(m.fmin >= 0.0 && m.fmin < m.fmax && m.fmax <= m.sampleRate / 2.0)) {
                throw ManifestException("$name: need 0 <= fmin < fmax <= sample_rate / 2, got ${m.fmin}, ${m.fmax}")
            }
            if (!m.normalizeInGraph) throw ManifestException("$name: a waveform modality is always normalized in the graph")
        }

        fun sha256Hex(stream: InputStream): String {
            val digest = MessageDigest.getInstance("SHA-256")
            val buffer = ByteArray(1 shl 16)
            while (true) {
                val n = stream.read(buffer)
                if (n < 0) break
                digest.update(buffer, 0, n)
            }
            return digest.digest().joinToString("") { "%02x".format(it) }
        }
    }
}
