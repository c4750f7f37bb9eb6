import Foundation
import XCTest
@testable import EmoEdgeCore

/// The shared contract vectors (contract/ at the repository root, written by
/// `python -m sdk.contract --out contract/`), found by walking up from this file, so
/// `swift test` in ios_demo/ reads the same files as Python's and Kotlin's tests.
enum Contract {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func directory(file: String = #filePath) throws -> URL {
        var directory = URL(fileURLWithPath: file).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("contract")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("README.md").path) {
                return candidate
            }
            directory.deleteLastPathComponent()
        }
        throw Missing(description: "contract/ not found above \(file); run `python -m sdk.contract --out contract/` at the repository root")
    }

    static func data(_ relative: String) throws -> Data {
        try Data(contentsOf: directory().appendingPathComponent(relative))
    }

    /// A contract file as a JSON object.
    static func document(_ relative: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: data(relative), options: [.fragmentsAllowed])
        guard let document = object as? [String: Any] else { throw Missing(description: "\(relative) is not a JSON object") }
        return document
    }

    static func cases(_ relative: String) throws -> [[String: Any]] {
        let document = try document(relative)
        XCTAssertEqual(document["contract_version"] as? Int, 1, "\(relative): contract_version")
        guard let cases = document["cases"] as? [[String: Any]], !cases.isEmpty else {
            throw Missing(description: "\(relative) has no cases")
        }
        return cases
    }

    static func manifest(_ name: String) throws -> ModelManifest {
        try ModelManifest.decode(data("manifests/\(name)"))
    }

    /// A JSON number, or one of the strings "NaN", "Infinity", "-Infinity" (the core's golden-file reader).
    static func double(_ value: Any?) -> Double? {
        GoldenFile.number(value)
    }

    static func doubles(_ value: Any?) -> [Double]? {
        GoldenFile.numbers(value)
    }

    /// A contract tensor {"shape", "dtype", "data"}.
    struct Tensor {
        let shape: [Int]
        let dtype: String
        let floats: [Float]
        let ints: [Int64]

        init?(_ value: Any?) {
            guard let object = value as? [String: Any], let shape = object["shape"] as? [Int],
                  let dtype = object["dtype"] as? String, let data = object["data"] as? [Any] else { return nil }
            self.shape = shape
            self.dtype = dtype
            if dtype == "int64" || dtype == "int16" {
                ints = data.compactMap { ($0 as? NSNumber)?.int64Value }
                floats = []
                if ints.count != data.count { return nil }
            } else {
                floats = data.compactMap { Contract.double($0).map(Float.init) }
                ints = []
                if floats.count != data.count { return nil }
            }
        }
    }

    static let absoluteTolerance = 1e-6, relativeTolerance = 1e-6

    /// |actual - expected| <= abs + rel |expected|; NaN matches NaN, inf matches the same inf.
    static func close(_ actual: Double, _ expected: Double) -> Bool {
        if expected.isNaN { return actual.isNaN }
        if expected.isInfinite { return actual == expected }
        return abs(actual - expected) <= absoluteTolerance + relativeTolerance * abs(expected)
    }

    static func assertClose(_ actual: [Double], _ expected: [Double], _ message: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "\(message): length", file: file, line: line)
        for (index, (a, e)) in zip(actual, expected).enumerated() where !close(a, e) {
            XCTFail("\(message)[\(index)]: \(a), expected \(e)", file: file, line: line)
            return
        }
    }
}
