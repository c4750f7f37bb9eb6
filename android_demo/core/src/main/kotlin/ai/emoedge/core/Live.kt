package ai.emoedge.core

/** 16-bit PCM to the model's float samples (sdk.inputs: int16 / 32768, so -32768 -> -1.0 and 32767 -> 0.99997). */
object Pcm {
    fun toFloat(
        samples: ShortArray,
        count: Int = samples.size,
    ): FloatArray {
        require(count in 0..samples.size) { "count $count outside 0..${samples.size}" }
        return FloatArray(count) { samples[it].toFloat() / 32768f }
    }
}

/**
 * The text box as a token modality: the whole current text, tokenized with the manifest's
 * vocabulary, keeping the last seqLen ids (the model reads no more), or null when it has no words.
 */
class LiveText(
    val modality: Modality,
) {
    private val tokenizer = WordTokenizer(modality.vocabulary)

    init {
        require(modality.isTokens) { "${modality.name} is not a token modality" }
    }

    fun ids(text: String): LongArray? {
        val ids = tokenizer.ids(text)
        if (ids.isEmpty()) return null
        return ids.takeLast(modality.seqLen).toLongArray()
    }
}

/** What the model gets at one moment: the inputs (null = absent) and, for each absent modality, why. */
class LiveSnapshot(
    val inputs: Map<String, RawInput?>,
    val absent: Map<String, String>,
)

/**
 * The demo's live inputs for one manifest, in one place the app drives and JUnit can test:
 * microphone PCM slides through a window of the model's seqLen samples; a face crop, the text box's
 * text and a replayed recorded sample each *replace* their modality's window (a new whole input,
 * never spliced onto the previous one); a switched-off, stale, faceless or empty input is absent
 * through the presence mask, and [snapshot] says why. Thread-safe: the microphone thread, the
 * camera analyzer and the UI call it concurrently.
 *
 * With a [voiceActivity] (Silero VAD on the phone, [SileroFrames]), every PCM read also goes through
 * it and the waveform window is present only when [VoiceActivityRule] finds speech in it ("no speech"
 * otherwise), as sdk/live_inputs.py decides it; without one, audio counts whenever the microphone delivers.
 */
class LiveInputs(
    val manifest: Manifest,
    staleAfterMs: Double? = 2000.0,
    val voiceActivity: SileroFrames? = null,
) {
    private val windows = ModalityWindows(manifest, staleAfterMs)
    private val enabled = manifest.modalityNames.associateWith { true }.toMutableMap()
    private val reasons = HashMap<String, String>()
    private val texts = manifest.modalities.filter { it.isTokens }.associate { it.name to LiveText(it) }

    init {
        val rates = manifest.modalities.filter { it.isWaveform }.map { it.sampleRate }
        require(voiceActivity == null || rates.all { it == SileroFrames.SAMPLE_RATE }) {
            "Silero VAD takes ${SileroFrames.SAMPLE_RATE} Hz PCM but the waveform modality records at $rates Hz: " +
                "export the model at 16 kHz or run without voice activity"
        }
    }

    @Synchronized
    fun isEnabled(modality: String): Boolean = enabled[modality] == true

    /** The on/off switch: off empties the window at once (absent, not zeros). */
    @Synchronized
    fun setEnabled(
        modality: String,
        on: Boolean,
    ) {
        val m = manifest.modality(modality)
        enabled[modality] = on
        if (!on) {
            windows.clear(modality)
            if (m.isWaveform) voiceActivity?.reset()
        }
    }

    /** Microphone samples (16-bit PCM, the first [count] of [samples]) heard at [timestampMs]: appended to the sliding window. */
    @Synchronized
    fun onPcm16(
        modality: String,
        samples: ShortArray,
        count: Int,
        timestampMs: Double,
    ) {
        require(manifest.modality(modality).isWaveform) { "$modality is not a waveform modality" }
        if (!isEnabled(modality) || count == 0) return
        val floats = Pcm.toFloat(samples, count)
        windows.add(modality, floats, timestampMs)
        voiceActivity?.push(floats)
        reasons.remove(modality)
    }

    /** The text box's whole text after a keystroke: it replaces the window (empty text: absent). */
    @Synchronized
    fun onText(
        modality: String,
        text: String,
        timestampMs: Double,
    ) {
        val live = texts[modality] ?: throw IllegalArgumentException("$modality is not a token modality")
        if (!isEnabled(modality)) return
        val ids = live.ids(text)
        if (ids == null) {
            windows.clear(modality)
            reasons[modality] = "no text"
        } else {
            windows.replace(modality, ids, timestampMs)
            reasons.remove(modality)
        }
    }

    /** A face crop (size x size gray bytes) from the current camera frame, or null when no face was found. */
    @Synchronized
    fun onFace(
        modality: String,
        crop: ByteArray?,
        timestampMs: Double,
    ) {
        val m = manifest.modality(modality)
        require(m.kind == ModalityKind.FRAMES) { "$modality is not a frames modality" }
        if (!isEnabled(modality)) return
        if (crop == null) {
            windows.clear(modality)
            reasons[modality] = "no face"
            return
        }
        require(m.channels == 1 && crop.size == m.height * m.width) {
            "$modality takes ${m.channels} x ${m.height} x ${m.width} frames; a face crop is 1 x ${m.height} x ${m.width}"
        }
        val frame = FaceCrop.asFrame(crop).data
        if (m.normalizeInGraph) {
            windows.replace(modality, frame, timestampMs)
        } else {
            // An older frames model (not normalized in the graph) took [0, 1] pixels and several frames.
            windows.add(modality, FloatArray(frame.size) { frame[it] / 255f }, timestampMs)
        }
        reasons.remove(modality)
    }

    /** One recorded sample for the modalities a phone cannot compute: each replaces its window. */
    @Synchronized
    fun onReplay(
        sample: Map<String, RawInput?>,
        timestampMs: Double,
    ) {
        for ((name, raw) in sample) {
            if (!isEnabled(name)) continue
            when (raw) {
                null -> {
                    windows.clear(name)
                    reasons[name] = "absent in the recorded sample"
                }

                is RawInput.Floats -> {
                    windows.replace(name, raw.data, timestampMs)
                    reasons.remove(name)
                }

                is RawInput.Tokens -> {
                    windows.replace(name, raw.ids, timestampMs)
                    reasons.remove(name)
                }

                else -> {
                    throw IllegalArgumentException("$name: a replayed sample holds float steps or token ids")
                }
            }
        }
    }

    /** The inputs at [timestampMs] (switched-off ones left out) and why each absent one is absent. */
    @Synchronized
    fun snapshot(timestampMs: Double): LiveSnapshot {
        val current = windows.windows(timestampMs)
        val inputs = LinkedHashMap<String, RawInput?>()
        val absent = LinkedHashMap<String, String>()
        for (m in manifest.modalities) {
            val window = if (isEnabled(m.name)) current[m.name] else null
            val noSpeech = window != null && m.isWaveform && voiceActivity?.hasSpeech() == false
            val raw = if (noSpeech) null else window
            inputs[m.name] = raw
            if (raw == null) {
                absent[m.name] =
                    when {
                        !isEnabled(m.name) -> "switched off"
                        noSpeech -> NO_SPEECH
                        m.name in reasons -> reasons.getValue(m.name)
                        else -> "no recent input"
                    }
            }
        }
        return LiveSnapshot(inputs, absent)
    }

    companion object {
        /** The absent reason of a waveform window in which the voice-activity rule found no speech. */
        const val NO_SPEECH = "no speech"
    }
}

