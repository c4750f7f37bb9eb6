package ai.emoedge.core

import java.io.File
import kotlin.math.ceil

/** One call of the Silero VAD network's output: the frame's speech probability and the new LSTM state. */
class SileroOutput(
    val probability: Float,
    val state: FloatArray,
)

/**
 * One call of the Silero VAD network (Silero Team, github.com/snakers4/silero-vad, MIT):
 * [input] = [context] samples of the previous frame followed by [frame] new samples (16 kHz floats),
 * [state] = the LSTM state (2 x 1 x 128, row-major) carried from the previous call. The app runs it with
 * ExecuTorch (silero_vad.pte from `python -m export.silero`); tests pass a plain function.
 */
fun interface SileroNetwork {
    fun run(
        input: FloatArray,
        state: FloatArray,
    ): SileroOutput
}

/** The facts about silero_vad.pte the app needs, read from the silero_vad.json that `python -m export.silero` writes. */
class SileroManifest(
    val sampleRate: Int,
    val frame: Int,
    val context: Int,
    val stateShape: IntArray,
    /** sha256 of the .pte (hex), or null when the manifest has none. */
    val sha256: String?,
) {
    val stateSize: Int get() = stateShape.fold(1) { a, b -> a * b }

    /** Refuses a .pte whose sha256 differs from the manifest's (a truncated copy, or files from two exports). */
    fun checkArtifact(file: File) {
        val expected = sha256 ?: return
        val actual = file.inputStream().use { Manifest.sha256Hex(it) }
        if (!actual.equals(expected, ignoreCase = true)) {
            throw ManifestException(
                "${file.name}: sha256 $actual differs from silero_vad.json's $expected; " +
                    "copy silero_vad.pte and silero_vad.json from the same `python -m export.silero` run",
            )
        }
    }

    companion object {
        const val PTE = "silero_vad.pte"

        /** Parses silero_vad.json; a missing or ill-typed field is a [ManifestException] naming it. */
        fun parse(text: String): SileroManifest {
            val root = Json.parse(text) as? Map<*, *> ?: throw ManifestException("silero_vad.json: not a JSON object")

            fun int(key: String): Int =
                (root[key] as? Number)?.toInt()
                    ?: throw ManifestException("silero_vad.json: '$key' is missing or not a number; re-export with python -m export.silero")
            val shape =
                (root["state_shape"] as? List<*>)?.map { (it as? Number)?.toInt() ?: -1 }
                    ?: throw ManifestException("silero_vad.json: 'state_shape' is missing; re-export with python -m export.silero")
            if (shape.any { it <= 0 }) throw ManifestException("silero_vad.json: state_shape $shape is not a list of positive sizes")
            val files = root["files"] as? Map<*, *>
            val sha = ((files?.get(PTE) as? Map<*, *>)?.get("sha256")) as? String
            return SileroManifest(int("sample_rate"), int("frame"), int("context"), shape.toIntArray(), sha)
        }
    }
}

/**
 * Silero VAD's frame bookkeeping on a PCM stream, as sdk/vad.py (SileroVAD.push) and sdk/live_inputs.py do it:
 * samples are cut into [frame]-sample frames (512 at 16 kHz, 32 ms); each frame goes to the [network] with the
 * last [context] samples of the previous frame in front (zeros before the first) and the state the previous call
 * returned (zeros at the start); a partial frame waits for the next samples. The probabilities of the last
 * [windowFrames] frames (the model's audio window, [windowFrames] from [framesInWindow]) are kept, and
 * [hasSpeech] applies [rule] (contract/vad.json) to them: the model's audio is present only then.
 * Thread-safe (the microphone thread pushes, the prediction thread asks).
 */
class SileroFrames(
    private val network: SileroNetwork,
    val windowFrames: Int,
    val rule: VoiceActivityRule = VoiceActivityRule(),
    val frame: Int = FRAME,
    val context: Int = CONTEXT,
    val stateSize: Int = STATE_SIZE,
) {
    private val pending = FloatArray(frame)
    private var pendingCount = 0
    private val input = FloatArray(context + frame)
    private var state = FloatArray(stateSize)
    private val ring = DoubleArray(windowFrames)
    private var ringStart = 0
    private var ringCount = 0

    init {
        require(frame > 0 && context in 0..frame) { "frame $frame and context $context: need 0 <= context <= frame" }
        require(windowFrames > 0) { "windowFrames $windowFrames must be positive" }
    }

    /** Appends [count] float samples (16 kHz, -1..1); returns the probabilities of the frames completed (maybe none). */
    @Synchronized
    fun push(
        samples: FloatArray,
        count: Int = samples.size,
    ): DoubleArray {
        require(count in 0..samples.size) { "count $count outside 0..${samples.size}" }
        val out = ArrayList<Double>()
        var i = 0
        while (i < count) {
            val take = minOf(frame - pendingCount, count - i)
            samples.copyInto(pending, pendingCount, i, i + take)
            pendingCount += take
            i += take
            if (pendingCount == frame) {
                out += runFrame()
                pendingCount = 0
            }
        }
        return out.toDoubleArray()
    }

    /** Zero-pads a waiting partial frame and runs it (the end of a whole clip, as sdk/vad.py's probabilities()). */
    @Synchronized
    fun flush(): DoubleArray {
        if (pendingCount == 0) return DoubleArray(0)
        pending.fill(0f, pendingCount)
        pendingCount = 0
        return doubleArrayOf(runFrame())
    }

    private fun runFrame(): Double {
        // input = the previous context (already in place at input[0, context)) + this frame
        pending.copyInto(input, context)
        val result = network.run(input.copyOf(), state.copyOf())
        require(result.state.size == stateSize) { "the VAD network returned a state of ${result.state.size} floats, expected $stateSize" }
        state = result.state.copyOf()
        pending.copyInto(input, 0, frame - context, frame) // this frame's tail is the next context
        val p = result.probability.toDouble()
        ring[(ringStart + ringCount) % windowFrames] = p
        if (ringCount < windowFrames) ringCount++ else ringStart = (ringStart + 1) % windowFrames
        return p
    }

    /** The kept probabilities, oldest first (at most [windowFrames]). */
    @Synchronized
    fun probabilities(): DoubleArray = DoubleArray(ringCount) { ring[(ringStart + it) % windowFrames] }

    /** Whether [rule] finds a speech segment in the kept probabilities (false before the first frame). */
    @Synchronized
    fun hasSpeech(): Boolean = ringCount > 0 && rule.hasSpeech(probabilities())

    /** A fresh stream: zero context and state, no waiting samples, no probabilities (the microphone switched off). */
    @Synchronized
    fun reset() {
        pendingCount = 0
        input.fill(0f)
        state = FloatArray(stateSize)
        ringStart = 0
        ringCount = 0
    }

    companion object {
        const val SAMPLE_RATE = 16000
        const val FRAME = 512
        const val CONTEXT = 64
        const val STATE_SIZE = 2 * 1 * 128

        /** VAD frames covering an audio window of [seqLen] samples at [sampleRate] (sdk/live_inputs.py: ceil). */
        fun framesInWindow(
            seqLen: Int,
            sampleRate: Int,
            frame: Int = FRAME,
        ): Int = ceil(seqLen.toDouble() / sampleRate * SAMPLE_RATE / frame).toInt().coerceAtLeast(1)
    }
}
