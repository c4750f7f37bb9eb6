import XCTest
@testable import EmoEdgeCore

/// contract/ring_buffer.json: push / windows / clear on per-modality ring buffers.
final class RingBufferContractTests: XCTestCase {
    func testEveryRingBufferCase() throws {
        for testCase in try Contract.cases("ring_buffer.json") {
            let name = testCase["name"] as? String ?? "?"
            let manifest = try Contract.manifest(try XCTUnwrap(testCase["manifest"] as? String))
            let stale = Contract.double(testCase["stale_after_ms"])
            var windows = try ModalityWindows(modalities: manifest.spec.modalities, staleAfterMs: stale)
            let operations = try XCTUnwrap(testCase["operations"] as? [[String: Any]], name)
            for (index, operation) in operations.enumerated() {
                let label = "\(name): operation \(index)"
                let expected = operation["expected"] as? [String: Any]
                switch operation["op"] as? String {
                case "push":
                    let modality = try XCTUnwrap(operation["modality"] as? String, label)
                    let tensor = try XCTUnwrap(Contract.Tensor(operation["steps"]), label)
                    let steps: WindowSteps = tensor.dtype == "int64" ? .tokenIds(tensor.ints) : .floats(tensor.floats)
                    let time = try XCTUnwrap(Contract.double(operation["t_ms"]), label)
                    if let kind = expected?["error"] as? String {
                        XCTAssertThrowsError(try windows.add(modality, steps, timestampMs: time), label) { error in
                            XCTAssertEqual((error as? InputError)?.kind.rawValue, kind, label)
                        }
                    } else {
                        try windows.add(modality, steps, timestampMs: time)
                    }
                case "clear":
                    windows.clear(operation["modality"] as? String)
                case "windows":
                    let time = try XCTUnwrap(Contract.double(operation["t_ms"]), label)
                    let want = try XCTUnwrap(expected, label)
                    let got = windows.windows(atMs: time)
                    XCTAssertEqual(Set(got.map(\.name)), Set(want.keys), label)
                    for (modality, steps) in got {
                        try Self.assertWindow(steps, want[modality], manifest.spec.modality(named: modality),
                                              "\(label) \(modality)")
                    }
                default:
                    XCTFail("\(label): unknown op \(String(describing: operation["op"]))")
                }
            }
        }
    }

    static func assertWindow(_ steps: WindowSteps?, _ expected: Any?, _ modality: ModalitySpec?, _ label: String) throws {
        guard let expected = expected, !(expected is NSNull) else {
            XCTAssertNil(steps, "\(label): expected no window")
            return
        }
        let want = try XCTUnwrap(Contract.Tensor(expected), label)
        let stepShape = try XCTUnwrap(modality, label).stepShape
        switch steps {
        case .floats(let values)?:
            XCTAssertEqual([values.count / max(1, stepShape.reduce(1, *))] + stepShape, want.shape, "\(label): shape")
            Contract.assertClose(values.map(Double.init), want.floats.map(Double.init), label)
        case .tokenIds(let ids)?:
            XCTAssertEqual([ids.count], want.shape, "\(label): shape")
            XCTAssertEqual(ids, want.ints, label)
        case nil:
            XCTFail("\(label): no window, expected \(want.shape)")
        }
    }
}
