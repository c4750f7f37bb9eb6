package ai.emoedge.core

import java.io.Closeable

/** The model's two outputs for one sample (manifest `outputs`: logits, gate_weights). */
class ModelOutputs(
    val logits: FloatArray,
    val gateWeights: FloatArray,
)

/**
 * One runtime (ExecuTorch, LiteRT, ONNX Runtime) behind one interface: it takes the packed inputs in
 * manifest order (modalities, then presence) and returns the two outputs. Implementations live in
 * the app module; this interface keeps the rest of the app runtime-agnostic.
 */
interface ModelRunner : Closeable {
    val runtime: String

    /** The delegate / execution provider that actually executes the graph, as the runtime reports it. */
    val delegate: String
        get() = runtime

    /** The accelerator the run asked for ([Accelerator.json]: cpu, gpu, npu). */
    val accelerator: String
        get() = Accelerator.CPU.json

    /** Share of the graph's nodes [delegate] took (export's `notes.delegation`); null when not known. */
    val delegatedFraction: Double?
        get() = null

    fun run(inputs: PackedInputs): ModelOutputs
}
