package ai.emoedge.demo.runtime

import ai.emoedge.core.Accelerator
import ai.emoedge.core.AcceleratorPlan
import ai.emoedge.core.Manifest
import ai.emoedge.core.ModelLoadException
import ai.emoedge.core.ModelOutputs
import ai.emoedge.core.ModelRunner
import ai.emoedge.core.PackedInputs
import ai.emoedge.core.RuntimePlan
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtSession
import ai.onnxruntime.providers.NNAPIFlags
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.TensorBuffer
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.FloatBuffer
import java.nio.IntBuffer
import java.nio.LongBuffer
import java.util.EnumSet
import com.google.ai.edge.litert.Accelerator as LiteRtAccelerator

/**
 * The three runtimes behind [ModelRunner]. Core [AcceleratorPlan] (JUnit-tested) decides from the manifest and
 * the accelerator choice (cpu, gpu, npu; null: what the artifact is built for) which runtime, delegate or
 * execution provider is requested; a combination that cannot run is refused with the reason before loading.
 */
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
        accelerator: Accelerator? = null,
    ): ModelRunner {
        val plan = AcceleratorPlan.decide(manifest, accelerator)
        require(plan.runtime == forArtifact(artifact)) {
            "${artifact.name}: its manifest says format ${manifest.format}, which is not a .${artifact.extension} runtime"
        }
        return when (plan.runtime) {
            "executorch" -> ExecuTorchRunner(artifact, manifest, threads, artifactChecked, plan.accelerator)
            "litert" -> LiteRtRunner(artifact, manifest, threads, artifactChecked, plan)
            else -> OnnxRunner(artifact, manifest, threads, artifactChecked, plan)
        }
    }
}

/**
 * A `.tflite` through LiteRT, by the signature the exporter recorded in the manifest. Each input goes in the
 * dtype the manifest lists: the converter narrows token ids to int32, so they are fed as ints (an int64
 * buffer there is refused or misread).
 *
 * cpu: the Interpreter (its default XNNPACK delegate). gpu / npu: CompiledModel with Accelerator.GPU / NPU
 * (LiteRT 2.x; GPU needs the litert-gpu artifact, NPU a supported SoC and its vendor dispatch library);
 * a compilation that fails is a [ModelLoadException] naming the accelerator, not a fallback to the CPU.
 * CompiledModel buffers are positional in the signature's order: the exporter's input names are
 * args_0..args_N (N < 10 here) and outputs output_0 (logits), output_1 (gate weights), so that order is
 * the manifest's.
 */
class LiteRtRunner(
    artifact: File,
    private val manifest: Manifest,
    threads: Int,
    artifactChecked: Boolean = false,
    plan: RuntimePlan = AcceleratorPlan.decide(manifest),
) : ModelRunner {
    override val runtime = "litert"
    override val delegate = plan.delegate
    override val accelerator = plan.accelerator.json
    override val delegatedFraction = plan.expectedFraction
    private var interpreter: Interpreter? = null
    private var compiled: CompiledModel? = null
    private val signature = manifest.runtimeSignature ?: "serving_default"

    // CompiledModel's buffers, made once at load (not per inference).
    private var inBuffers: List<TensorBuffer> = emptyList()
    private var outBuffers: List<TensorBuffer> = emptyList()

    init {
        if (!artifactChecked) manifest.checkArtifact(artifact)
        if (plan.accelerator == Accelerator.CPU) {
            interpreter = Interpreter(artifact, Interpreter.Options().setNumThreads(threads))
        } else {
            val wanted = if (plan.accelerator == Accelerator.GPU) LiteRtAccelerator.GPU else LiteRtAccelerator.NPU
            compiled =
                try {
                    CompiledModel.create(artifact.absolutePath, CompiledModel.Options(wanted))
                } catch (e: Exception) {
                    throw ModelLoadException(
                        "${artifact.name}: LiteRT could not compile it for the ${plan.accelerator.json} (${e.message}); " +
                            "GPU needs com.google.ai.edge.litert:litert-gpu and an OpenCL GPU, NPU a Qualcomm, " +
                            "MediaTek or Google Tensor SoC with its dispatch library (android_demo/README.md)",
                        e,
                    )
                }
            inBuffers = requireNotNull(compiled).createInputBuffers(signature)
            outBuffers = requireNotNull(compiled).createOutputBuffers(signature)
        }
    }

    override fun run(inputs: PackedInputs): ModelOutputs {
        compiled?.let { return runCompiled(it, inputs) }
        val interpreter = requireNotNull(interpreter)
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

    private fun runCompiled(
        model: CompiledModel,
        inputs: PackedInputs,
    ): ModelOutputs {
        inBuffers.zip(inputs.typedFor(manifest)).forEach { (buffer, t) ->
            val ints = t.ints
            val longs = t.longs
            when {
                ints != null -> buffer.writeInt(ints)
                longs != null -> buffer.writeLong(longs)
                else -> buffer.writeFloat(requireNotNull(t.floats))
            }
        }
        model.run(inBuffers, outBuffers, signature)
        return ModelOutputs(outBuffers[0].readFloat(), outBuffers[1].readFloat())
    }

    override fun close() {
        interpreter?.close()
        (inBuffers + outBuffers).forEach { it.close() }
        compiled?.close()
    }
}

/**
 * An `.onnx` through ONNX Runtime, inputs by the manifest's names. cpu: the default CPU execution provider.
 * gpu: NNAPI with NNAPI_FLAG_CPU_DISABLED (`addNnapi`; the vendor driver runs it on the GPU or another
 * accelerator, nodes it cannot take stay on ORT's CPU provider). npu: the QNN execution provider, HTP backend
 * (`addQnn`; needs the onnxruntime-android-qnn package and a Qualcomm SoC). A provider that cannot be added is
 * a [ModelLoadException] naming it, never a silent CPU run.
 */
class OnnxRunner(
    artifact: File,
    private val manifest: Manifest,
    threads: Int,
    artifactChecked: Boolean = false,
    plan: RuntimePlan = AcceleratorPlan.decide(manifest),
) : ModelRunner {
    override val runtime = "onnx"
    override val delegate = plan.delegate
    override val accelerator = plan.accelerator.json
    override val delegatedFraction = plan.expectedFraction
    private val env = OrtEnvironment.getEnvironment()
    private val session: OrtSession

    init {
        if (!artifactChecked) manifest.checkArtifact(artifact)
        val options = OrtSession.SessionOptions().apply { setIntraOpNumThreads(threads) }
        try {
            when (plan.accelerator) {
                Accelerator.CPU -> Unit
                Accelerator.GPU -> options.addNnapi(EnumSet.of(NNAPIFlags.CPU_DISABLED))
                Accelerator.NPU -> options.addQnn(mapOf("backend_type" to "htp"))
            }
        } catch (e: OrtException) {
            throw ModelLoadException(
                "${artifact.name}: ONNX Runtime could not add ${plan.delegate} (${e.message}); NNAPI needs Android 8.1+, " +
                    "QNN the com.microsoft.onnxruntime:onnxruntime-android-qnn package on a Qualcomm SoC " +
                    "(android_demo/README.md)",
                e,
            )
        }
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
