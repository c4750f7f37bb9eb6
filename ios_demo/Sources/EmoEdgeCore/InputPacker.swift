import Foundation

/// One modality's raw input for one sample, before normalization and padding.
public enum ModalityInput: Equatable {
    /// Steps of a features or frames modality: `shape` is `[t, *stepShape]`, `values`
    /// the flat row-major data (each frame channel-major C x H x W).
    case floats(shape: [Int], values: [Float])
    /// Token ids of a tokens modality: `t` ids.
    case tokenIds([Int64])
    /// Text for a tokens modality, tokenized with the manifest's vocabulary.
    case text(String)
    /// 16-bit PCM for a waveform modality: each sample becomes `s / 32768` in float32 (sdk/inputs.py).
    case pcm16([Int16])

    /// Steps of `stepShape` each, shape inferred from the value count.
    public static func steps(_ values: [Float], stepShape: [Int]) -> ModalityInput {
        let size = max(1, stepShape.reduce(1, *))
        return .floats(shape: [values.count / size] + stepShape, values: values)
    }
}

/// One model input, ready for a runtime: name, shape with the batch dimension, data.
public enum PackedTensor: Equatable {
    case float32(name: String, shape: [Int], values: [Float])
    case int64(name: String, shape: [Int], values: [Int64])

    public var name: String {
        switch self {
        case .float32(let name, _, _), .int64(let name, _, _): return name
        }
    }

    public var shape: [Int] {
        switch self {
        case .float32(_, let shape, _), .int64(_, let shape, _): return shape
        }
    }

    public var dtype: String {
        switch self {
        case .float32: return "float32"
        case .int64: return "int64"
        }
    }

    /// Little-endian bytes in the dtype the manifest lists for this input: token ids are packed as
    /// int64 (like Python) and narrowed to int32 where the manifest says so (the LiteRT converter
    /// narrows int64 inputs). Any other mismatch is a manifest error, never a silent reinterpretation.
    public func bytes(as wanted: String) throws -> Data {
        switch (self, wanted) {
        case (.float32(_, _, let values), "float32"):
            return values.withUnsafeBufferPointer { Data(buffer: $0) }
        case (.int64(_, _, let values), "int64"):
            return values.withUnsafeBufferPointer { Data(buffer: $0) }
        case (.int64(let name, _, let values), "int32"):
            guard let bad = values.first(where: { $0 < Int64(Int32.min) || $0 > Int64(Int32.max) }) else {
                let narrowed = values.map { Int32($0) }
                return narrowed.withUnsafeBufferPointer { Data(buffer: $0) }
            }
            throw InputError(.tokenOutOfRange, "\(name): id \(bad) does not fit the model's int32 input")
        default:
            throw ManifestError.invalid("input \(name): the manifest says \(wanted) but the packed input is \(dtype); re-export the model")
        }
    }
}

/// The model's positional inputs: each modality in manifest order, then the presence mask.
public struct PackedInputs: Equatable {
    /// Every input in model order, `presence` last.
    public let tensors: [PackedTensor]
    /// 1 for a present modality, 0 for an absent one (whose tensor is all zeros).
    public let presence: [Float]
    /// The present modalities in spec order.
    public let modalitiesUsed: [String]

    public func tensor(named name: String) -> PackedTensor? {
        tensors.first { $0.name == name }
    }
}

/// Validation and preprocessing of sdk/inputs.py (`InputPreparer.arrays`) for one
/// sample: normalize `(x - mean) / std` in float32 per feature (per channel for
/// frames), keep the last `seqLen` steps, left-pad with zeros after normalization, and
/// build the presence mask. Tokens, waveforms and `normalize_in_graph` frames are not
/// normalized (a waveform is raw PCM: float, or `.pcm16` divided by 32768). Errors carry the contract's
/// kinds, checked in its order (unknown names, all absent, then each modality in spec
/// order: type/range/NaN, text, shape, zero steps, overflow).
public struct InputPacker {
    public let spec: ModelSpec
    /// Input names in model order (the manifest's `inputs`), presence last.
    public let inputNames: [String]
    private let tokenizers: [String: WordTokenizer]

    public init(manifest: ModelManifest) throws {
        try self.init(spec: manifest.spec, inputNames: manifest.inputs.map(\.name))
    }

    public init(spec: ModelSpec, inputNames: [String]? = nil) throws {
        self.spec = spec
        let names = inputNames ?? (spec.modalityNames + ["presence"])
        guard names.count == spec.modalities.count + 1 else {
            throw ManifestError.invalid("expected \(spec.modalities.count + 1) input names, got \(names.count)")
        }
        self.inputNames = names
        var tokenizers: [String: WordTokenizer] = [:]
        for modality in spec.modalities where modality.kind == .tokens {
            tokenizers[modality.name] = try WordTokenizer(vocabulary: modality.vocabulary)
        }
        self.tokenizers = tokenizers
    }

    public func tokenizer(for modality: String) -> WordTokenizer? { tokenizers[modality] }

