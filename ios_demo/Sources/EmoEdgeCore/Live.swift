import Foundation

/// 16-bit PCM to the model's Float samples (sdk/inputs.py: int16 / 32768).
public enum Pcm {
    public static func floats(_ samples: [Int16]) -> [Float] {
        samples.map { Float($0) / 32768 }
    }

    /// Mono Float samples at `sourceRate` to `targetRate` by linear interpolation, for a
    /// microphone whose converter is not available (the app normally uses AVAudioConverter).
    /// Sample i of the output reads the input at i * sourceRate / targetRate.
    public static func resampleLinear(_ samples: [Float], from sourceRate: Double, to targetRate: Double) -> [Float] {
        guard sourceRate > 0, targetRate > 0, !samples.isEmpty else { return [] }
        if sourceRate == targetRate { return samples }
        let count = Int((Double(samples.count) * targetRate / sourceRate).rounded(.down))
        var out = [Float](repeating: 0, count: count)
        let last = samples.count - 1
        for index in 0..<count {
            let position = Double(index) * sourceRate / targetRate
            let lower = min(last, Int(position)), upper = min(last, lower + 1)
            let fraction = Float(position - Double(lower))
            out[index] = samples[lower] + (samples[upper] - samples[lower]) * fraction
        }
        return out
    }
}

/// The text field as a token modality: the whole current text, tokenized with the manifest's
/// vocabulary, keeping the last seqLen ids (the model reads no more); nil when it has no words.
public struct LiveText {
    public let modality: ModalitySpec
    private let tokenizer: WordTokenizer

    public init(modality: ModalitySpec) throws {
        guard modality.kind == .tokens else {
            throw InputError(.wrongDtype, "\(modality.name) is not a token modality")
        }
        self.modality = modality
        tokenizer = try WordTokenizer(vocabulary: modality.vocabulary)
    }

    public func ids(_ text: String) -> [Int64]? {
        let ids = tokenizer.ids(text)
        return ids.isEmpty ? nil : Array(ids.suffix(modality.seqLen))
    }
}

/// The demo's live inputs for one model, in one value the app drives and XCTest checks:
/// microphone PCM slides through a window of the model's seqLen samples; a face crop, the text
/// field's text and a replayed recorded sample each *replace* their modality's window (a new whole
/// input, never spliced onto the previous one); a switched-off, stale, faceless or empty input is
/// absent through the presence mask, and `snapshot` says why (the Kotlin core's `LiveInputs`).
///
/// With a `voiceActivity` (Silero VAD on the phone, `SileroFrames`), every PCM push also goes through it
/// and the waveform window is present only when `VoiceActivityRule` finds speech in it ("no speech"
/// otherwise), as sdk/live_inputs.py decides it; without one, audio counts whenever the microphone delivers.
public struct LiveInputs {
    /// The absent reason of a waveform window in which the voice-activity rule found no speech.
    public static let noSpeech = "no speech"

    public let modalities: [ModalitySpec]
    private var windows: ModalityWindows
    public private(set) var enabled: Set<String>
    public private(set) var voiceActivity: SileroFrames?
    private var reasons: [String: String] = [:]
    private var texts: [String: LiveText] = [:]

    public init(modalities: [ModalitySpec], staleAfterMs: Double? = 2000, voiceActivity: SileroFrames? = nil) throws {
        let rates = modalities.filter { $0.kind == .waveform }.map(\.sampleRate)
        if voiceActivity != nil, rates.contains(where: { $0 != SileroFrames.sampleRate }) {
            throw InputError(.invalidInput, "Silero VAD takes \(SileroFrames.sampleRate) Hz PCM but the waveform modality "
                + "records at \(rates) Hz: export the model at 16 kHz or run without voice activity")
        }
        self.modalities = modalities
        self.voiceActivity = voiceActivity
        windows = try ModalityWindows(modalities: modalities, staleAfterMs: staleAfterMs)
        enabled = Set(modalities.map(\.name))
        for modality in modalities where modality.kind == .tokens {
            texts[modality.name] = try LiveText(modality: modality)
        }
    }

    private func spec(_ name: String) throws -> ModalitySpec {
        guard let modality = modalities.first(where: { $0.name == name }) else {
            throw InputError(.unknownModality, "unknown modality \"\(name)\"; this model takes \(modalities.map(\.name))")
        }
        return modality
    }

    /// The on/off switch: off empties the window at once (absent, not zeros).
    public mutating func setEnabled(_ modality: String, _ on: Bool) throws {
        let spec = try spec(modality)
        if on { enabled.insert(modality) } else {
            enabled.remove(modality)
            windows.clear(modality)
            if spec.kind == .waveform { voiceActivity?.reset() }
        }
    }

    /// Microphone samples (Float, already at the model's sample rate) appended to the sliding window.
    public mutating func onPcm(_ modality: String, _ samples: [Float], timestampMs: Double) throws {
        guard try spec(modality).kind == .waveform else {
            throw InputError(.wrongDtype, "\(modality) is not a waveform modality")
        }
        guard enabled.contains(modality), !samples.isEmpty else { return }
        try windows.add(modality, .floats(samples), timestampMs: timestampMs)
        try voiceActivity?.push(samples)
        reasons[modality] = nil
    }

