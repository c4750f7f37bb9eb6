#if canImport(ExecuTorch)
import EmoEdgeCore
import ExecuTorch
import Foundation

/// Silero VAD (Silero Team, github.com/snakers4/silero-vad, MIT) on the phone: silero_vad.pte, written by
/// `python -m export.silero` (a PyTorch port of the network sdk/vad.py runs as ONNX, checked against it to
/// 1e-4), through the same ExecuTorch Swift API as the emotion model (`ExecuTorchRuntime`). One call = one
/// frame: input (1, context + frame) and state (2, 1, 128) in, probability (1, 1) and the new state out.
/// The frame bookkeeping and the decision are EmoEdgeCore's `SileroFrames` (XCTest-covered).
///
/// The files sit in App/Models/VAD/ (README, "Voice activity"): a subfolder, so the model picker,
/// which lists Models/ itself, never offers the VAD as an emotion model.
final class SileroVADRuntime {
    static let subdirectory = "Models/VAD"
    let manifest: SileroManifest
    private let module: Module

    init(artifact: URL, manifest: SileroManifest) throws {
        try manifest.checkArtifact(artifact)
        self.manifest = manifest
        module = Module(filePath: artifact.path)
        try module.load("forward")
    }

    /// The bundled VAD, or nil when App/Models/VAD/ has no silero_vad.pte and silero_vad.json.
    static func bundled(in bundle: Bundle = .main) throws -> SileroVADRuntime? {
        guard let pte = bundle.url(forResource: "silero_vad", withExtension: "pte", subdirectory: subdirectory),
              let json = bundle.url(forResource: "silero_vad", withExtension: "json", subdirectory: subdirectory) else {
            return nil
        }
        return try SileroVADRuntime(artifact: pte, manifest: try SileroManifest.parse(try Data(contentsOf: json)))
    }

    /// One frame through the network (EmoEdgeCore's `SileroNetwork`).
    func run(_ input: [Float], _ state: [Float]) throws -> SileroOutput {
        let outputs = try module.forward([Tensor<Float>(input, shape: [1, input.count]),
                                          Tensor<Float>(state, shape: manifest.stateShape)])
        guard outputs.count >= 2, let probability: Tensor<Float> = outputs[0].tensor(),
              let newState: Tensor<Float> = outputs[1].tensor(), let p = probability.scalars().first else {
            throw RuntimeError.unexpectedOutputs("silero_vad.pte: expected a probability and a state, got \(outputs.count) outputs")
        }
        return SileroOutput(probability: p, state: newState.scalars())
    }
}
#endif
