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

/// What one step of a modality is (sdk/spec.py FEATURES, FRAMES, TOKENS, WAVEFORM).
public enum ModalityKind: String, Codable, Equatable {
    /// A feature vector of `featureDim` floats.
    case features
    /// An image `channels x height x width` of floats.
    case frames
    /// A token id into `vocabulary`.
    case tokens
    /// One mono PCM sample in [-1, 1] at `sampleRate`; the log-mel front end is inside the model.
    case waveform
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
    /// For a waveform: the window in samples (3 s at 16 kHz = 48000).
    public let seqLen: Int
    public let featureDim: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let vocabulary: [String]
    public let normalization: Normalization
    /// Waveform: samples per second (the app converts the microphone to it); 0 otherwise.
    public let sampleRate: Int
    /// Waveform front end (sdk/frontend.py): analysis frame and hop in samples, mel bands, band edges in Hz.
    public let winLength: Int
    public let hopLength: Int
    public let nMels: Int
    public let fmin: Double
    public let fmax: Double
    /// True: the model normalizes this modality itself (raw PCM, raw 0..255 pixels go in); the packer must not.
    public let normalizeInGraph: Bool
    /// "" (the kind's default encoder) or "face" (a 48 x 48 face crop by `FaceCrop`).
    public let encoder: String

    public init(name: String, kind: ModalityKind, seqLen: Int, featureDim: Int = 0, channels: Int = 0,
                height: Int = 0, width: Int = 0, vocabulary: [String] = [],
                normalization: Normalization = Normalization(), sampleRate: Int = 0, winLength: Int = 0,
                hopLength: Int = 0, nMels: Int = 0, fmin: Double = 0, fmax: Double = 0,
                normalizeInGraph: Bool = false, encoder: String = "") {
        self.name = name
        self.kind = kind
        self.seqLen = seqLen
        self.featureDim = featureDim
        self.channels = channels
        self.height = height
        self.width = width
        self.vocabulary = vocabulary
        self.normalization = normalization
        self.sampleRate = sampleRate
        self.winLength = winLength
        self.hopLength = hopLength
        self.nMels = nMels
        self.fmin = fmin
        self.fmax = fmax
        self.normalizeInGraph = normalizeInGraph
        self.encoder = encoder
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
        case sampleRate = "sample_rate"
        case winLength = "win_length"
        case hopLength = "hop_length"
        case nMels = "n_mels"
        case fmin
        case fmax
        case normalizeInGraph = "normalize_in_graph"
        case encoder
    }

    /// Keys Python omits while they hold their defaults (sdk/spec.py OPTIONAL_MODALITY_FIELDS), so
    /// manifests of models without a live modality do not have them.
    static let optionalKeys: Set<CodingKeys> = [.sampleRate, .winLength, .hopLength, .nMels, .fmin, .fmax,
                                                 .normalizeInGraph, .encoder]

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        kind = try container.decode(ModalityKind.self, forKey: .kind)
        seqLen = try container.decode(Int.self, forKey: .seqLen)
        featureDim = try container.decode(Int.self, forKey: .featureDim)
        channels = try container.decode(Int.self, forKey: .channels)
        height = try container.decode(Int.self, forKey: .height)
        width = try container.decode(Int.self, forKey: .width)
        vocabulary = try container.decode([String].self, forKey: .vocabulary)
        normalization = try container.decode(Normalization.self, forKey: .normalization)
        sampleRate = try container.decodeIfPresent(Int.self, forKey: .sampleRate) ?? 0
        winLength = try container.decodeIfPresent(Int.self, forKey: .winLength) ?? 0
        hopLength = try container.decodeIfPresent(Int.self, forKey: .hopLength) ?? 0
        nMels = try container.decodeIfPresent(Int.self, forKey: .nMels) ?? 0
        fmin = try container.decodeIfPresent(Double.self, forKey: .fmin) ?? 0
        fmax = try container.decodeIfPresent(Double.self, forKey: .fmax) ?? 0
        normalizeInGraph = try container.decodeIfPresent(Bool.self, forKey: .normalizeInGraph) ?? false
        encoder = try container.decodeIfPresent(String.self, forKey: .encoder) ?? ""
    }

    /// Log-mel frames of a waveform window (a frame every hop, no centre padding), as sdk/spec.py counts them.
    public var nFrames: Int {
        guard kind == .waveform, seqLen >= winLength, hopLength >= 1 else { return 0 }
        return 1 + (seqLen - winLength) / hopLength
    }

    /// Whether the packer applies `(x - mean) / std`: never for tokens or a modality normalized in the graph.
    public var packerNormalizes: Bool {
        kind != .tokens && !normalizeInGraph && !normalization.mean.isEmpty
    }

    /// Shape of one step: [F], [C, H, W], or [] for a token or a PCM sample.
    public var stepShape: [Int] {
        switch kind {
        case .features: return [featureDim]
        case .frames: return [channels, height, width]
        case .tokens, .waveform: return []
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
        if kind == .waveform {
            guard sampleRate >= 1 else {
                throw ManifestError.invalid("modality \(name): a waveform modality needs sample_rate >= 1 (e.g. 16000)")
            }
            guard nFrames >= 1, nMels >= 1 else {
                throw ManifestError.invalid("modality \(name): a waveform modality needs seq_len >= win_length, hop_length >= 1 and n_mels >= 1; got seq_len \(seqLen), win_length \(winLength), hop_length \(hopLength), n_mels \(nMels)")
            }
            guard fmin >= 0, fmin < fmax, fmax <= Double(sampleRate) / 2 else {
                throw ManifestError.invalid("modality \(name): need 0 <= fmin < fmax <= sample_rate / 2, got \(fmin), \(fmax)")
            }
            guard normalizeInGraph else {
                throw ManifestError.invalid("modality \(name): a waveform modality is always normalized in the graph")
            }
        } else if normalizeInGraph && kind != .frames {
            throw ManifestError.invalid("modality \(name): normalize_in_graph is for waveform and frames modalities")
        }
        guard encoder.isEmpty || (kind == .frames && encoder == "face") else {
            throw ManifestError.invalid("modality \(name): encoder \"\(encoder)\" is not known for a \(kind.rawValue) modality")
        }
        guard normalization.mean.count == normalization.std.count else {
            throw ManifestError.invalid("modality \(name): normalization mean and std differ in length")
        }
        let expected: Int
        switch kind {
        case .features: expected = featureDim
        case .frames: expected = channels
        case .tokens: expected = 0
        case .waveform: expected = nMels
        }
        if !normalization.mean.isEmpty && normalization.mean.count != expected {
            throw ManifestError.invalid("modality \(name): normalization has \(normalization.mean.count) values, expected \(expected)")
        }
        if normalization.std.contains(where: { $0 <= 0 }) {
            throw ManifestError.invalid("modality \(name): normalization std must be > 0")
        }
    }
}
