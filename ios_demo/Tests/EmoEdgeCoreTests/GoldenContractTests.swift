import Foundation
import XCTest
@testable import EmoEdgeCore

/// contract/golden/example.golden.json: the golden parser and checker, run by the example's stand-in
/// function (sdk.golden.toy_outputs, re-implemented here), so no runtime is needed. The real
/// artifacts are checked on a device by Benchmarks/GoldenArtifactTests.swift.
final class GoldenContractTests: XCTestCase {
    private func example() throws -> GoldenFile {
        try GoldenFile.decode(Contract.data("golden/example.golden.json"))
    }

    /// s_m = mean(input m) * presence_m; logits[c] = sum_m s_m (c - m) / 4; gates = presence / sum.
    private func toy(_ inputs: [PackedTensor], classes: Int) -> RawOutputs {
        var presence: [Float] = []
        if case .float32(_, _, let values) = inputs[inputs.count - 1] { presence = values }
        let s: [Double] = inputs.dropLast().enumerated().map { pair in
            let values: [Double]
            switch pair.element {
            case .float32(_, _, let v): values = v.map(Double.init)
            case .int64(_, _, let v): values = v.map(Double.init)
            }
            return values.reduce(0, +) / Double(values.count) * Double(presence[pair.offset])
        }
        let logits = (0..<classes).map { c in Float(s.indices.reduce(0.0) { $0 + s[$1] * Double(c - $1) / 4 }) }
        let total = presence.reduce(0, +)
        return RawOutputs(logits: logits, gateWeights: presence.map { $0 / total })
    }

    func testTheExampleParses() throws {
        let golden = try example()
        XCTAssertEqual(golden.modalities, ["audio", "video", "text"])
        XCTAssertEqual(golden.cases.count, 10)
        XCTAssertEqual(golden.cases[0].inputs[0].shape, [1, 480])
        XCTAssertEqual(golden.cases[0].inputs[2].dtype, "int64")
        let onlyText = try XCTUnwrap(golden.cases.first { $0.name.hasSuffix("/only_text") })
        XCTAssertEqual(onlyText.presence, [0, 0, 1])
        if case .float32(_, _, let audio) = onlyText.inputs[0] { XCTAssertTrue(audio.allSatisfy { $0 == 0 }) }
        XCTAssertEqual(GoldenFile.url(for: URL(fileURLWithPath: "/m/model_fp32.pte")).lastPathComponent, "model_fp32.golden.json")
    }

    func testTheCheckerPassesTheStandIn() throws {
        let golden = try example()
        let report = golden.check { toy($0, classes: golden.classNames.count) }
        XCTAssertTrue(report.passed, report.description)
        XCTAssertEqual(report.top1Agreement, 1.0)
    }

    func testAFlippedTopOneFails() throws {
        let golden = try example()
        let report = golden.check { inputs -> RawOutputs in
            let out = toy(inputs, classes: golden.classNames.count)
            var logits = out.logits
            logits[(golden.cases[0].top1 + 1) % logits.count] += 100
            return RawOutputs(logits: logits, gateWeights: out.gateWeights)
        }
        XCTAssertFalse(report.passed)
        XCTAssertTrue(report.failures.contains { $0.contains("top-1") })
    }

    func testAGoldenFileOfAnotherArtifactIsRefused() throws {
        let golden = try example()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("example-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("emoedge golden example artifact\n".utf8).write(to: url)
        XCTAssertNoThrow(try golden.checkArtifact(url))
        try Data("another artifact\n".utf8).write(to: url)
        XCTAssertThrowsError(try golden.checkArtifact(url))
    }
}
