import EmoEdgeCore
@testable import EmoEdgeDemo
import XCTest
#if canImport(UIKit)
import UIKit
#endif

/// On-device benchmark of every artifact bundled with the app (XCTest host: the demo
/// app). Per artifact: load time, first inference, then XCTest's `measure` with
/// XCTClockMetric (wall time), XCTMemoryMetric (physical memory) and XCTCPUMetric over
/// `iterationsPerRun` predictions, plus our own p50/p90/p99 from the same protocol as
/// the Python and Android benchmarks, written as JSON (BenchmarkReport) into the test
/// results as an attachment.
///
///     xcodebuild test -project EmoEdgeDemo.xcodeproj -scheme EmoEdgeDemo \
///         -destination 'platform=iOS,name=<your iPhone>' -only-testing:EmoEdgeBenchmarks \
///         -resultBundlePath build/bench.xcresult
final class ArtifactBenchmarkTests: XCTestCase {
    static let warmupRuns = 10
    static let iterationsPerRun = 50
    static let timedRuns = 200

    func testEveryBundledArtifact() throws {
        let found = RuntimeFactory.bundledArtifacts()
        for problem in found.problems { XCTFail("refused artifact: \(problem)") }
        guard !found.choices.isEmpty else {
            throw XCTSkip(String(describing: RuntimeError.noArtifacts))
        }
        for choice in found.choices {
            try XCTContext.runActivity(named: choice.title) { _ in try benchmark(choice) }
        }
    }

    /// XCTest's own metrics for the default artifact (a `measure` block per test method,
    /// so Xcode can keep a baseline for it).
    func testDefaultArtifactClockAndMemory() throws {
        guard let choice = RuntimeFactory.bundledArtifacts().choices.first else {
            throw XCTSkip(String(describing: RuntimeError.noArtifacts))
        }
        let recognizer = try EmotionRecognizer(manifest: choice.manifest, runtime: try RuntimeFactory.makeRuntime(for: choice))
        let inputs = try Self.exampleInputs(choice.manifest)
        for _ in 0..<Self.warmupRuns { _ = try recognizer.predict(inputs) }
        let options = XCTMeasureOptions()
        options.iterationCount = 10
        var failure: Error?
        measure(metrics: [XCTClockMetric(), XCTMemoryMetric(), XCTCPUMetric()], options: options) {
            do {
                for _ in 0..<Self.iterationsPerRun { _ = try recognizer.predict(inputs) }
            } catch {
                failure = error
            }
        }
        if let failure = failure { throw failure }
    }

    private func benchmark(_ choice: ArtifactChoice) throws {
        let clock = { ProcessInfo.processInfo.systemUptime }
        var start = clock()
        // Core ML compute units from the scheme's environment (cpu_only, cpu_and_gpu, cpu_and_ne, all; unset: the export's).
        let units = ProcessInfo.processInfo.environment["EMOEDGE_COMPUTE_UNITS"].flatMap { ComputeUnits(rawValue: $0) }
        let plan = try AcceleratorPlan.decide(manifest: choice.manifest, computeUnits: units)
        let runtime = try RuntimeFactory.makeRuntime(for: choice, computeUnits: units)
        let recognizer = try EmotionRecognizer(manifest: choice.manifest, runtime: runtime)
        let loadMs = (clock() - start) * 1000
        let inputs = try Self.exampleInputs(choice.manifest)
        start = clock()
        let first = try recognizer.predict(inputs)
        let firstMs = (clock() - start) * 1000
        XCTAssertEqual(first.probabilities.reduce(0, +), 1, accuracy: 1e-6)
        for _ in 0..<Self.warmupRuns { _ = try recognizer.predict(inputs) }
        var samples: [Double] = []
        samples.reserveCapacity(Self.timedRuns)
        for _ in 0..<Self.timedRuns {
            start = clock()
            _ = try recognizer.predict(inputs)
            samples.append((clock() - start) * 1000)
        }
        let report = try BenchmarkReport(
            device: Self.device(), manifest: choice.manifest, backend: runtime.displayName, loadMs: loadMs,
            firstMs: firstMs, warmupRuns: Self.warmupRuns, samplesMs: samples,
            peakMemoryMb: Self.residentMemoryMb(), millijoulesPerInference: nil,
            thermalState: Self.thermalState(),
            plan: plan)
        let attachment = XCTAttachment(data: try report.jsonData(), uniformTypeIdentifier: "public.json")
        attachment.name = "benchmark-\(choice.id).json"
        attachment.lifetime = .keepAlways
        add(attachment)
        print(String(data: try report.jsonData(), encoding: .utf8) ?? "")
    }

    /// Every modality present: seq_len steps of zeros in raw units shifted by the mean
    /// (normalized to 0), a short text for a token modality.
    static func exampleInputs(_ manifest: ModelManifest) throws -> [String: ModalityInput] {
        var inputs: [String: ModalityInput] = [:]
        for modality in manifest.spec.modalities {
            switch modality.kind {
            case .tokens:
                let words = modality.vocabulary.dropFirst(3).prefix(max(1, modality.seqLen / 2))
                inputs[modality.name] = .tokenIds(words.compactMap { modality.vocabulary.firstIndex(of: $0) }.map { Int64($0) })
            case .waveform:
                // Raw PCM (the model computes and normalizes the log-mel spectrogram): a quiet 220 Hz tone.
                let rate = Float(modality.sampleRate)
                inputs[modality.name] = .floats(shape: [modality.seqLen],
                                                values: (0..<modality.seqLen).map { 0.1 * sin(2 * Float.pi * 220 * Float($0) / rate) })
            case .frames where modality.normalizeInGraph:
                // Raw 0...255 pixels (normalized in the graph), e.g. one 48 x 48 face crop: mid-gray.
                inputs[modality.name] = .floats(shape: modality.inputShape,
                                                values: [Float](repeating: 128, count: modality.seqLen * modality.stepSize))
            case .features, .frames:
                let perStep = modality.stepSize
                let perChannel = modality.kind == .frames ? modality.height * modality.width : 1
                let mean = modality.normalization.mean
                let step = (0..<perStep).map { index -> Float in mean.isEmpty ? 0 : mean[index / perChannel] }
                inputs[modality.name] = .floats(shape: modality.inputShape,
                                                values: Array((0..<modality.seqLen).map { _ in step }.joined()))
            }
        }
        return inputs
    }

    static func device() -> BenchmarkReport.Device {
        #if canImport(UIKit)
        var system = utsname()
        uname(&system)
        let model = withUnsafeBytes(of: &system.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .init(model: model, systemName: UIDevice.current.systemName, systemVersion: UIDevice.current.systemVersion)
        #else
        return .init(model: "unknown", systemName: ProcessInfo.processInfo.operatingSystemVersionString, systemVersion: "")
        #endif
    }

    static func thermalState() -> String {
        switch ProcessInfo.processInfo.thermalState {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return "unknown"
        }
    }

    /// The process's physical footprint now (task_vm_info), in MB.
    static func residentMemoryMb() -> Double? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
        let status = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        return status == KERN_SUCCESS ? Double(info.phys_footprint) / 1_048_576 : nil
    }
}