    /// The text field's whole text: it replaces the window (no words: absent).
    public mutating func onText(_ modality: String, _ text: String, timestampMs: Double) throws {
        guard let live = texts[modality] else { throw InputError(.textForNonToken, "\(modality) is not a token modality") }
        guard enabled.contains(modality) else { return }
        if let ids = live.ids(text) {
            try windows.replace(modality, .tokenIds(ids), timestampMs: timestampMs)
            reasons[modality] = nil
        } else {
            windows.clear(modality)
            reasons[modality] = "no text"
        }
    }

    /// A face crop (size x size gray bytes) from the current camera frame, or nil when no face was found.
    public mutating func onFace(_ modality: String, _ crop: [UInt8]?, timestampMs: Double) throws {
        let spec = try spec(modality)
        guard spec.kind == .frames else { throw InputError(.wrongDtype, "\(modality) is not a frames modality") }
        guard enabled.contains(modality) else { return }
        guard let crop = crop else {
            windows.clear(modality)
            reasons[modality] = "no face"
            return
        }
        guard spec.channels == 1, crop.count == spec.height * spec.width else {
            throw InputError(.wrongShape, "\(modality) takes \(spec.channels) x \(spec.height) x \(spec.width) frames; the crop has \(crop.count) pixels")
        }
        let pixels = crop.map { Float($0) }
        if spec.normalizeInGraph {
            try windows.replace(modality, .floats(pixels), timestampMs: timestampMs)
        } else {
            // An older frames model (normalized outside the graph) took [0, 1] pixels and several frames.
            try windows.add(modality, .floats(pixels.map { $0 / 255 }), timestampMs: timestampMs)
        }
        reasons[modality] = nil
    }

    /// One camera frame (C*H*W floats in [0, 1]) for an older frames model that takes several
    /// frames: appended, like a stream.
    public mutating func onFrame(_ modality: String, _ step: [Float], timestampMs: Double) throws {
        guard try spec(modality).kind == .frames else { throw InputError(.wrongDtype, "\(modality) is not a frames modality") }
        guard enabled.contains(modality) else { return }
        try windows.add(modality, .floats(step), timestampMs: timestampMs)
        reasons[modality] = nil
    }

    /// One recorded sample for the modalities a phone cannot compute: each replaces its window.
    public mutating func onReplay(_ sample: [String: WindowSteps?], timestampMs: Double) throws {
        for (name, steps) in sample where enabled.contains(name) {
            if let steps = steps {
                try windows.replace(name, steps, timestampMs: timestampMs)
                reasons[name] = nil
            } else {
                windows.clear(name)
                reasons[name] = "absent in the recorded sample"
            }
        }
    }

    /// The present inputs at `timestampMs` and, for each absent modality, why.
    public func snapshot(atMs timestampMs: Double) -> (inputs: [String: ModalityInput], absent: [String: String]) {
        let current = windows.inputs(atMs: timestampMs)
        var inputs: [String: ModalityInput] = [:]
        var absent: [String: String] = [:]
        for modality in modalities {
            let noSpeech = modality.kind == .waveform && current[modality.name] != nil && voiceActivity?.hasSpeech == false
            if enabled.contains(modality.name), !noSpeech, let input = current[modality.name] {
                inputs[modality.name] = input
            } else if !enabled.contains(modality.name) {
                absent[modality.name] = "switched off"
            } else if noSpeech {
                absent[modality.name] = Self.noSpeech
            } else {
                absent[modality.name] = reasons[modality.name] ?? "no recent input"
            }
        }
        return (inputs, absent)
    }
}

/// One speech segment in VAD frames: startFrame ..< endFrame.
public struct SpeechSegment: Equatable {
    public let startFrame: Int
    public let endFrame: Int
}

/// The voice-activity rule of sdk/vad.py on per-frame speech probabilities (Silero VAD: 512-sample
/// frames at 16 kHz, 32 ms): a segment starts at p >= threshold, ends after minSilenceMs of
/// p < negThreshold (a shorter dip does not split it), and counts only if it lasts minSpeechMs.
/// contract/vad.json pins it (the Kotlin core's `VoiceActivityRule`).
public struct VoiceActivityRule {
    public var threshold = 0.5
    public var negThreshold = 0.35
    public var minSpeechMs = 250.0
    public var minSilenceMs = 100.0
    public var frameMs = 512 * 1000.0 / 16000

    public init() {}

    public func segments(_ probabilities: [Double]) -> [SpeechSegment] {
        let minSpeech = Int((minSpeechMs / frameMs).rounded(.up))
        let minSilence = Int((minSilenceMs / frameMs).rounded(.up))
        var out: [SpeechSegment] = []
        var start: Int?
        var silent = 0
        for (index, p) in probabilities.enumerated() {
            guard let begun = start else {
                if p >= threshold {
                    start = index
                    silent = 0
                }
                continue
            }
            if p < negThreshold {
                silent += 1
                if silent >= minSilence {
                    let end = index - silent + 1
                    if end - begun >= minSpeech { out.append(SpeechSegment(startFrame: begun, endFrame: end)) }
                    start = nil
                    silent = 0
                }
            } else {
                silent = 0
            }
        }
        if let begun = start {
            let end = probabilities.count - silent
            if end - begun >= minSpeech { out.append(SpeechSegment(startFrame: begun, endFrame: end)) }
        }
        return out
    }

    public func hasSpeech(_ probabilities: [Double]) -> Bool { !segments(probabilities).isEmpty }
}