    /// Pack one sample; an absent modality is left out of `inputs`.
    public func pack(_ inputs: [String: ModalityInput]) throws -> PackedInputs {
        let names = spec.modalityNames
        let unknown = inputs.keys.filter { !names.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw InputError(.unknownModality, "unknown modalities \(unknown); this model takes \(names)")
        }
        guard !inputs.isEmpty else {
            throw InputError(.allAbsent, "every modality is absent; give at least one of \(names) (leave absent ones out)")
        }
        var tensors: [PackedTensor] = []
        var presence: [Float] = []
        var used: [String] = []
        for (position, modality) in spec.modalities.enumerated() {
            let name = inputNames[position]
            let shape = [1] + modality.inputShape
            guard let input = inputs[modality.name] else {
                presence.append(0)
                let zeros = shape.reduce(1, *)
                tensors.append(modality.kind == .tokens
                    ? .int64(name: name, shape: shape, values: Array(repeating: 0, count: zeros))
                    : .float32(name: name, shape: shape, values: Array(repeating: 0, count: zeros)))
                continue
            }
            presence.append(1)
            used.append(modality.name)
            if modality.kind == .tokens {
                let ids = try tokenIds(input, modality)
                tensors.append(.int64(name: name, shape: shape, values: Self.padSteps(ids, stepSize: 1, seqLen: modality.seqLen)))
            } else {
                let values = try normalizedSteps(input, modality)
                tensors.append(.float32(name: name, shape: shape,
                                        values: Self.padSteps(values, stepSize: modality.stepSize, seqLen: modality.seqLen)))
            }
        }
        let presenceName = inputNames[spec.modalities.count]
        tensors.append(.float32(name: presenceName, shape: [1, presence.count], values: presence))
        return PackedInputs(tensors: tensors, presence: presence, modalitiesUsed: used)
    }

    // MARK: per kind

    func tokenIds(_ input: ModalityInput, _ modality: ModalitySpec) throws -> [Int64] {
        let name = modality.name
        switch input {
        case .floats, .pcm16:
            throw InputError(.wrongDtype, "\(name): token ids must be integers, got float values")
        case .text(let text):
            let ids = tokenizers[name]?.ids(text) ?? []
            guard !ids.isEmpty else {
                throw InputError(.emptyText, "\(name): the text has no words; leave \(name) out if there is no text")
            }
            guard ids.count <= modality.seqLen else {
                throw InputError(.textTooLong,
                    "\(name): the text has \(ids.count) tokens but the model takes at most \(modality.seqLen); shorten it or pass token ids (extra ids are dropped from the start)")
            }
            return ids
        case .tokenIds(let ids):
            let size = Int64(modality.vocabulary.count)
            if let bad = ids.first(where: { $0 < 0 || $0 >= size }) {
                throw InputError(.tokenOutOfRange, "\(name): token ids must lie in [0, \(size)), got \(bad)")
            }
            guard !ids.isEmpty else {
                throw InputError(.zeroSteps, "\(name): has zero steps; leave \(name) out if it is absent")
            }
            return ids
        }
    }

    func normalizedSteps(_ input: ModalityInput, _ modality: ModalitySpec) throws -> [Float] {
        let name = modality.name
        let shape: [Int], values: [Float]
        switch input {
        case .text:
            throw InputError(.textForNonToken,
                "\(name): got text, but this modality takes \(modality.kind.rawValue) (float steps of shape \(modality.stepShape)); pass the \(name) features")
        case .tokenIds(let ids):
            // Python accepts integer arrays for a float modality (converted to float32).
            shape = [ids.count]
            values = ids.map { Float($0) }
        case .floats(let floatShape, let floatValues):
            shape = floatShape
            values = floatValues
        case .pcm16(let samples):
            guard modality.kind == .waveform else {
                throw InputError(.wrongDtype, "\(name): 16-bit PCM is for a waveform modality, this one takes \(modality.kind.rawValue)")
            }
            shape = [samples.count]
            values = Pcm.floats(samples)
        }
        guard values.allSatisfy({ $0.isFinite }) else {
            throw InputError(.nonFinite, "\(name): contains NaN or inf; replace missing values or leave \(name) out if absent")
        }
        // (t, *step) or a batch of one (1, t, *step).
        let stepShape = modality.stepShape
        let steps: Int
        if shape.count == 1 + stepShape.count && Array(shape.dropFirst()) == stepShape {
            steps = shape[0]
        } else if shape.count == 2 + stepShape.count && shape[0] == 1 && Array(shape.dropFirst(2)) == stepShape {
            steps = shape[1]
        } else {
            throw InputError(.wrongShape, "\(name): expected shape (steps, \(stepShape.map(String.init).joined(separator: ", "))), got \(shape)")
        }
        guard values.count == steps * modality.stepSize else {
            throw InputError(.wrongShape, "\(name): shape \(shape) holds \(steps * modality.stepSize) values, got \(values.count)")
        }
        guard steps > 0 else {
            throw InputError(.zeroSteps, "\(name): has zero steps; leave \(name) out if the modality is absent")
        }
        let normalized = Self.normalize(values, modality)
        guard normalized.allSatisfy({ $0.isFinite }) else {
            throw InputError(.overflow,
                "\(name): values overflow float32 after normalization with the model's mean/std; expected raw \(name) features on the scale of the training data")
        }
        return normalized
    }

    /// `(x - mean) / std` in float32, per feature (features) or per channel (frames); nothing for a
    /// modality the model normalizes itself (waveforms, `normalize_in_graph` frames).
    public static func normalize(_ values: [Float], _ modality: ModalitySpec) -> [Float] {
        let mean = modality.normalization.mean, std = modality.normalization.std
        guard modality.packerNormalizes else { return values }
        var out = values
        let perChannel = modality.kind == .frames ? modality.height * modality.width : 1
        let stepSize = modality.stepSize
        for index in out.indices {
            let feature = (index % stepSize) / perChannel
            out[index] = (out[index] - mean[feature]) / std[feature]
        }
        return out
    }

    /// Keep the last `seqLen` steps; left-pad shorter inputs with zero steps.
    public static func padSteps<T: Numeric>(_ values: [T], stepSize: Int, seqLen: Int) -> [T] {
        let steps = values.count / stepSize
        if steps >= seqLen { return Array(values.suffix(seqLen * stepSize)) }
        return Array(repeating: 0, count: (seqLen - steps) * stepSize) + values
    }
}
