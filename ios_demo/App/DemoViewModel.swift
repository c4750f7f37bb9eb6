import EmoEdgeCore
import Foundation
import SwiftUI

/// The demo's state and loop (the Android demo's MainActivity logic): pick a bundled
/// artifact, capture microphone/camera, gather the switched-on modalities, predict on
/// a serial queue twice a second, and show emotion, gate weights, latency and why an absent
/// modality is absent.
///
/// A live model (`waveform`, face `frames`, `tokens`) gets what the phone records, through
/// `LiveInputs` (EmoEdgeCore, unit-tested): microphone PCM converted to the model's rate slides
/// through a window of seq_len samples; the largest face Vision finds is cropped by the shared
/// rule; the text field's whole text replaces the token window. A feature model (MOSI) gets
/// replayed recorded samples, each replacing the previous one. Capture starts only after the
/// permission answer (a first launch has none before it). Microphone audio counts only when Silero
/// VAD (silero_vad.pte on ExecuTorch, `SileroVADRuntime`; framing and decision in EmoEdgeCore's
/// `SileroFrames`) finds speech in the audio window, as the Python SDK decides it ("no speech"
/// otherwise); without the VAD in the bundle the audio stays absent and `problems` says why.
@MainActor
final class DemoViewModel: ObservableObject {
    @Published var choices: [ArtifactChoice] = []
    @Published var selectedID: String = ""
    @Published var enabled: Set<String> = []
    @Published var text: String = "" {
        didSet { textChanged() }
    }
    @Published var status: String = "Loading models…"
    @Published var problems: [String] = []
    @Published var replayNotice: String?
    @Published var result: RecognitionResult?
    @Published var absent: [String: String] = [:]
    @Published var expectedLabel: String?
    @Published var latency: LatencyStats?
    @Published var microphoneLevel: Float = -160
    @Published var running = false

    private var recognizer: EmotionRecognizer?
    private var replay: ReplayFile?
    private var replayIndex = 0
    private var live: LiveInputs?
    /// Why microphone audio stays absent (no or a broken silero_vad.pte), nil when the VAD runs.
    private var vadProblem: String?
    private var vadOpened = false
    #if canImport(ExecuTorch)
    private var sileroVAD: SileroVADRuntime?
    #endif
    private var latencies: [Double] = []
    private let microphone = MicrophoneCapture()
    private var microphoneAllowed = false
    private var cameraAllowed = false
    let camera = CameraCapture()
    /// ExecuTorch's Module and LiteRT's Interpreter are not thread-safe: one queue runs them.
    private let inference = DispatchQueue(label: "emoedge.inference", qos: .userInitiated)
    private var loop: Task<Void, Never>?

    var manifest: ModelManifest? { recognizer?.manifest }

    /// Milliseconds on the monotonic clock (callable from the capture threads).
    nonisolated private static func nowMs() -> Double { ProcessInfo.processInfo.systemUptime * 1000 }

