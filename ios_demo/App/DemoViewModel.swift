import EmoEdgeCore
import Foundation
import SwiftUI

/// The demo's state and loop (the Android demo's MainActivity logic): pick a bundled
/// artifact, capture microphone/camera, gather the switched-on modalities, predict on
/// a serial queue twice a second, and show emotion, gate weights and latency.
@MainActor
final class DemoViewModel: ObservableObject {
    @Published var choices: [ArtifactChoice] = []
    @Published var selectedID: String = ""
    @Published var enabled: Set<String> = []
    @Published var text: String = ""
    @Published var status: String = "Loading models…"
    @Published var problems: [String] = []
    @Published var replayNotice: String?
    @Published var result: RecognitionResult?
    @Published var expectedLabel: String?
    @Published var latency: LatencyStats?
    @Published var microphoneLevel: Float = -160
    @Published var running = false

    private var recognizer: EmotionRecognizer?
    private var replay: ReplayFile?
    private var replayIndex = 0
    private var windows: ModalityWindows?
    private var latencies: [Double] = []
    private let microphone = MicrophoneCapture()
    let camera = CameraCapture()
    /// ExecuTorch's Module and LiteRT's Interpreter are not thread-safe: one queue runs them.
    private let inference = DispatchQueue(label: "emoedge.inference", qos: .userInitiated)
    private var loop: Task<Void, Never>?

    var manifest: ModelManifest? { recognizer?.manifest }

    func start() async {
        let found = RuntimeFactory.bundledArtifacts()
        choices = found.choices
        problems = found.problems
        guard let first = choices.first else {
            status = String(describing: RuntimeError.noArtifacts)
            return
        }
        select(first.id)
        if await MicrophoneCapture.requestPermission() {
            microphone.onLevel = { [weak self] level in self?.microphoneLevel = level }
            do { try microphone.start() } catch { problems.append("microphone: \(error.localizedDescription)") }
        } else {
            problems.append("microphone access denied (Settings > Privacy > Microphone)")
        }
        if await CameraCapture.requestPermission() {
            startCamera()
        } else {
            problems.append("camera access denied (Settings > Privacy > Camera)")
        }
    }

    func select(_ id: String) {
        guard let choice = choices.first(where: { $0.id == id }) else { return }
        selectedID = id
        stopLoop()
        do {
            let runtime = try RuntimeFactory.makeRuntime(for: choice)
            let recognizer = try EmotionRecognizer(manifest: choice.manifest, runtime: runtime)
            self.recognizer = recognizer
            enabled = Set(choice.manifest.modalities)
            windows = try ModalityWindows(modalities: choice.manifest.spec.modalities, staleAfterMs: 2000)
            loadReplay(for: choice.manifest)
            latencies = []
            latency = nil
            result = nil
            status = "\(runtime.displayName) · \(choice.manifest.artifact)"
            startCamera()
            startLoop()
        } catch {
            recognizer = nil
            status = "Cannot load \(choice.id): \(error)"
        }
    }

    func toggle(_ modality: String) {
        if enabled.contains(modality) { enabled.remove(modality) } else { enabled.insert(modality) }
    }

    /// Modalities whose inputs come from the shipped replay file rather than a sensor.
    func isReplayed(_ modality: ModalitySpec) -> Bool {
        modality.kind == .features
    }

    // MARK: the loop

    private func startLoop() {
        running = true
        loop = Task { [weak self] in
            while !Task.isCancelled {
                await self?.predictOnce()
                try? await Task.sleep(nanoseconds: 500_000_000)
            }
        }
    }

    private func stopLoop() {
        loop?.cancel()
        loop = nil
        running = false
    }

    private func predictOnce() async {
        guard let recognizer = recognizer else { return }
        let inputs = gatherInputs(recognizer.manifest)
        guard !inputs.isEmpty else {
            status = "Switch on at least one modality"
            return
        }
        let outcome: Result<RecognitionResult, Error> = await withCheckedContinuation { continuation in
            inference.async {
                continuation.resume(returning: Result { try recognizer.predict(inputs) })
            }
        }
        switch outcome {
        case .success(let value):
            result = value
            latencies.append(value.latencyMs)
            if latencies.count > 200 { latencies.removeFirst(latencies.count - 200) }
            latency = try? LatencyStats(samplesMs: latencies)
        case .failure(let error):
            status = String(describing: error)
        }
    }

    /// Text from the text field, frames from the camera window, features from the replay file.
    private func gatherInputs(_ manifest: ModelManifest) -> [String: ModalityInput] {
        var inputs: [String: ModalityInput] = [:]
        let now = ProcessInfo.processInfo.systemUptime * 1000
        let live = windows?.inputs(atMs: now) ?? [:]
        var sample: ReplayFile.Sample?
        if let replay = replay, !replay.samples.isEmpty {
            sample = replay.samples[replayIndex % replay.samples.count]
            replayIndex += 1
        }
        let replayed = sample.flatMap { sample in replay?.inputs(of: sample, enabled: enabled) } ?? [:]
        expectedLabel = sample?.label
        for modality in manifest.spec.modalities where enabled.contains(modality.name) {
            switch modality.kind {
            case .tokens:
                let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { inputs[modality.name] = .text(Self.lastTokens(trimmed, modality)) }
            case .frames:
                inputs[modality.name] = live[modality.name] ?? replayed[modality.name]
            case .features:
                inputs[modality.name] = replayed[modality.name]
            }
        }
        return inputs
    }

    /// Keep the words that fit the model's window (the packer refuses longer text).
    private static func lastTokens(_ text: String, _ modality: ModalitySpec) -> String {
        let words = WordTokenizer.tokenize(text)
        return words.count <= modality.seqLen ? text : words.suffix(modality.seqLen).joined(separator: " ")
    }

    private func loadReplay(for manifest: ModelManifest) {
        replay = nil
        replayNotice = nil
        replayIndex = 0
        let replayedNames = manifest.spec.modalities.filter(isReplayed).map(\.name)
        guard !replayedNames.isEmpty else { return }
        guard let url = Bundle.main.url(forResource: "replay", withExtension: "json", subdirectory: "Models")
                ?? Bundle.main.url(forResource: "replay", withExtension: "json") else {
            replayNotice = "This model takes precomputed \(replayedNames.joined(separator: ", ")) features the phone cannot compute, and no replay.json is bundled: those modalities stay absent."
            return
        }
        do {
            let file = try ReplayFile.decode(Data(contentsOf: url))
            replay = file
            replayNotice = "Replaying \(file.samples.count) shipped samples (\(file.source)) for \(replayedNames.joined(separator: ", ")): this model takes precomputed features, not the live microphone/camera."
        } catch {
            replayNotice = "replay.json could not be read (\(error)); feature modalities stay absent."
        }
    }

    private func startCamera() {
        camera.stop()
        let frames = manifest?.spec.modalities.first { $0.kind == .frames }
        camera.onStep = { [weak self] step in
            guard let name = frames?.name else { return }
            let now = ProcessInfo.processInfo.systemUptime * 1000
            Task { @MainActor in try? self?.windows?.add(name, .floats(step), timestampMs: now) }
        }
        do {
            try camera.start(frameShape: frames.map { (channels: $0.channels, height: $0.height, width: $0.width) })
        } catch {
            problems.append("camera: \(error)")
        }
    }
}
