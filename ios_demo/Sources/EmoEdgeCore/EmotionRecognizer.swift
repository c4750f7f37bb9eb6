import Foundation

/// What a runtime returns for one forward pass (the manifest's two outputs).
public struct RawOutputs: Equatable {
    public let logits: [Float]
    public let gateWeights: [Float]

    public init(logits: [Float], gateWeights: [Float]) {
        self.logits = logits
        self.gateWeights = gateWeights
    }
}

/// A loaded model behind one call. The app implements it over ExecuTorch's `Module`
/// and LiteRT's `Interpreter` (App/Runtimes); the core stays free of both.
public protocol InferenceRuntime: AnyObject {
    /// "ExecuTorch · XNNPACK", "LiteRT", ... for the screen and the report.
    var displayName: String { get }
    /// One forward pass over the packed inputs (model order, presence last).
    func run(_ inputs: [PackedTensor]) throws -> RawOutputs
}

/// Manifest + packer + runtime: validate and pack the inputs, run, softmax, label
/// (sdk/runtime/recognizer.py `EmotionRecognizer.predict`).
public final class EmotionRecognizer {
    public let manifest: ModelManifest
    public let packer: InputPacker
    public let runtime: InferenceRuntime
    private let clock: () -> Double

    /// `clock` returns seconds on a monotonic clock (injected so tests can control it).
    public init(manifest: ModelManifest, runtime: InferenceRuntime,
                clock: @escaping () -> Double = { ProcessInfo.processInfo.systemUptime }) throws {
        self.manifest = manifest
        self.packer = try InputPacker(manifest: manifest)
        self.runtime = runtime
        self.clock = clock
    }

    public func predict(_ inputs: [String: ModalityInput]) throws -> RecognitionResult {
        let start = clock()
        let packed = try packer.pack(inputs)
        let runStart = clock()
        let outputs = try runtime.run(packed.tensors)
        let runEnd = clock()
        return try Classification.resultFromOutputs(
            classNames: manifest.classNames, modalityNames: manifest.modalities,
            logits: outputs.logits, gateWeights: outputs.gateWeights, presence: packed.presence,
            latencyMs: (clock() - start) * 1000, runtimeMs: (runEnd - runStart) * 1000)
    }
}
