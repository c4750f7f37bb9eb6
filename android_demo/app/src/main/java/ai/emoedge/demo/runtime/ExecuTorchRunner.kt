package ai.emoedge.demo.runtime

import ai.emoedge.core.Manifest
import ai.emoedge.core.ModelOutputs
import ai.emoedge.core.ModelRunner
import ai.emoedge.core.PackedInputs
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.io.File

/**
 * The default runtime: an ExecuTorch `.pte` through `org.pytorch.executorch.Module`.
 *
 * Uses only the ExecuTorch Java API and the core (no android.*), so CI compiles it against the real
 * API classes (react-native-executorch's classes.jar); it runs only on a device with the native
 * library. The artifact is checked against its manifest's size and sha256 before loading.
 */
class ExecuTorchRunner(
    artifact: File,
    private val manifest: Manifest,
    threads: Int = 1,
) : ModelRunner {
    override val runtime: String = "executorch"

    private val module: Module

    init {
        require(manifest.format == "executorch") { "${artifact.name}: manifest format ${manifest.format}, expected executorch" }
        manifest.checkArtifact(artifact)
        module = Module.load(artifact.absolutePath, Module.LOAD_MODE_MMAP, threads)
        module.loadMethod("forward")
    }

    override fun run(inputs: PackedInputs): ModelOutputs {
        val values =
            inputs.all.map { t ->
                val tensor = if (t.longs != null) Tensor.fromBlob(t.longs, t.shape) else Tensor.fromBlob(t.floats!!, t.shape)
                EValue.from(tensor)
            }
        val outputs = module.forward(*values.toTypedArray())
        check(outputs.size >= 2) { "the model returned ${outputs.size} outputs, expected logits and gate_weights" }
        return ModelOutputs(outputs[0].toTensor().dataAsFloatArray, outputs[1].toTensor().dataAsFloatArray)
    }

    override fun close() {
        module.destroy()
    }
}
