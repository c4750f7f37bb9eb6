import Foundation

/// The steps of one modality window: float32 steps, or token ids.
public enum WindowSteps: Equatable {
    case floats([Float])
    case tokenIds([Int64])

    public var isEmpty: Bool {
        switch self {
        case .floats(let values): return values.isEmpty
        case .tokenIds(let ids): return ids.isEmpty
        }
    }
}

/// One ring buffer per modality plus the time of its newest push
/// (sdk/runtime/streaming.py `ModalityWindows`): modalities arrive at their own rates;
/// `windows(atMs:)` gives each modality's buffered steps, or nil when it was never
/// pushed, is empty, or was last pushed more than `staleAfterMs` earlier (exactly
/// `staleAfterMs` old is still fresh). The model's gating then uses the others.
public struct ModalityWindows {
    public let modalities: [ModalitySpec]
    public let staleAfterMs: Double?
    private var floatBuffers: [String: RingBuffer<Float>] = [:]
    private var tokenBuffers: [String: RingBuffer<Int64>] = [:]
    public private(set) var lastPushMs: [String: Double] = [:]

    public init(modalities: [ModalitySpec], staleAfterMs: Double? = nil) throws {
        if let stale = staleAfterMs, !(stale >= 0) {
            throw RingBufferError.badSize("staleAfterMs must be >= 0 or nil, got \(stale)")
        }
        self.modalities = modalities
        self.staleAfterMs = staleAfterMs
        for modality in modalities {
            if modality.kind == .tokens {
                tokenBuffers[modality.name] = try RingBuffer(capacity: modality.seqLen, stepSize: 1)
            } else {
                floatBuffers[modality.name] = try RingBuffer(capacity: modality.seqLen, stepSize: modality.stepSize)
            }
        }
    }

    /// Append k steps of `modality` seen at `timestampMs` (raw, not normalized; the
    /// recognizer normalizes the window). An older time than that modality's previous
    /// push is refused (`timestamp_out_of_order`) and changes nothing.
    public mutating func add(_ modality: String, _ steps: WindowSteps, timestampMs: Double) throws {
        guard let spec = modalities.first(where: { $0.name == modality }) else {
            throw InputError(.unknownModality, "unknown modality \"\(modality)\"; this model takes \(modalities.map(\.name))")
        }
        guard timestampMs.isFinite else {
            throw InputError(.invalidInput, "\(modality): timestamp must be a finite number of milliseconds, got \(timestampMs)")
        }
        if let last = lastPushMs[modality], timestampMs < last {
            throw InputError(.timestampOutOfOrder,
                             "\(modality): timestamp \(timestampMs) ms is older than its previous push (\(last) ms); push steps in time order")
        }
        switch (steps, spec.kind) {
        case (.tokenIds(let ids), .tokens):
            if var buffer = tokenBuffers[modality] {
                try buffer.append(ids)
                tokenBuffers[modality] = buffer
            }
        case (.floats(let values), .features), (.floats(let values), .frames), (.floats(let values), .waveform):
            guard values.allSatisfy({ $0.isFinite }) else {
                throw InputError(.nonFinite, "\(modality): a pushed step contains NaN or inf")
            }
            guard values.count % spec.stepSize == 0 else {
                throw InputError(.wrongShape,
                                 "\(modality): a push takes whole steps of shape \(spec.stepShape), got \(values.count) values")
            }
            if var buffer = floatBuffers[modality] {
                try buffer.append(values)
                floatBuffers[modality] = buffer
            }
        default:
            throw InputError(.wrongDtype, "\(modality): pushed \(steps) to a \(spec.kind.rawValue) modality")
        }
        lastPushMs[modality] = timestampMs
    }

    /// Replace a modality's window with `steps` seen at `timestampMs`: for an input that is a whole
    /// sample (a face crop, a replayed recorded sample, the text field's whole text), which
    /// `add` would splice onto the previous one.
    public mutating func replace(_ modality: String, _ steps: WindowSteps, timestampMs: Double) throws {
        guard modalities.contains(where: { $0.name == modality }) else {
            throw InputError(.unknownModality, "unknown modality \"\(modality)\"; this model takes \(modalities.map(\.name))")
        }
        if let last = lastPushMs[modality], timestampMs < last {
            throw InputError(.timestampOutOfOrder,
                             "\(modality): timestamp \(timestampMs) ms is older than its previous push (\(last) ms); push steps in time order")
        }
        let saved = (floatBuffers[modality], tokenBuffers[modality], lastPushMs[modality])
        clear(modality)
        do {
            try add(modality, steps, timestampMs: timestampMs)
        } catch {
            floatBuffers[modality] = saved.0
            tokenBuffers[modality] = saved.1
            lastPushMs[modality] = saved.2
            throw error
        }
    }

    /// Every modality's window at `timestampMs` in spec order (nil: absent).
    public func windows(atMs timestampMs: Double) -> [(name: String, steps: WindowSteps?)] {
        modalities.map { modality in
            let last = lastPushMs[modality.name]
            let fresh = staleAfterMs.map { stale in last.map { timestampMs - $0 <= stale } ?? false } ?? true
            guard fresh else { return (modality.name, nil) }
            if let buffer = floatBuffers[modality.name], !buffer.isEmpty {
                return (modality.name, .floats(buffer.window()))
            }
            if let buffer = tokenBuffers[modality.name], !buffer.isEmpty {
                return (modality.name, .tokenIds(buffer.window()))
            }
            return (modality.name, nil)
        }
    }

    /// The present windows as recognizer inputs (`InputPacker.pack`).
    public func inputs(atMs timestampMs: Double) -> [String: ModalityInput] {
        var out: [String: ModalityInput] = [:]
        for (name, steps) in windows(atMs: timestampMs) {
            guard let modality = modalities.first(where: { $0.name == name }) else { continue }
            switch steps {
            case .floats(let values)?: out[name] = .steps(values, stepShape: modality.stepShape)
            case .tokenIds(let ids)?: out[name] = .tokenIds(ids)
            case nil: continue
            }
        }
        return out
    }

    /// Empty one modality's buffer and forget its last push (or all of them).
    public mutating func clear(_ modality: String? = nil) {
        for name in modality.map({ [$0] }) ?? modalities.map(\.name) {
            floatBuffers[name]?.clear()
            tokenBuffers[name]?.clear()
            lastPushMs[name] = nil
        }
    }
}
