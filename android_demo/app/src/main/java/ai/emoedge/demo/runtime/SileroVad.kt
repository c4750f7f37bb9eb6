package ai.emoedge.demo.runtime

import ai.emoedge.core.ExecuTorchStatus
import ai.emoedge.core.ModelLoadException
import ai.emoedge.core.SileroManifest
import ai.emoedge.core.SileroNetwork
import ai.emoedge.core.SileroOutput
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.io.File

/**
 * Silero VAD (Silero Team, github.com/snakers4/silero-vad, MIT) on the phone: silero_vad.pte, written
 * by `python -m export.silero` (a PyTorch port of the network sdk/vad.py runs as ONNX, checked against it
 * to 1e-4), through the same ExecuTorch runtime as the emotion model. One call = one frame: input
 * (1, context + frame) floats and state (2, 1, 128) in, probability (1, 1) and the new state out; the
 * frame bookkeeping and the decision are core [ai.emoedge.core.SileroFrames] (JUnit-tested).
 *
 * Uses only the ExecuTorch Java API and the core (no android.*), so CI compiles it against the real
 * API classes, as [ExecuTorchRunner]. The .pte is checked against its manifest's sha256 before loading.
 */
class SileroVad(
    artifact: File,
    val manifest: SileroManifest,
) : SileroNetwork,
    AutoCloseable {
    private val module: Module
    private val inputShape = longArrayOf(1, (manifest.context + manifest.frame).toLong())
    private val stateShape = manifest.stateShape.map { it.toLong() }.toLongArray()

    init {
        manifest.checkArtifact(artifact)
        module =
            try {
                Module.load(artifact.absolutePath, Module.LOAD_MODE_MMAP, 1)
            } catch (e: RuntimeException) {
                throw ModelLoadException(
                    "${artifact.name}: ExecuTorch could not open it (${e.message}); ${ExecuTorchStatus.advice(0x23)}",
                    e,
                )
            }
        val status: Any =
            try {
                module.loadMethod("forward")
            } catch (e: RuntimeException) {
                module.destroy()
                throw ModelLoadException("${artifact.name}: loading method 'forward' failed (${e.message})", e)
            }
        try {
            ExecuTorchStatus.check(status, "forward", artifact.name)
        } catch (e: ModelLoadException) {
            module.destroy()
            throw e
        }
    }

    override fun run(
        input: FloatArray,
        state: FloatArray,
    ): SileroOutput {
        val outputs =
            module.forward(
                EValue.from(Tensor.fromBlob(input, inputShape)),
                EValue.from(Tensor.fromBlob(state, stateShape)),
            )
        check(outputs.size >= 2) { "silero_vad.pte returned ${outputs.size} outputs, expected probability and state" }
        val probability = outputs[0].toTensor().dataAsFloatArray
        return SileroOutput(probability[0], outputs[1].toTensor().dataAsFloatArray)
    }

    override fun close() {
        module.destroy()
    }
}
