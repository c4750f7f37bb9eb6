#if canImport(TensorFlowLite)
import EmoEdgeCore
import Foundation
import TensorFlowLite

/// A `.tflite` through LiteRT's Swift API (the `TensorFlowLiteSwift` pod, module
/// `TensorFlowLite`): the alternative backend. Inputs go by the signature's names from
/// the manifest (`runtime_tensor_names`), in model order; the outputs are the
/// signature's two outputs in name order (output_0 = logits, output_1 = gate
/// weights), as export/litert.py reads them. Each input is fed in the manifest's dtype
/// (`PackedTensor.bytes(as:)`: token ids as int32 where the converter narrowed them).
final class LiteRTRuntime: InferenceRuntime {
    let displayName = "LiteRT · XNNPACK"
    private let interpreter: Interpreter
    private let runner: SignatureRunner
    private let inputNames: [String]
    private let inputDtypes: [String]
    private let outputNames: [String]

    init(artifact: URL, manifest: ModelManifest, threads: Int = 1) throws {
        var options = Interpreter.Options()
        options.threadCount = threads
        options.isXNNPackEnabled = true
        interpreter = try Interpreter(modelPath: artifact.path, options: options)
        let signature = manifest.runtimeTensorNames.signature ?? interpreter.signatureKeys.first ?? "serving_default"
        runner = try interpreter.signatureRunner(with: signature)
        inputNames = manifest.runtimeTensorNames.inputs ?? runner.inputs
        inputDtypes = manifest.inputs.map(\.dtype)
        outputNames = runner.outputs.sorted { ($0.count, $0) < ($1.count, $1) }
        guard inputNames.count == manifest.inputs.count, outputNames.count >= 2 else {
            throw RuntimeError.unexpectedOutputs(
                "signature \(signature) has inputs \(inputNames) and outputs \(outputNames); the manifest expects \(manifest.inputs.count) inputs and 2 outputs")
        }
    }

    func run(_ inputs: [PackedTensor]) throws -> RawOutputs {
        guard inputs.count == inputNames.count else {
            throw RuntimeError.unexpectedOutputs("\(inputs.count) inputs for \(inputNames.count) signature inputs")
        }
        var feed: [String: Data] = [:]
        for (index, packed) in inputs.enumerated() {
            feed[inputNames[index]] = try packed.bytes(as: inputDtypes[index])
        }
        try runner.invoke(with: feed)
        let logits = try runner.output(named: outputNames[0]).data
        let gates = try runner.output(named: outputNames[1]).data
        return RawOutputs(logits: Self.floats(logits), gateWeights: Self.floats(gates))
    }

    static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
#endif
