import XCTest
@testable import EmoEdgeCore

/// Behaviour the contract files do not pin down.
final class CoreUnitTests: XCTestCase {
    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hexDigest(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hexDigest(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hexDigest(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testSHA256SplitUpdatesEqualOneUpdate() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var split = SHA256()
        split.update(Array(bytes[0..<63]))
        split.update(Array(bytes[63..<130]))
        split.update(Array(bytes[130...]))
        XCTAssertEqual(split.hexDigest(), SHA256.hexDigest(Data(bytes)))
    }

    func testArtifactCheckRefusesAModifiedArtifact() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let artifact = directory.appendingPathComponent("model_fp32.pte")
        let bytes = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0) })
        try bytes.write(to: artifact)
        var manifest = try Contract.document("manifests/features_small.json")
        manifest["sha256"] = SHA256.hexDigest(bytes)
        manifest["size_bytes"] = bytes.count
        try JSONSerialization.data(withJSONObject: manifest).write(to: ModelManifest.sidecarURL(of: artifact))
        XCTAssertEqual(try ArtifactCheck.verifiedManifest(for: artifact).sizeBytes, 4096)

        var flipped = bytes
        flipped[100] ^= 1
        try flipped.write(to: artifact)
        XCTAssertThrowsError(try ArtifactCheck.verifiedManifest(for: artifact)) { error in
            guard case ArtifactError.hashMismatch = error else { return XCTFail("\(error)") }
        }
        try bytes.prefix(100).write(to: artifact)
        XCTAssertThrowsError(try ArtifactCheck.verifiedManifest(for: artifact)) { error in
            XCTAssertEqual(error as? ArtifactError, .sizeMismatch(artifact: "model_fp32.pte", actual: 100, expected: 4096))
        }
    }

    func testRingBufferKeepsTheNewestSteps() throws {
        var buffer = try RingBuffer<Float>(capacity: 3, stepSize: 2)
        try buffer.append([1, 1, 2, 2])
        XCTAssertEqual(buffer.window(), [1, 1, 2, 2])
        try buffer.append([3, 3, 4, 4])
        XCTAssertEqual(buffer.window(), [2, 2, 3, 3, 4, 4])
        try buffer.append([5, 5, 6, 6, 7, 7, 8, 8])
        XCTAssertEqual(buffer.window(), [6, 6, 7, 7, 8, 8])
        XCTAssertThrowsError(try buffer.append([9]))
        buffer.clear()
        XCTAssertTrue(buffer.isEmpty)
    }

    func testTokenizerFollowsPythonLowercasing() {
        // Python's str.lower(): a capital sigma ending a word becomes a final sigma.
        XCTAssertEqual(WordTokenizer.tokenize("ΟΔΟΣ ΣΑ"), ["οδος", "σα"])
        XCTAssertEqual(WordTokenizer.tokenize("naïve ÜBER"), ["naïve", "über"])
    }

    func testPercentileIsLinearBetweenRanks() {
        XCTAssertEqual(LatencyStats.percentile(sorted: [1, 2, 3, 4], 50), 2.5)
        XCTAssertEqual(LatencyStats.percentile(sorted: [1, 2, 3, 4], 100), 4)
        XCTAssertEqual(LatencyStats.percentile(sorted: [7], 99), 7)
    }

    func testRecognizerPacksRunsAndLabels() throws {
        final class FixedRuntime: InferenceRuntime {
            let displayName = "fixed"
            var seen: [PackedTensor] = []
            func run(_ inputs: [PackedTensor]) throws -> RawOutputs {
                seen = inputs
                return RawOutputs(logits: [0.0, 2.0], gateWeights: [0.75, 0.0, 0.25])
            }
        }
        let runtime = FixedRuntime()
        var now = 10.0
        let recognizer = try EmotionRecognizer(manifest: try Contract.manifest("features_small.json"), runtime: runtime,
                                               clock: { now += 0.001; return now })
        let result = try recognizer.predict(["audio": .steps(Array(repeating: 0.5, count: 10), stepShape: [5]),
                                             "text": .steps(Array(repeating: 1, count: 6), stepShape: [6])])
        XCTAssertEqual(result.label, "positive")
        XCTAssertEqual(result.modalitiesUsed, ["audio", "text"])
        XCTAssertEqual(runtime.seen.map(\.name), ["audio", "video", "text", "presence"])
        XCTAssertEqual(runtime.seen.last, .float32(name: "presence", shape: [1, 3], values: [1, 0, 1]))
        XCTAssertEqual(result.latencyMs, 3, accuracy: 1e-9)
        XCTAssertEqual(result.runtimeMs, 1, accuracy: 1e-9)
    }

    func testBenchmarkReportJSONUsesSnakeCaseKeys() throws {
        let report = try BenchmarkReport(
            device: .init(model: "iPhone", systemName: "iOS", systemVersion: "17.5"),
            manifest: try Contract.manifest("features_small.json"), backend: "fixed", loadMs: 12, firstMs: 3,
            warmupRuns: 5, samplesMs: [1, 2, 3, 4], peakMemoryMb: nil, millijoulesPerInference: nil,
            thermalState: "nominal")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        XCTAssertEqual((object["latency"] as? [String: Any])?["p50_ms"] as? Double, 2.5)
        XCTAssertEqual(object["load_ms"] as? Double, 12)
        XCTAssertEqual(object["artifact"] as? String, "model_fp32.pte")
    }
}
