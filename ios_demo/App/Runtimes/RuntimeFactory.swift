import EmoEdgeCore
import Foundation

enum RuntimeError: Error, CustomStringConvertible {
    case unexpectedOutputs(String)
    case backendNotLinked(String)
    case noArtifacts

    var description: String {
        switch self {
        case .unexpectedOutputs(let what): return "the model returned unexpected outputs: \(what)"
        case .backendNotLinked(let what): return what
        case .noArtifacts:
            return "no model in the app bundle: copy an exported .pte (or .tflite) and its .json into App/Models (README, \"Run it on your iPhone\")"
        }
    }
}

/// A model file in the app bundle with its verified manifest.
struct ArtifactChoice: Identifiable, Equatable {
    let url: URL
    let manifest: ModelManifest
    var id: String { url.lastPathComponent }

    /// "model_fp32.pte · executorch fp32"
    var title: String { "\(url.lastPathComponent) · \(manifest.format) \(manifest.precision)" }

    /// ExecuTorch first (the default), XNNPACK before Core ML, fp32 before int8, LiteRT last.
    var preference: Int {
        let format = ["executorch": 0, "executorch-coreml": 1, "executorch-mps": 1, "litert": 2][manifest.format] ?? 3
        return format * 2 + (manifest.precision == "fp32" ? 0 : 1)
    }
}

enum RuntimeFactory {
    static let modelExtensions = ["pte", "tflite"]

    /// Every artifact in the bundle's Models folder whose size and sha256 match its
    /// manifest; the others are reported, never run.
    static func bundledArtifacts(in bundle: Bundle = .main) -> (choices: [ArtifactChoice], problems: [String]) {
        var choices: [ArtifactChoice] = [], problems: [String] = []
        for ext in modelExtensions {
            let urls = bundle.urls(forResourcesWithExtension: ext, subdirectory: "Models")
                ?? bundle.urls(forResourcesWithExtension: ext, subdirectory: nil) ?? []
            for url in urls {
                do {
                    choices.append(ArtifactChoice(url: url, manifest: try ArtifactCheck.verifiedManifest(for: url)))
                } catch {
                    problems.append(String(describing: error))
                }
            }
        }
        return (choices.sorted { $0.preference < $1.preference }, problems)
    }

    /// `computeUnits` (Core ML .pte only; nil: the artifact's own) goes through AcceleratorPlan.
    static func makeRuntime(for choice: ArtifactChoice, threads: Int = 1,
                            computeUnits: ComputeUnits? = nil) throws -> InferenceRuntime {
        switch choice.url.pathExtension {
        case "pte":
            #if canImport(ExecuTorch)
            return try ExecuTorchRuntime(artifact: choice.url, manifest: choice.manifest, computeUnits: computeUnits)
            #else
            throw RuntimeError.backendNotLinked("ExecuTorch is not linked: add the executorch Swift package (README)")
            #endif
        case "tflite":
            #if canImport(TensorFlowLite)
            return try LiteRTRuntime(artifact: choice.url, manifest: choice.manifest, threads: threads)
            #else
            throw RuntimeError.backendNotLinked("LiteRT is not linked: run `pod install` with the Podfile (README)")
            #endif
        default:
            throw RuntimeError.backendNotLinked("no runtime for .\(choice.url.pathExtension) files")
        }
    }
}
