package ai.emoedge.core

/**
 * The last [capacity] steps of one modality, oldest first, in memory allocated once.
 * Float steps ([isTokens] false) or token ids (true); [stepSize] values per step.
 */
class RingBuffer(
    val capacity: Int,
    val stepSize: Int,
    val isTokens: Boolean,
) {
    private val floats = FloatArray(if (isTokens) 0 else capacity * stepSize)
    private val longs = LongArray(if (isTokens) capacity else 0)
    private var start = 0
    var count = 0
        private set

    init {
        require(capacity >= 1 && stepSize >= 1) { "capacity and stepSize must be >= 1" }
        require(!isTokens || stepSize == 1) { "a token step is one id" }
    }

    fun extend(steps: FloatArray) {
        require(!isTokens && steps.size % stepSize == 0) { "expected whole float steps of $stepSize values" }
        val k = steps.size / stepSize
        val first = maxOf(0, k - capacity)
        for (s in first until k) {
            val slot = (start + count) % capacity
            System.arraycopy(steps, s * stepSize, floats, slot * stepSize, stepSize)
            advance()
        }
    }

    fun extend(ids: LongArray) {
        require(isTokens) { "this buffer holds float steps" }
        for (s in maxOf(0, ids.size - capacity) until ids.size) {
            longs[(start + count) % capacity] = ids[s]
            advance()
        }
    }

    private fun advance() {
        if (count == capacity) start = (start + 1) % capacity else count++
    }

    /** A copy of the buffered float steps, oldest first (count * stepSize values). */
    fun floatWindow(): FloatArray {
        val out = FloatArray(count * stepSize)
        for (i in 0 until count) System.arraycopy(floats, ((start + i) % capacity) * stepSize, out, i * stepSize, stepSize)
        return out
    }

    /** A copy of the buffered ids, oldest first. */
    fun tokenWindow(): LongArray = LongArray(count) { longs[(start + it) % capacity] }

    fun clear() {
        start = 0
        count = 0
    }
}

/**
 * One ring buffer per modality (capacity = its seqLen) and the time of its newest push; which
 * windows are fresh at a time (sdk.runtime.streaming.ModalityWindows). A modality never pushed,
 * empty, or last pushed more than [staleAfterMs] ago is absent (null), so the model's presence
 * mask, not zeros, tells it so.
 */
class ModalityWindows(
    val manifest: Manifest,
    val staleAfterMs: Double? = null,
) {
    private val buffers = manifest.modalities.associate { it.name to RingBuffer(it.seqLen, it.stepSize, it.isTokens) }
    private val lastPushMs = HashMap<String, Double>()

    init {
        require(staleAfterMs == null || staleAfterMs >= 0) { "staleAfterMs must be >= 0 or null" }
    }

    private fun checkOrder(
        modality: String,
        timestampMs: Double,
    ) {
        if (modality !in buffers) throw InputException("unknown_modality", "unknown modality '$modality'")
        val last = lastPushMs[modality]
        if (last != null && timestampMs < last) {
            throw InputException(
                "timestamp_out_of_order",
                "$modality: timestamp $timestampMs ms is older than its previous push ($last ms); push steps in time order",
            )
        }
    }

    /** Appends float steps (k * stepSize values) seen at [timestampMs]. */
    fun add(
        modality: String,
        steps: FloatArray,
        timestampMs: Double,
    ) {
        checkOrder(modality, timestampMs)
        if (steps.any { !it.isFinite() }) throw InputException("non_finite", "$modality: contains NaN or inf")
        buffers.getValue(modality).extend(steps)
        lastPushMs[modality] = timestampMs
    }

    /** Appends token ids seen at [timestampMs]. */
    fun add(
        modality: String,
        ids: LongArray,
        timestampMs: Double,
    ) {
        checkOrder(modality, timestampMs)
        buffers.getValue(modality).extend(ids)
        lastPushMs[modality] = timestampMs
    }

    /**
     * Replaces a modality's window with these float steps seen at [timestampMs] (the oldest fall out
     * beyond the capacity). For an input that is a whole sample, not a continuation of the previous
     * one: a replayed recorded sample, one face crop. Appending a new sample with [add] would splice
     * it onto the previous sample's steps.
     */
    fun replace(
        modality: String,
        steps: FloatArray,
        timestampMs: Double,
    ) {
        checkOrder(modality, timestampMs)
        if (steps.any { !it.isFinite() }) throw InputException("non_finite", "$modality: contains NaN or inf")
        val buffer = buffers.getValue(modality)
        buffer.clear()
        buffer.extend(steps)
        lastPushMs[modality] = timestampMs
    }

    /**
     * Replaces a token modality's window with [ids] (the text box's whole current text, tokenized):
     * each keystroke gives the full text again, so appending it would repeat every earlier word.
     */
    fun replace(
        modality: String,
        ids: LongArray,
        timestampMs: Double,
    ) {
        checkOrder(modality, timestampMs)
        val buffer = buffers.getValue(modality)
        buffer.clear()
        buffer.extend(ids)
        lastPushMs[modality] = timestampMs
    }

    /** Each modality's window as a [RawInput] ready for [InputPacker.pack], or null when absent at [timestampMs]. */
    fun windows(timestampMs: Double): Map<String, RawInput?> =
        manifest.modalities.associate { m ->
            val buffer = buffers.getValue(m.name)
            val last = lastPushMs[m.name]
            val fresh = staleAfterMs == null || (last != null && timestampMs - last <= staleAfterMs)
            m.name to
                when {
                    buffer.count == 0 || !fresh -> null
                    m.isTokens -> RawInput.Tokens(buffer.tokenWindow())
                    else -> RawInput.Floats(intArrayOf(buffer.count, *m.stepShape), buffer.floatWindow())
                }
        }

    fun clear(modality: String? = null) {
        for (name in if (modality == null) buffers.keys.toList() else listOf(modality)) {
            buffers.getValue(name).clear()
            lastPushMs.remove(name)
        }
    }
}
