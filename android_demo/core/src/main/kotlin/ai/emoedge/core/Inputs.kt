package ai.emoedge.core

/**
 * An input the model cannot take. [kind] is one of the kinds of sdk.inputs.INPUT_ERROR_KINDS
 * (contract/README.md): all_absent, zero_steps, wrong_shape, non_finite, overflow, ...
 */
class InputException(
    val kind: String,
    message: String,
) : IllegalArgumentException(message)

/** One modality's raw input for one sample; an absent modality is `null`, never zeros. */
sealed class RawInput {
    /** Steps of floats: shape (t, *stepShape), data row-major. */
    class Floats(
        val shape: IntArray,
        val data: FloatArray,
    ) : RawInput()

    /** Token ids, shape (t). */
    class Tokens(
        val ids: LongArray,
    ) : RawInput()

    /** Text for a token modality, tokenized with the manifest's vocabulary. */
    class Text(
        val text: String,
    ) : RawInput()

    /**
     * 16-bit PCM for a waveform modality (AudioRecord's ENCODING_PCM_16BIT): each sample becomes
     * `s / 32768` in float32, exactly as sdk.inputs does for an int16 array.
     */
    class Pcm16(
        val samples: ShortArray,
    ) : RawInput()
}

/** One model input tensor: float32, int64 or int32 data (exactly one is set), with its shape (batch 1 included). */
class PackedTensor(
    val name: String,
    val shape: LongArray,
    val floats: FloatArray? = null,
    val longs: LongArray? = null,
    val ints: IntArray? = null,
) {
    val dtype: String get() =
        if (longs != null) {
            "int64"
        } else if (ints != null) {
            "int32"
        } else {
            "float32"
        }

    /**
     * This tensor in the dtype the artifact's manifest names: token ids are packed as int64 (like
     * Python) and narrowed to int32 where the manifest says so (the LiteRT converter narrows int64
     * inputs; feeding int64 there is refused or misread). Any other mismatch is a manifest error.
     */
    fun castTo(wanted: String): PackedTensor =
        when {
            wanted == dtype -> {
                this
            }

            longs != null && wanted == "int32" -> {
                val bad = longs.firstOrNull { it < Int.MIN_VALUE || it > Int.MAX_VALUE }
                if (bad != null) throw InputException("token_out_of_range", "$name: id $bad does not fit the model's int32 input")
                PackedTensor(name, shape, ints = IntArray(longs.size) { longs[it].toInt() })
            }

            else -> {
                throw ManifestException("$name: the manifest says $wanted but the packed input is $dtype; re-export the model")
            }
        }
}

/** The model's inputs in manifest order: one tensor per modality, then `presence`. */
class PackedInputs(
    val tensors: List<PackedTensor>,
    val presence: FloatArray,
) {
    val all: List<PackedTensor> get() = tensors + PackedTensor("presence", longArrayOf(1L, presence.size.toLong()), presence)

    /** [all] with each tensor in the dtype [manifest] lists for that input (see [PackedTensor.castTo]). */
    fun typedFor(manifest: Manifest): List<PackedTensor> {
        val all = all
        if (manifest.inputDtypes.size != all.size) {
            throw ManifestException("the manifest lists ${manifest.inputDtypes.size} input dtypes for ${all.size} inputs")
        }
        return all.mapIndexed { i, t -> t.castTo(manifest.inputDtypes[i]) }
    }
}

/**
 * sdk.inputs.InputPreparer for one sample: validation, normalization `(x - mean) / std` in float32
 * (per feature, per channel for frames; skipped for a modality the model normalizes itself:
 * waveforms and `normalize_in_graph` frames), the last seqLen steps, left zero padding after
 * normalization, and the presence mask. A waveform takes float PCM or [RawInput.Pcm16] (divided by
 * 32768): its last seqLen samples, or left-padded with silence. Problems are checked in the same
 * order as Python.
 */
