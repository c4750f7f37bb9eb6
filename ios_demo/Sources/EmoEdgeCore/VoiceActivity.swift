import Foundation

/// One call of the Silero VAD network's output: the frame's speech probability and the new LSTM state.
public struct SileroOutput: Equatable {
    public let probability: Float
    public let state: [Float]

    public init(probability: Float, state: [Float]) {
        self.probability = probability
        self.state = state
    }
}

/// One call of the Silero VAD network (Silero Team, github.com/snakers4/silero-vad, MIT): `input` = the
/// last `context` samples of the previous frame followed by `frame` new samples (16 kHz floats), `state` =
/// the LSTM state (2 x 1 x 128, row-major) from the previous call. The app runs silero_vad.pte (from
/// `python -m export.silero`) through ExecuTorch; tests pass a plain closure.
public typealias SileroNetwork = (_ input: [Float], _ state: [Float]) throws -> SileroOutput

/// The facts about silero_vad.pte the app needs, from the silero_vad.json `python -m export.silero` writes
/// (the Kotlin core's `SileroManifest`).
public struct SileroManifest: Decodable, Equatable {
    public static let pte = "silero_vad.pte"

    public let sampleRate: Int
    public let frame: Int
    public let context: Int
    public let stateShape: [Int]
    public let files: [String: SileroFile]

    public var stateSize: Int { stateShape.reduce(1, *) }
    /// sha256 of the .pte (hex), or nil when the manifest has none.
    public var sha256: String? { files[Self.pte]?.sha256 }

    public init(sampleRate: Int, frame: Int, context: Int, stateShape: [Int], files: [String: SileroFile] = [:]) {
        self.sampleRate = sampleRate
        self.frame = frame
        self.context = context
        self.stateShape = stateShape
        self.files = files
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sampleRate = "sample_rate"
        case frame, context
        case stateShape = "state_shape"
        case files
    }

    /// Parses silero_vad.json; a missing or ill-typed field is a `ManifestError` naming it.
    public static func parse(_ data: Data) throws -> SileroManifest {
        let manifest: SileroManifest
        do {
            manifest = try JSONDecoder().decode(SileroManifest.self, from: data)
        } catch let error as DecodingError {
            throw ManifestError.malformed("silero_vad.json: \(ManifestError.describe(error)); re-export with python -m export.silero")
        }
        guard manifest.frame > 0, (0...manifest.frame).contains(manifest.context), manifest.stateShape.allSatisfy({ $0 > 0 }) else {
            throw ManifestError.invalid("silero_vad.json: frame \(manifest.frame), context \(manifest.context), "
                + "state_shape \(manifest.stateShape); re-export with python -m export.silero")
        }
        return manifest
    }

    /// Refuses a .pte whose sha256 differs from the manifest's (a truncated copy, or files from two exports).
    public func checkArtifact(_ url: URL) throws {
        guard let expected = sha256 else { return }
        let actual = try SHA256.hexDigest(ofFile: url)
        guard actual.lowercased() == expected.lowercased() else {
            throw ArtifactError.hashMismatch(artifact: url.lastPathComponent, actual: actual, expected: expected)
        }
    }
}

/// One file entry of silero_vad.json's `files`.
public struct SileroFile: Decodable, Equatable {
    public let status: String
    public let sha256: String?

    public init(status: String, sha256: String?) {
        self.status = status
        self.sha256 = sha256
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case status, sha256
    }
}

/// Silero VAD's frame bookkeeping on a PCM stream, as sdk/vad.py (`SileroVAD.push`) and
/// sdk/live_inputs.py do it (the Kotlin core's `SileroFrames`): samples are cut into `frame`-sample
/// frames (512 at 16 kHz, 32 ms); each goes to the network with the last `context` samples of the
/// previous frame in front (zeros before the first) and the state the previous call returned (zeros at
/// the start); a partial frame waits for the next samples. The probabilities of the last `windowFrames`
/// frames (the model's audio window: `framesInWindow`) are kept and `hasSpeech` applies `rule`
/// (contract/vad.json) to them: the model's audio is present only then.
public struct SileroFrames {
    public static let sampleRate = 16000
    public static let defaultFrame = 512
    public static let defaultContext = 64
    public static let defaultStateSize = 2 * 1 * 128

