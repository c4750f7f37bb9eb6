import XCTest
@testable import EmoEdgeCore

/// Silero VAD on the phone, without the network (the Kotlin core's VoiceActivityTest): `SileroFrames`
/// cuts PCM into 512-sample frames with 64 samples of context, carries the state and keeps the window's
/// probabilities for `VoiceActivityRule`; the network is a closure here (the app runs silero_vad.pte).
final class VoiceActivityTests: XCTestCase {
    /// A network that records its inputs and states, answers `probability(call index)` and returns state + 1.
    private final class Recording {
        var inputs: [[Float]] = []
        var states: [[Float]] = []
        let probability: (Int) -> Float

        init(probability: @escaping (Int) -> Float = { _ in 0 }) { self.probability = probability }

        /// Holds the recorder strongly: a test may keep only the closure.
        var network: SileroNetwork {
            return { input, state in
                self.inputs.append(input)
                self.states.append(state)
                return SileroOutput(probability: self.probability(self.inputs.count - 1), state: state.map { $0 + 1 })
            }
        }
    }

    func testFramesCarryTheirContextAndTheStateAcrossOddSizedPushes() throws {
        let net = Recording()
        var vad = try SileroFrames(network: net.network, windowFrames: 10)
        let pcm = (0..<(3 * 512 + 100)).map { Float($0 + 1) }
        var completed = 0
        for start in stride(from: 0, to: pcm.count, by: 333) {
            completed += try vad.push(Array(pcm[start..<min(pcm.count, start + 333)])).count
        }
        XCTAssertEqual(completed, 3)
        XCTAssertEqual(net.inputs.count, 3)
        for (k, input) in net.inputs.enumerated() {
            XCTAssertEqual(input.count, 576)
            let context = k == 0 ? [Float](repeating: 0, count: 64) : Array(pcm[(k * 512 - 64)..<(k * 512)])
            XCTAssertEqual(Array(input[0..<64]), context, "frame \(k) context")
            XCTAssertEqual(Array(input[64..<576]), Array(pcm[(k * 512)..<((k + 1) * 512)]), "frame \(k) samples")
            XCTAssertEqual(net.states[k], [Float](repeating: Float(k), count: 256), "frame \(k) state")
        }
        // The 100 waiting samples run, zero-padded, only on flush (the end of a whole clip).
        XCTAssertEqual(try vad.flush().count, 1)
        XCTAssertEqual(Array(net.inputs[3][64..<164]), Array(pcm[(3 * 512)...]))
        XCTAssertTrue(net.inputs[3][164...].allSatisfy { $0 == 0 })
        XCTAssertEqual(try vad.flush().count, 0)
    }

    func testTheContractPcmCasesGiveTheirFrameCountsAndDecisions() throws {
        var checked = 0
        for testCase in try Contract.cases("vad.json") where testCase["pcm"] != nil {
            let name = testCase["name"] as? String ?? "?"
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any], name)
            let probabilities = try XCTUnwrap(Contract.doubles(expected["probabilities"]), name)
            let pcm = try XCTUnwrap((testCase["pcm"] as? [String: Any])?["data"] as? [Int], name)
            var vad = try SileroFrames(network: Recording { Float(probabilities[$0]) }.network,
                                       windowFrames: probabilities.count)
            let got = try vad.push(Pcm.floats(pcm.map { Int16($0) })) + vad.flush()
            XCTAssertEqual(got.count, probabilities.count, name)
            XCTAssertEqual(vad.hasSpeech, expected["speech"] as? Bool, name)
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 4)
    }

    func testOnlyTheWindowsFramesDecide() throws {
        var vad = try SileroFrames(network: Recording { $0 < 10 ? 0.9 : 0.1 }.network, windowFrames: 10)
        try vad.push([Float](repeating: 0, count: 10 * 512))
        XCTAssertTrue(vad.hasSpeech)
        try vad.push([Float](repeating: 0, count: 10 * 512))
        XCTAssertEqual(vad.probabilities.count, 10)
        XCTAssertFalse(vad.hasSpeech)
        vad.reset()
        XCTAssertTrue(vad.probabilities.isEmpty)
        XCTAssertFalse(vad.hasSpeech)
    }

    func testFramesInAWindowAreSdkLiveInputsCount() {
        XCTAssertEqual(SileroFrames.framesInWindow(seqLen: 16000, sampleRate: 16000), 32)
        XCTAssertEqual(SileroFrames.framesInWindow(seqLen: 48000, sampleRate: 16000), 94)
        XCTAssertEqual(SileroFrames.framesInWindow(seqLen: 480, sampleRate: 16000), 1)
    }

    func testAudioIsPresentOnlyWithSpeechInTheWindow() throws {
        let manifest = try Contract.manifest("live_small.json") // audio: 480 samples at 16 kHz
        var probability: Float = 0.9
        let vad = try SileroFrames(network: { _, state in SileroOutput(probability: probability, state: state) },
                                   windowFrames: 16)
        var inputs = try LiveInputs(modalities: manifest.spec.modalities, staleAfterMs: nil, voiceActivity: vad)
        let pcm = (0..<512).map { Float(sin(Double($0) / 5)) * 0.03 }
        for t in 0..<8 { try inputs.onPcm("audio", pcm, timestampMs: Double(t)) } // 8 frames = 256 ms >= 250 ms
        XCTAssertNotNil(inputs.snapshot(atMs: 8).inputs["audio"])
        probability = 0.1
        for t in 0..<16 { try inputs.onPcm("audio", pcm, timestampMs: 8 + Double(t)) }
        let snapshot = inputs.snapshot(atMs: 30)
        XCTAssertNil(snapshot.inputs["audio"])
        XCTAssertEqual(snapshot.absent["audio"], LiveInputs.noSpeech)
        try inputs.setEnabled("audio", false)
        XCTAssertEqual(inputs.voiceActivity?.probabilities.count, 0)
        XCTAssertEqual(inputs.snapshot(atMs: 31).absent["audio"], "switched off")
    }

    func testTheExportManifestIsRead() throws {
        let json = """
        {"sample_rate": 16000, "frame": 512, "context": 64, "state_shape": [2, 1, 128],
         "files": {"silero_vad.pte": {"status": "ok", "sha256": "ab12"}}}
        """
        let manifest = try SileroManifest.parse(Data(json.utf8))
        XCTAssertEqual([manifest.sampleRate, manifest.frame, manifest.context, manifest.stateSize], [16000, 512, 64, 256])
        XCTAssertEqual(manifest.sha256, "ab12")
        XCTAssertThrowsError(try SileroManifest.parse(Data(#"{"frame": 512}"#.utf8)))
        // The .pte is checked against the manifest's sha256 before it is loaded.
        let pte = FileManager.default.temporaryDirectory.appendingPathComponent("silero_vad_test.pte")
        try Data([1, 2, 3]).write(to: pte)
        defer { try? FileManager.default.removeItem(at: pte) }
        let sha = try SHA256.hexDigest(ofFile: pte)
        let good = SileroManifest(sampleRate: 16000, frame: 512, context: 64, stateShape: [2, 1, 128],
                                  files: [SileroManifest.pte: SileroFile(status: "ok", sha256: sha)])
        XCTAssertNoThrow(try good.checkArtifact(pte))
        XCTAssertThrowsError(try manifest.checkArtifact(pte))
    }

    func testAWrongStateSizeIsRefused() throws {
        var vad = try SileroFrames(network: { _, _ in SileroOutput(probability: 0.5, state: [0, 0, 0]) }, windowFrames: 4)
        XCTAssertThrowsError(try vad.push([Float](repeating: 0, count: 512)))
    }
}
