import Foundation

/// The model spec inside the manifest (`spec`, see sdk/spec.py): the part of it a
/// runtime needs. Training-only fields (hidden_size, fusion, components, ...) and the
/// class names (read from the manifest's top level) stay in the JSON undecoded.
public struct ModelSpec: Codable, Equatable {
    /// The spec layout this core reads (sdk/spec.py SPEC_VERSION).
    public static let supportedVersion = 1

    public let modalities: [ModalitySpec]
    /// The dataset the model was trained on ("mosi", "synthetic", ...), for the screen.
    public let dataset: String
    public let version: Int

    public init(modalities: [ModalitySpec], dataset: String = "", version: Int = ModelSpec.supportedVersion) {
        self.modalities = modalities
        self.dataset = dataset
        self.version = version
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case modalities
        case dataset
        case version
    }

    public var modalityNames: [String] { modalities.map(\.name) }

    public func modality(named name: String) -> ModalitySpec? {
        modalities.first { $0.name == name }
    }

    public func validate() throws {
        guard version == Self.supportedVersion else {
            throw ManifestError.unsupportedVersion(found: version, supported: Self.supportedVersion)
        }
        guard !modalities.isEmpty else { throw ManifestError.invalid("the spec has no modalities") }
        guard Set(modalityNames).count == modalities.count else {
            throw ManifestError.invalid("modality names must be unique, got \(modalityNames)")
        }
        for modality in modalities { try modality.validate() }
    }
}

/// What one step of a modality is (sdk/spec.py FEATURES, FRAMES, TOKENS).
public enum ModalityKind: String, Codable, Equatable {
    /// A feature vector of `featureDim` floats.
    case features
    /// An image `channels x height x width` of floats.
    case frames
    /// A token id into `vocabulary`.
    case tokens
}

/// Per-feature (per-channel for frames) mean and std; empty for tokens.
public struct Normalization: Codable, Equatable {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float] = [], std: [Float] = []) {
        self.mean = mean
        self.std = std
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case mean, std
    }

    public init(from decoder: Decoder) throws {
        // Python writes float32 statistics as JSON doubles; each converts back exactly.
        let container = try decoder.container(keyedBy: CodingKeys.self)
        mean = try container.decode([Double].self, forKey: .mean).map { Float($0) }
        std = try container.decode([Double].self, forKey: .std).map { Float($0) }
    }
}

/// One input modality (sdk/spec.py ModalitySpec).
public struct ModalitySpec: Codable, Equatable {
    public let name: String
    public let kind: ModalityKind
    /// Steps the model takes: shorter inputs are left-padded, longer ones keep their last steps.
    public let seqLen: Int
    public let featureDim: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let vocabulary: [String]
    public let normalization: Normalization

    public init(name: String, kind: ModalityKind, seqLen: Int, featureDim: Int = 0, channels: Int = 0,
                height: Int = 0, width: Int = 0, vocabulary: [String] = [],
                normalization: Normalization = Normalization()) {
        self.name = name
        self.kind = kind
        self.seqLen = seqLen
        self.featureDim = featureDim
        self.channels = channels
        self.height = height
        self.width = width
        self.vocabulary = vocabulary
        self.normalization = normalization
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name
        case kind
        case seqLen = "seq_len"
        case featureDim = "feature_dim"
        case channels
        case height
        case width
        case vocabulary
        case normalization
    }

    /// Shape of one step: [F], [C, H, W] or [] for a token.
    public var stepShape: [Int] {
        switch kind {
        case .features: return [featureDim]
        case .frames: return [channels, height, width]
        case .tokens: return []
        }
    }

    /// Values in one step (1 for a token).
    public var stepSize: Int { stepShape.reduce(1, *) }

    /// Shape of one sample without the batch dimension: [seqLen] + stepShape.
    public var inputShape: [Int] { [seqLen] + stepShape }

    public func validate() throws {
        guard seqLen >= 1 else { throw ManifestError.invalid("modality \(name): seq_len must be >= 1") }
        switch kind {
        case .features where featureDim < 1:
            throw ManifestError.invalid("modality \(name): a features modality needs feature_dim >= 1")
        case .frames where min(channels, height, width) < 1:
            throw ManifestError.invalid("modality \(name): a frames modality needs channels, height, width >= 1")
        case .tokens where vocabulary.count < 3:
            throw ManifestError.invalid("modality \(name): a tokens modality needs a vocabulary with <pad>, <unk>, <sep>")
        default: break
        }
        guard normalization.mean.count == normalization.std.count else {
            throw ManifestError.invalid("modality \(name): normalization mean and std differ in length")
        }
        let expected = kind == .features ? featureDim : (kind == .frames ? channels : 0)
        if !normalization.mean.isEmpty && normalization.mean.count != expected {
            throw ManifestError.invalid("modality \(name): normalization has \(normalization.mean.count) values, expected \(expected)")
        }
        if normalization.std.contains(where: { $0 <= 0 }) {
            throw ManifestError.invalid("modality \(name): normalization std must be > 0")
        }
    }
}