/** What to do after a permission answer: which captures to start now, which to ask for, what to tell the user. */
class CaptureDecision(
    val startMicrophone: Boolean,
    val startCamera: Boolean,
    val request: List<String>,
    val messages: List<String>,
)

/**
 * Runtime permissions for the live sensors. On a first launch nothing is granted yet: the app asks,
 * and starts the microphone or camera only from the answer (or later, when it returns from Settings),
 * instead of trying once at start-up and leaving the sensor dead.
 */
object CapturePlan {
    const val MICROPHONE = "android.permission.RECORD_AUDIO"
    const val CAMERA = "android.permission.CAMERA"

    /** The permissions a model's live modalities need (a waveform: the microphone; a frames modality: the camera). */
    fun needed(manifest: Manifest): List<String> =
        buildList {
            if (manifest.modalities.any { it.isWaveform }) add(MICROPHONE)
            if (manifest.modalities.any { it.kind == ModalityKind.FRAMES }) add(CAMERA)
        }

    /**
     * [granted]: each needed permission's current state. [asked]: the permissions already asked for
     * in this session (so a denial is reported, not asked again in a loop). [running]: captures already on.
     */
    fun decide(
        manifest: Manifest,
        granted: Map<String, Boolean>,
        asked: Set<String>,
        running: Set<String> = emptySet(),
    ): CaptureDecision {
        val needed = needed(manifest)
        val messages = ArrayList<String>()
        val request = needed.filter { granted[it] != true && it !in asked }
        for (p in needed.filter { granted[it] != true && it in asked }) {
            val what = if (p == MICROPHONE) "microphone" else "camera"
            val which = manifest.modalities.filter { if (p == MICROPHONE) it.isWaveform else it.kind == ModalityKind.FRAMES }
            messages += "$what access denied: ${which.joinToString { it.name }} stays absent (allow it in Settings > Apps > emoedge)"
        }
        return CaptureDecision(
            startMicrophone = MICROPHONE in needed && granted[MICROPHONE] == true && MICROPHONE !in running,
            startCamera = CAMERA in needed && granted[CAMERA] == true && CAMERA !in running,
            request = request,
            messages = messages,
        )
    }
}

/** A model file the runtime could not load; the message names the error and what to do. */
class ModelLoadException(
    message: String,
    cause: Throwable? = null,
) : IllegalStateException(message, cause)