    public let windowFrames: Int
    public let frame: Int
    public let context: Int
    public let stateSize: Int
    public var rule: VoiceActivityRule
    private let network: SileroNetwork
    private var pending: [Float] = []
    private var previous: [Float]
    private var state: [Float]
    private var ring: [Double] = []

    public init(network: @escaping SileroNetwork, windowFrames: Int, rule: VoiceActivityRule = VoiceActivityRule(),
                frame: Int = defaultFrame, context: Int = defaultContext, stateSize: Int = defaultStateSize) throws {
        guard frame > 0, (0...frame).contains(context), windowFrames > 0, stateSize > 0 else {
            throw InputError(.invalidInput, "Silero VAD: frame \(frame), context \(context), window \(windowFrames) frames, "
                + "state \(stateSize): need 0 <= context <= frame and positive sizes")
        }
        self.network = network
        self.windowFrames = windowFrames
        self.rule = rule
        self.frame = frame
        self.context = context
        self.stateSize = stateSize
        previous = [Float](repeating: 0, count: context)
        state = [Float](repeating: 0, count: stateSize)
    }

    /// VAD frames covering an audio window of `seqLen` samples at `sampleRate` (sdk/live_inputs.py: ceil).
    public static func framesInWindow(seqLen: Int, sampleRate: Int, frame: Int = defaultFrame) -> Int {
        guard sampleRate > 0, frame > 0 else { return 1 }
        let frames = (Double(seqLen) / Double(sampleRate) * Double(Self.sampleRate) / Double(frame)).rounded(.up)
        return max(1, Int(frames))
    }

    /// Appends float samples (16 kHz, -1...1); returns the probabilities of the frames completed (maybe none).
    @discardableResult
    public mutating func push(_ samples: [Float]) throws -> [Double] {
        var out: [Double] = []
        var index = 0
        while index < samples.count {
            let take = min(frame - pending.count, samples.count - index)
            pending.append(contentsOf: samples[index..<(index + take)])
            index += take
            if pending.count == frame {
                out.append(try runFrame())
            }
        }
        return out
    }

    /// Zero-pads a waiting partial frame and runs it (the end of a whole clip, as sdk/vad.py's probabilities()).
    @discardableResult
    public mutating func flush() throws -> [Double] {
        guard !pending.isEmpty else { return [] }
        pending.append(contentsOf: [Float](repeating: 0, count: frame - pending.count))
        return [try runFrame()]
    }

    private mutating func runFrame() throws -> Double {
        let frameSamples = pending
        pending.removeAll(keepingCapacity: true)
        let result = try network(previous + frameSamples, state)
        guard result.state.count == stateSize else {
            throw InputError(.wrongShape, "the VAD network returned a state of \(result.state.count) floats, expected \(stateSize)")
        }
        state = result.state
        previous = Array(frameSamples[(frame - context)...])
        let probability = Double(result.probability)
        ring.append(probability)
        if ring.count > windowFrames { ring.removeFirst(ring.count - windowFrames) }
        return probability
    }

    /// The kept probabilities, oldest first (at most `windowFrames`).
    public var probabilities: [Double] { ring }

    /// Whether `rule` finds a speech segment in the kept probabilities (false before the first frame).
    public var hasSpeech: Bool { !ring.isEmpty && rule.hasSpeech(ring) }

    /// A fresh stream: zero context and state, no waiting samples, no probabilities (the microphone switched off).
    public mutating func reset() {
        pending.removeAll()
        previous = [Float](repeating: 0, count: context)
        state = [Float](repeating: 0, count: stateSize)
        ring.removeAll()
    }
}
