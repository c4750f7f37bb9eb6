import Foundation

/// The manifest written beside every exported artifact (`<artifact>.json`, see
/// export/manifest.py): what the model takes and returns, how to preprocess, and the
/// artifact's size and sha256. Every fact the app needs about the model comes from
/// here, never from a constant of its own.
///
/// The JSON keys are the `CodingKeys` raw values below; tests/test_ios_sources.py
/// checks they are the keys Python writes and the Kotlin core reads.
public struct ModelManifest: Decodable, Equatable {
    /// The manifest layout this core reads (export/manifest.py MANIFEST_VERSION).
    public static let supportedVersion = 1

    public let manifestVersion: Int
    /// "executorch", "executorch-coreml", "litert", "onnx".
    public let format: String
    /// "fp32" or "int8".
    public let precision: String
    /// The artifact's file name (the manifest is `<artifact>.json` beside it).
    public let artifact: String
    public let classNames: [String]
    /// One entry per model input: each modality in order, then `presence`.
    public let inputs: [TensorDescription]
    /// `logits` then `gate_weights`.
    public let outputs: [TensorDescription]
    /// LiteRT: the signature and its input names in model order; empty for other formats.
    public let runtimeTensorNames: RuntimeTensorNames
    /// Modalities (order, kinds, shapes, vocabulary, normalization statistics).
    public let spec: ModelSpec
    /// Only in the sidecar: an embedded manifest cannot hold its artifact's hash.
    public let sha256: String?
    public let sizeBytes: Int?
    /// Export's notes; the core reads `delegation` (backends, delegated fraction) for AcceleratorPlan.
    public let notes: ManifestNotes?

    /// The keys the core reads. Python also writes `modalities` (the names again; the
    /// core takes them from `spec`), `preprocessing` (the rules in prose and the
    /// statistics again) and `tools` (provenance): no computation needs them, and the
    /// Kotlin core skips the same three (tests/test_ios_sources.py). Of `notes` both
    /// cores read only `delegation` (issue 18: which delegate, what share of the graph).
    enum CodingKeys: String, CodingKey, CaseIterable {
        case manifestVersion = "manifest_version"
        case format
        case precision
        case artifact
        case classNames = "class_names"
        case inputs
        case outputs
        case runtimeTensorNames = "runtime_tensor_names"
        case spec
        case sha256
        case sizeBytes = "size_bytes"
        case notes
    }

    /// Modality names in the model's input order.
    public var modalities: [String] { spec.modalityNames }

    /// Parse and validate a manifest; errors name the problem and what to do.
    public static func decode(_ data: Data) throws -> ModelManifest {
        let manifest: ModelManifest
        do {
            manifest = try JSONDecoder().decode(ModelManifest.self, from: data)
        } catch let error as DecodingError {
            throw ManifestError.malformed(ManifestError.describe(error))
        } catch {
            throw ManifestError.malformed(String(describing: error))
        }
        try manifest.validate()
        return manifest
    }

    public static func load(contentsOf url: URL) throws -> ModelManifest {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ManifestError.unreadable("\(url.lastPathComponent): \(error.localizedDescription)")
        }
        return try decode(data)
    }

    /// The sidecar manifest URL of an artifact: `model_fp32.pte` -> `model_fp32.pte.json`.
    public static func sidecarURL(of artifact: URL) -> URL {
        artifact.deletingLastPathComponent().appendingPathComponent(artifact.lastPathComponent + ".json")
    }

    public func validate() throws {
        guard manifestVersion == Self.supportedVersion else {
            throw ManifestError.unsupportedVersion(found: manifestVersion, supported: Self.supportedVersion)
        }
        try spec.validate()
        guard classNames.count >= 2 else { throw ManifestError.invalid("class_names: a model needs at least two classes") }
        guard inputs.map(\.name) == modalities + ["presence"] else {
            throw ManifestError.invalid("inputs \(inputs.map(\.name)) do not match the modalities + presence \(modalities + ["presence"])")
        }
        guard inputs.count == modalities.count + 1 else {
            throw ManifestError.invalid("expected \(modalities.count + 1) inputs (modalities then presence), got \(inputs.count)")
        }
        for (index, modality) in spec.modalities.enumerated() {
            let expected = [1] + modality.inputShape
            guard inputs[index].shape == expected else {
                throw ManifestError.invalid("input \(inputs[index].name): shape \(inputs[index].shape), expected \(expected)")
            }
        }
        guard outputs.count == 2 else {
            throw ManifestError.invalid("expected 2 outputs (logits, gate_weights), got \(outputs.count)")
        }
    }

    /// The input description of the presence mask (the last input).
    public var presenceInput: TensorDescription? { inputs.last }
}

/// One input or output tensor as the manifest describes it.
public struct TensorDescription: Codable, Equatable {
    public let name: String
    public let shape: [Int]
    /// "float32" or "int64".
    public let dtype: String
    /// Outputs only: what the values mean.
    public let meaning: String?

    public init(name: String, shape: [Int], dtype: String, meaning: String? = nil) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.meaning = meaning
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, shape, dtype, meaning
    }
}

/// LiteRT's signature name and its input names in model order (export/litert.py).
public struct RuntimeTensorNames: Codable, Equatable {
    public let signature: String?
    public let inputs: [String]?

    public init(signature: String? = nil, inputs: [String]? = nil) {
        self.signature = signature
        self.inputs = inputs
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case signature, inputs
    }
}

public enum ManifestError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case malformed(String)
    case unsupportedVersion(found: Int, supported: Int)
    case invalid(String)

    public var description: String {
        let fix = "re-export the model with `python -m export` and copy the artifact and its .json together"
        switch self {
        case .unreadable(let what): return "cannot read the manifest (\(what)); \(fix)"
        case .malformed(let what): return "not a valid emoedge manifest: \(what); \(fix)"
        case .unsupportedVersion(let found, let supported):
            return "manifest version \(found) is not supported (this app reads version \(supported)); \(fix)"
        case .invalid(let what): return "inconsistent manifest: \(what); \(fix)"
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing key \"\(key.stringValue)\"" + (parent.isEmpty ? "" : " in \(parent)")
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): expected \(type), got null"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return String(describing: error)
        }
    }
}
