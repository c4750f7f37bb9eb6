package ai.emoedge.demo.runtime

import ai.emoedge.core.Accelerator
import ai.emoedge.core.AcceleratorPlan
import ai.emoedge.core.ExecuTorchStatus
import ai.emoedge.core.Manifest
import ai.emoedge.core.ModelLoadException
import ai.emoedge.core.ModelOutputs
import ai.emoedge.core.ModelRunner
import ai.emoedge.core.PackedInputs
import org.pytorch.executorch.EValue
import org.pytorch.executorch.ExecuTorchRuntime
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.io.File

/**
 * The default runtime: an ExecuTorch `.pte` through `org.pytorch.executorch.Module`.
 *
 * Uses only the ExecuTorch Java API and the core (no android.*), so CI compiles it against the real
 * API classes (react-native-executorch's classes.jar); it runs only on a device with the native
 * library. The artifact is checked against its manifest's size and sha256 before loading, and
 * `loadMethod("forward")`'s status is checked (a failed load is a [ModelLoadException] naming the
 * ExecuTorch error here, at open time, not a crash at the first prediction). [artifactChecked] skips
 * the sha256 check when the caller already ran it (the benchmark times loading without hashing).
 * [delegate] is the backends `forward` was lowered to (MethodMetadata.getBackends), "portable" when none.
 *
 * Which `.pte` runs where is core [AcceleratorPlan]'s decision (JUnit-tested): `executorch` (XNNPACK, cpu) and
 * `executorch-vulkan` (Vulkan, gpu) manifests are accepted; a QNN or Core ML `.pte`, or a cpu/gpu/npu choice
 * the file was not lowered for, is refused before loading with the reason and the fix; so is a Vulkan `.pte` when
 * the native library's registered backends (`ExecuTorchRuntime.getRegisteredBackends`) lack Vulkan (the Maven
 * AAR: the message names the Vulkan AAR build and `-Pemoedge.executorchAar`). [delegatedFraction]
 * is the export's share of the graph for the backend that actually loaded (null if that is not the planned one).
 */
class ExecuTorchRunner(
    artifact: File,
    private val manifest: Manifest,
    threads: Int = 1,
    artifactChecked: Boolean = false,
    requested: Accelerator? = null,
) : ModelRunner {
    override val runtime: String = "executorch"
    override val delegate: String
    override val accelerator: String
    override val delegatedFraction: Double?

    private val module: Module

    init {
        val plan = AcceleratorPlan.decide(manifest, requested, registeredBackends())
        require(plan.runtime == "executorch") { "${artifact.name}: manifest format ${manifest.format} is not an ExecuTorch .pte" }
        accelerator = plan.accelerator.json
        val backendHint = if (plan.delegate == "XnnpackBackend") "" else " (${plan.note})"
        if (!artifactChecked) manifest.checkArtifact(artifact)
        module =
            try {
                Module.load(artifact.absolutePath, Module.LOAD_MODE_MMAP, threads)
            } catch (e: RuntimeException) {
                throw ModelLoadException(
                    "${artifact.name}: ExecuTorch could not open it (${e.message})$backendHint; ${ExecuTorchStatus.advice(0x23)}",
                    e,
                )
            }
        // executorch-android 1.x returns loadMethod's error code (0 = Ok); builds whose loadMethod is void throw instead.
        val status: Any =
            try {
                module.loadMethod("forward")
            } catch (e: RuntimeException) {
                module.destroy()
                throw ModelLoadException(
                    "${artifact.name}: loading method 'forward' failed (${e.message})$backendHint; ${ExecuTorchStatus.advice(0x23)}",
                    e,
                )
            }
        try {
            ExecuTorchStatus.check(status, "forward", artifact.name)
        } catch (e: ModelLoadException) {
            module.destroy()
            throw if (backendHint.isEmpty()) e else ModelLoadException("${e.message}$backendHint", e)
        }
        delegate =
            try {
                module
                    .getMethodMetadata("forward")
                    .backends
                    .joinToString("+")
                    .ifEmpty { "portable" }
            } catch (e: RuntimeException) {
                "unknown (${e.message})"
            }
        delegatedFraction = if (plan.delegate in delegate.split("+")) plan.expectedFraction else null
    }

    override fun run(inputs: PackedInputs): ModelOutputs {
        val values =
            inputs.typedFor(manifest).map { t ->
                val tensor =
                    when {
                        t.longs != null -> Tensor.fromBlob(t.longs, t.shape)
                        t.ints != null -> Tensor.fromBlob(t.ints, t.shape)
                        else -> Tensor.fromBlob(requireNotNull(t.floats), t.shape)
                    }
                EValue.from(tensor)
            }
        val outputs = module.forward(*values.toTypedArray())
        check(outputs.size >= 2) { "the model returned ${outputs.size} outputs, expected logits and gate_weights" }
        return ModelOutputs(outputs[0].toTensor().dataAsFloatArray, outputs[1].toTensor().dataAsFloatArray)
    }

    override fun close() {
        module.destroy()
    }

    private companion object {
        /** The backends the ExecuTorch native library registered, or null where it cannot say (an older AAR). */
        fun registeredBackends(): List<String>? =
            try {
                ExecuTorchRuntime.getRegisteredBackends().toList()
            } catch (e: LinkageError) {
                null
            } catch (e: RuntimeException) {
                null
            }
    }
}