class InputPacker(
    val manifest: Manifest,
) {
    private val tokenizers =
        manifest.modalities.filter { it.isTokens }.associate { it.name to WordTokenizer(it.vocabulary) }

    fun pack(inputs: Map<String, RawInput?>): PackedInputs {
        val unknown = inputs.keys - manifest.modalityNames.toSet()
        if (unknown.isNotEmpty()) {
            throw InputException("unknown_modality", "unknown modalities ${unknown.sorted()}; this model takes ${manifest.modalityNames}")
        }
        if (manifest.modalityNames.all { inputs[it] == null }) {
            throw InputException(
                "all_absent",
                "every modality is absent; give at least one of ${manifest.modalityNames} (absent ones are null)",
            )
        }
        val presence = FloatArray(manifest.modalities.size)
        val tensors =
            manifest.modalities.mapIndexed { i, m ->
                val raw = inputs[m.name]
                if (raw != null) presence[i] = 1f
                if (m.isTokens) {
                    PackedTensor(m.name, m.inputShape, longs = raw?.let { packTokens(m, it) } ?: LongArray(m.seqLen))
                } else {
                    PackedTensor(m.name, m.inputShape, floats = raw?.let { packFloats(m, it) } ?: FloatArray(m.seqLen * m.stepSize))
                }
            }
        return PackedInputs(tensors, presence)
    }

    private fun packTokens(
        m: Modality,
        raw: RawInput,
    ): LongArray {
        val ids: LongArray =
            when (raw) {
                is RawInput.Text -> {
                    val ids = tokenizers.getValue(m.name).ids(raw.text)
                    if (ids.isEmpty()) throw InputException("empty_text", "${m.name}: the text has no words; pass null if there is no text")
                    if (ids.size > m.seqLen) {
                        throw InputException(
                            "text_too_long",
                            "${m.name}: the text has ${ids.size} tokens but the model takes at most ${m.seqLen}; shorten it",
                        )
                    }
                    ids.toLongArray()
                }

                is RawInput.Tokens -> {
                    val bad = raw.ids.firstOrNull { it < 0 || it >= m.vocabulary.size }
                    if (bad != null) {
                        throw InputException("token_out_of_range", "${m.name}: token ids must lie in [0, ${m.vocabulary.size}), got $bad")
                    }
                    raw.ids
                }

                is RawInput.Floats, is RawInput.Pcm16 -> {
                    throw InputException("wrong_dtype", "${m.name}: token ids must be integers, got floats")
                }
            }
        if (ids.isEmpty()) throw InputException("zero_steps", "${m.name}: has zero steps; pass null if the modality is absent")
        val out = LongArray(m.seqLen)
        val kept = minOf(ids.size, m.seqLen)
        System.arraycopy(ids, ids.size - kept, out, m.seqLen - kept, kept)
        return out
    }

    private fun packFloats(
        m: Modality,
        raw: RawInput,
    ): FloatArray {
        val (shape, data) =
            when (raw) {
                is RawInput.Floats -> {
                    raw.shape to raw.data
                }

                is RawInput.Tokens -> {
                    intArrayOf(raw.ids.size) to FloatArray(raw.ids.size) { raw.ids[it].toFloat() }
                }

                is RawInput.Pcm16 -> {
                    if (!m.isWaveform) {
                        throw InputException(
                            "wrong_dtype",
                            "${m.name}: 16-bit PCM is for a waveform modality, this one takes ${m.kind.json}",
                        )
                    }
                    intArrayOf(raw.samples.size) to Pcm.toFloat(raw.samples)
                }

                is RawInput.Text -> {
                    throw InputException(
                        "text_for_non_token",
                        "${m.name}: got text, but this modality takes ${m.kind.json}; pass its features as floats",
                    )
                }
            }
        if (data.any { !it.isFinite() }) {
            throw InputException("non_finite", "${m.name}: contains NaN or inf; replace missing values or pass null if absent")
        }
        if (shape.size != 1 + m.stepShape.size || !shape.drop(1).toIntArray().contentEquals(m.stepShape) ||
            shape.fold(1) { a, b -> a * b } != data.size
        ) {
            throw InputException(
                "wrong_shape",
                "${m.name}: expected shape (steps, ${m.stepShape.joinToString()}), got (${shape.joinToString()})",
            )
        }
        val steps = shape[0]
        if (steps == 0) throw InputException("zero_steps", "${m.name}: has zero steps; pass null if the modality is absent")
        val kept = minOf(steps, m.seqLen)
        val out = FloatArray(m.seqLen * m.stepSize)
        val perChannel = if (m.kind == ModalityKind.FRAMES) m.height * m.width else 1
        val srcStart = (steps - kept) * m.stepSize
        val dstStart = (m.seqLen - kept) * m.stepSize
        for (j in 0 until kept * m.stepSize) {
            var x = data[srcStart + j]
            if (m.packerNormalizes) {
                val stat = (j % m.stepSize) / perChannel
                x = (x - m.mean[stat]) / m.std[stat]
                if (!x.isFinite()) {
                    throw InputException(
                        "overflow",
                        "${m.name}: values overflow float32 after normalization; expected raw features on the training data's scale",
                    )
                }
            }
            out[dstStart + j] = x
        }
        return out
    }
}