/**
 * ExecuTorch's runtime error codes (runtime/core/error.h of executorch 1.5.1, the release that
 * exports the .pte) and the check of `Module.loadMethod`'s status: a failed load is reported
 * when the model is opened, not as a crash at the first prediction.
 */
object ExecuTorchStatus {
    val NAMES: Map<Int, String> =
        mapOf(
            0x00 to "Ok",
            0x01 to "Internal",
            0x02 to "InvalidState",
            0x03 to "EndOfMethod",
            0x04 to "AlreadyLoaded",
            0x10 to "NotSupported",
            0x11 to "NotImplemented",
            0x12 to "InvalidArgument",
            0x13 to "InvalidType",
            0x14 to "OperatorMissing",
            0x15 to "RegistrationExceedingMaxKernels",
            0x16 to "RegistrationAlreadyRegistered",
            0x20 to "NotFound",
            0x21 to "MemoryAllocationFailed",
            0x22 to "AccessFailed",
            0x23 to "InvalidProgram",
            0x24 to "InvalidExternalData",
            0x25 to "OutOfResources",
            0x30 to "DelegateInvalidCompatibility",
            0x31 to "DelegateMemoryAllocationFailed",
            0x32 to "DelegateInvalidHandle",
        )

    fun describe(code: Int): String = "${NAMES[code] ?: "unknown error"} (0x${code.toString(16).padStart(2, '0')})"

    /** What to do about a load error, by code. */
    fun advice(code: Int): String =
        when (NAMES[code]) {
            "InvalidProgram", "NotSupported", "DelegateInvalidCompatibility" -> {
                "the app's ExecuTorch runtime cannot read this .pte: export it with the executorch release the app ships " +
                    "(executorchVersion in gradle.properties, 1.5.1) or raise that version to the exporter's (manifest tools.executorch)"
            }

            "OperatorMissing" -> {
                "the runtime lacks a kernel this model uses: export with the XNNPACK partitioner or link the kernel library"
            }

            "MemoryAllocationFailed", "OutOfResources", "DelegateMemoryAllocationFailed" -> {
                "not enough memory to load it: close other apps or use the int8 artifact"
            }

            "NotFound", "AccessFailed" -> {
                "the file or its 'forward' method is missing: copy the artifact again"
            }

            else -> {
                "re-export the model with `python -m export` and copy the artifact and its manifest again"
            }
        }

    /**
     * Checks the value `Module.loadMethod` returned: an Int status (executorch-android 1.x returns
     * the error code) must be 0; Unit (builds whose loadMethod throws instead) passes, since those
     * report a failure as an exception, which the caller turns into a [ModelLoadException].
     */
    fun check(
        status: Any?,
        method: String,
        artifact: String,
    ) {
        if (status is Int && status != 0) {
            throw ModelLoadException(
                "$artifact: loading method '$method' failed with ExecuTorch error ${describe(status)}; ${advice(status)}",
            )
        }
    }
}

/** One speech segment in VAD frames: [startFrame, endFrame). */
data class SpeechSegment(
    val startFrame: Int,
    val endFrame: Int,
)

/**
 * The voice-activity rule of sdk/vad.py on per-frame speech probabilities (Silero VAD: 512-sample
 * frames at 16 kHz, 32 ms): a segment starts at p >= [threshold], ends after [minSilenceMs] of
 * p < [negThreshold] (a shorter dip does not split it), and counts only if it lasts [minSpeechMs].
 * Audio is present for the model only when this finds speech. contract/vad.json pins it.
 */
class VoiceActivityRule(
    val threshold: Double = 0.5,
    val negThreshold: Double = 0.35,
    val minSpeechMs: Double = 250.0,
    val minSilenceMs: Double = 100.0,
    val frameMs: Double = 512 * 1000.0 / 16000,
) {
    fun segments(probabilities: DoubleArray): List<SpeechSegment> {
        val minSpeech = kotlin.math.ceil(minSpeechMs / frameMs).toInt()
        val minSilence = kotlin.math.ceil(minSilenceMs / frameMs).toInt()
        val out = ArrayList<SpeechSegment>()
        var start = -1
        var silent = 0
        for ((i, p) in probabilities.withIndex()) {
            if (start < 0) {
                if (p >= threshold) {
                    start = i
                    silent = 0
                }
                continue
            }
            if (p < negThreshold) {
                silent++
                if (silent >= minSilence) {
                    val end = i - silent + 1
                    if (end - start >= minSpeech) out += SpeechSegment(start, end)
                    start = -1
                    silent = 0
                }
            } else {
                silent = 0
            }
        }
        if (start >= 0) {
            val end = probabilities.size - silent
            if (end - start >= minSpeech) out += SpeechSegment(start, end)
        }
        return out
    }

    fun hasSpeech(probabilities: DoubleArray): Boolean = segments(probabilities).isNotEmpty()
}
