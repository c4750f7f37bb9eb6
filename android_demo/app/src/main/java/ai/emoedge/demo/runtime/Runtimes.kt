package ai.emoedge.demo.runtime

import ai.emoedge.core.Manifest
import ai.emoedge.core.ModelOutputs
import ai.emoedge.core.ModelRunner
import ai.emoedge.core.PackedInputs
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtSession
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.FloatBuffer
import java.nio.IntBuffer
import java.nio.LongBuffer

/** The three runtimes behind [ModelRunner]; the artifact's suffix (or an explicit name) picks one. */
object Runtimes {
    val NAMES = listOf("executorch", "litert", "onnx")

    fun forArtifact(artifact: File): String =
        when (artifact.extension) {
            "pte" -> "executorch"
            "tflite" -> "litert"
            "onnx" -> "onnx"
            else -> throw IllegalArgumentException("${artifact.name}: unknown artifact type; expected .pte, .tflite or .onnx")
        }

    fun open(
        artifact: File,
        manifest: Manifest,
        threads: Int = 1,
        artifactChecked: Boolean = false,
    ): ModelRunner =
        when (forArtifact(artifact)) {
            "executorch" -> ExecuTorchRunner(artifact, manifest, threads, artifactChecked)
            "litert" -> LiteRtRunner(artifact, manifest, threads, artifactChecked)
            else -> OnnxRunner(artifact, manifest, threads, artifactChecked)
        }
}

/**
 * A `.tflite` through LiteRT's Interpreter, by the signature the exporter recorded in the manifest.
 * Each input goes in the dtype the manifest lists: the converter narrows token ids to int32, so
 * they are fed as an IntBuffer (an int64 LongBuffer there is refused or misread).
 */
class LiteRtRunner(
    artifact: File,
    private val manifest: Manifest,
    threads: Int,
    artifactChecked: Boolean = false,
) : ModelRunner {
    override val runtime = "litert"

    // Interpreter.Options defaults: the CPU with LiteRT's default XNNPACK delegate (no GPU/NPU delegate added).
    override val delegate = "cpu-xnnpack"
    private val interpreter: Interpreter

    init {
        if (!artifactChecked) manifest.checkArtifact(artifact)
        interpreter = Interpreter(artifact, Interpreter.Options().setNumThreads(threads))
    }

    override fun run(inputs: PackedInputs): ModelOutputs {
        val signature = manifest.runtimeSignature ?: interpreter.signatureKeys.first()
        val names = manifest.runtimeInputNames.ifEmpty { interpreter.getSignatureInputs(signature).toList() }
        val feeds =
            names.zip(inputs.typedFor(manifest)).associate { (name, t) ->
                name to
                    when {
                        t.ints != null -> IntBuffer.wrap(t.ints)
                        t.longs != null -> LongBuffer.wrap(t.longs)
                        else -> FloatBuffer.wrap(requireNotNull(t.floats))
                    }
            }
        val outputNames = interpreter.getSignatureOutputs(signature).sorted()
        val logits = FloatBuffer.allocate(manifest.classNames.size)
        val gates = FloatBuffer.allocate(manifest.modalities.size)
        interpreter.runSignature(feeds, mapOf(outputNames[0] to logits, outputNames[1] to gates), signature)
        return ModelOutputs(logits.array(), gates.array())
    }

    override fun close() = interpreter.close()
}

/** An `.onnx` through ONNX Runtime, inputs by the manifest's names. */
class OnnxRunner(
    artifact: File,
    private val manifest: Manifest,
    threads: Int,
    artifactChecked: Boolean = false,
) : ModelRunner {
    override val runtime = "onnx"

    // No execution provider is added to the session options: ONNX Runtime's CPU provider runs it.
    override val delegate = "CPUExecutionProvider"
    private val env = OrtEnvironment.getEnvironment()
    private val session: OrtSession

    init {
        if (!artifactChecked) manifest.checkArtifact(artifact)
        val options = OrtSession.SessionOptions().apply { setIntraOpNumThreads(threads) }
        session = env.createSession(artifact.absolutePath, options)
    }

    override fun run(inputs: PackedInputs): ModelOutputs {
        val tensors =
            inputs.typedFor(manifest).associate { t ->
                t.name to
                    when {
                        t.longs != null -> OnnxTensor.createTensor(env, LongBuffer.wrap(t.longs), t.shape)
                        t.ints != null -> OnnxTensor.createTensor(env, IntBuffer.wrap(t.ints), t.shape)
                        else -> OnnxTensor.createTensor(env, FloatBuffer.wrap(requireNotNull(t.floats)), t.shape)
                    }
            }
        try {
            session.run(tensors).use { result ->
                @Suppress("UNCHECKED_CAST")
                val logits = (result[0].value as Array<FloatArray>)[0]

                @Suppress("UNCHECKED_CAST")
                val gates = (result[1].value as Array<FloatArray>)[0]
                return ModelOutputs(logits, gates)
            }
        } finally {
            tensors.values.forEach { it.close() }
        }
    }

    override fun close() = session.close()
}