    func start() async {
        let found = RuntimeFactory.bundledArtifacts()
        choices = found.choices
        problems = found.problems
        guard let first = choices.first else {
            status = String(describing: RuntimeError.noArtifacts)
            return
        }
        // Ask first; start each sensor from its answer.
        microphoneAllowed = await MicrophoneCapture.requestPermission()
        if !microphoneAllowed { problems.append("microphone access denied: audio stays absent (Settings > Privacy > Microphone)") }
        cameraAllowed = await CameraCapture.requestPermission()
        if !cameraAllowed { problems.append("camera access denied: video stays absent (Settings > Privacy > Camera)") }
        microphone.onLevel = { [weak self] level in self?.microphoneLevel = level }
        select(first.id)
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
            live = try LiveInputs(modalities: choice.manifest.spec.modalities, staleAfterMs: 2000,
                                  voiceActivity: voiceActivity(for: choice.manifest))
            loadReplay(for: choice.manifest)
            latencies = []
            latency = nil
            result = nil
            status = "\(runtime.displayName) · \(choice.manifest.artifact)"
            startMicrophone(choice.manifest)
            startCamera(choice.manifest)
            textChanged()
            startLoop()
        } catch {
            recognizer = nil
            status = "Cannot load \(choice.id): \(error)"
        }
    }

    /// A fresh `SileroFrames` over the model's audio window running silero_vad.pte (opened on the first call),
    /// or nil (with `vadProblem` set) for a model without a 16 kHz waveform modality or without the VAD.
    private func voiceActivity(for manifest: ModelManifest) -> SileroFrames? {
        guard let waveform = manifest.spec.modalities.first(where: { $0.kind == .waveform }) else { return nil }
        #if canImport(ExecuTorch)
        if !vadOpened {
            vadOpened = true
            do {
                sileroVAD = try SileroVADRuntime.bundled()
                if sileroVAD == nil {
                    vadProblem = "no voice activity detector (App/Models/VAD/silero_vad.pte): audio stays absent (README, \"Voice activity\")"
                }
            } catch {
                vadProblem = "voice activity detector failed to load (\(error)): audio stays absent"
            }
            if let problem = vadProblem { problems.append(problem) }
        }
        guard let vad = sileroVAD else { return nil }
        guard waveform.sampleRate == vad.manifest.sampleRate else {
            problems.append("Silero VAD takes \(vad.manifest.sampleRate) Hz but \(waveform.name) is \(waveform.sampleRate) Hz: audio stays absent")
            return nil
        }
        let frames = SileroFrames.framesInWindow(seqLen: waveform.seqLen, sampleRate: waveform.sampleRate, frame: vad.manifest.frame)
        do {
            return try SileroFrames(network: { input, state in try vad.run(input, state) }, windowFrames: frames,
                                    frame: vad.manifest.frame, context: vad.manifest.context, stateSize: vad.manifest.stateSize)
        } catch {
            vadProblem = "voice activity detector: \(error)"
            return nil
        }
        #else
        _ = waveform
        vadProblem = "ExecuTorch is not linked, so Silero VAD cannot run: audio stays absent (README)"
        return nil
        #endif
    }

    func toggle(_ modality: String) {
        if enabled.contains(modality) { enabled.remove(modality) } else { enabled.insert(modality) }
        try? live?.setEnabled(modality, enabled.contains(modality))
        if modality == manifest?.spec.modalities.first(where: { $0.kind == .tokens })?.name { textChanged() }
    }

    /// Modalities whose inputs come from the shipped replay file rather than a sensor.
    func isReplayed(_ modality: ModalitySpec) -> Bool {
        modality.kind == .features
    }

    /// The text field's whole text replaces the token window on every edit.
    private func textChanged() {
        guard let name = manifest?.spec.modalities.first(where: { $0.kind == .tokens })?.name else { return }
        do { try live?.onText(name, text, timestampMs: Self.nowMs()) } catch { status = String(describing: error) }
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
        replayNext()
        // Text is live (no staleness for what is on screen): refresh its timestamp.
        textChanged()
        guard let snapshot = live?.snapshot(atMs: Self.nowMs()) else { return }
        absent = snapshot.absent
        let inputs = snapshot.inputs
        guard !inputs.isEmpty else {
            status = "Every input is absent: switch one on, speak, face the camera or type"
            result = nil
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

    /// The next recorded sample for the feature modalities; it replaces the previous one.
    private func replayNext() {
        guard let replay = replay, !replay.samples.isEmpty else { return }
        let sample = replay.samples[replayIndex % replay.samples.count]
        replayIndex += 1
        expectedLabel = sample.label
        do { try live?.onReplay(replay.steps(of: sample), timestampMs: Self.nowMs()) } catch { status = String(describing: error) }
    }

    private func loadReplay(for manifest: ModelManifest) {
        replay = nil
        replayNotice = nil
        replayIndex = 0
        expectedLabel = nil
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

    /// The microphone at the waveform modality's rate (16 kHz mono for the live model); level only otherwise.
    private func startMicrophone(_ manifest: ModelManifest) {
        guard microphoneAllowed else { return }
        microphone.stop()
        let waveform = manifest.spec.modalities.first { $0.kind == .waveform }
        microphone.onSamples = { [weak self] samples in
            guard let name = waveform?.name else { return }
            let now = Self.nowMs()
            Task { @MainActor in
                // Without the VAD the audio is never fed: it stays absent, as `problems` says.
                guard let self = self, self.live?.voiceActivity != nil else { return }
                do { try self.live?.onPcm(name, samples, timestampMs: now) } catch { self.status = String(describing: error) }
            }
        }
        do {
            try microphone.start(sampleRate: waveform?.sampleRate)
        } catch {
            problems.append("microphone: \(error)")
        }
    }

    private func startCamera(_ manifest: ModelManifest) {
        guard cameraAllowed else { return }
        let frames = manifest.spec.modalities.first { $0.kind == .frames }
        let mode: CameraCapture.Mode
        if let frames = frames, frames.encoder == "face" {
            mode = .face(size: frames.height)
        } else if let frames = frames {
            mode = .frames(channels: frames.channels, height: frames.height, width: frames.width)
        } else {
            mode = .preview
        }
        camera.onFace = { [weak self] crop in
            guard let name = frames?.name else { return }
            let now = Self.nowMs()
            Task { @MainActor in
                do { try self?.live?.onFace(name, crop, timestampMs: now) } catch { self?.status = String(describing: error) }
            }
        }
        camera.onStep = { [weak self] step in
            guard let name = frames?.name else { return }
            let now = Self.nowMs()
            Task { @MainActor in try? self?.live?.onFrame(name, step, timestampMs: now) }
        }
        do {
            try camera.start(mode: mode)
        } catch {
            problems.append("camera: \(error)")
        }
    }
}
