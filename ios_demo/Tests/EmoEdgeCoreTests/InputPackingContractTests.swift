import XCTest
@testable import EmoEdgeCore

/// contract/input_packing.json: raw inputs -> the model's inputs or an error kind.
final class InputPackingContractTests: XCTestCase {
    func testEveryPackingCase() throws {
        let cases = try Contract.cases("input_packing.json")
        var checked = 0
        for testCase in cases {
            let name = testCase["name"] as? String ?? "?"
            let manifest = try Contract.manifest(try XCTUnwrap(testCase["manifest"] as? String, name))
            let packer = try InputPacker(manifest: manifest)
            let raw = try XCTUnwrap(testCase["raw"] as? [String: Any], name)
            var inputs: [String: ModalityInput] = [:]
            for (modality, value) in raw where !(value is NSNull) {
                inputs[modality] = try XCTUnwrap(Self.input(value), "\(name): raw \(modality)")
            }
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any], name)
            if let kind = expected["error"] as? String {
                XCTAssertThrowsError(try packer.pack(inputs), name) { error in
                    XCTAssertEqual((error as? InputError)?.kind.rawValue, kind, "\(name): \(error)")
                }
            } else {
                let packed = try packer.pack(inputs)
                let tensors = try XCTUnwrap(expected["inputs"] as? [String: Any], name)
                XCTAssertEqual(Set(tensors.keys), Set(packed.tensors.map(\.name)), name)
                for (inputName, value) in tensors {
                    let want = try XCTUnwrap(Contract.Tensor(value), "\(name): \(inputName)")
                    let got = try XCTUnwrap(packed.tensor(named: inputName), "\(name): \(inputName) missing")
                    XCTAssertEqual(got.shape, want.shape, "\(name): \(inputName) shape")
                    XCTAssertEqual(got.dtype, want.dtype, "\(name): \(inputName) dtype")
                    switch got {
                    case .float32(_, _, let values):
                        Contract.assertClose(values.map(Double.init), want.floats.map(Double.init), "\(name): \(inputName)")
                    case .int64(_, _, let values):
                        XCTAssertEqual(values, want.ints, "\(name): \(inputName)")
                    }
                }
            }
            checked += 1
        }
        XCTAssertEqual(checked, cases.count)
    }

    /// A raw contract input: a tensor (t, *step), int16 PCM, or {"text": ...}.
    static func input(_ value: Any) -> ModalityInput? {
        if let object = value as? [String: Any], let text = object["text"] as? String { return .text(text) }
        guard let tensor = Contract.Tensor(value) else { return nil }
        switch tensor.dtype {
        case "int16": return .pcm16(tensor.ints.map { Int16(clamping: $0) })
        case "int64": return .tokenIds(tensor.ints)
        default: return .floats(shape: tensor.shape, values: tensor.floats)
        }
    }
}
