import Foundation

/// A golden file that cannot be used: unreadable, another version, or written for another artifact.
public struct GoldenError: Error, Equatable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The bounds an artifact's outputs must meet against PyTorch's (the file's `tolerance`).
public struct GoldenTolerance: Equatable {
    public let maxAbsProbDiff: Double
    public let maxAbsGateDiff: Double
    public let top1MustMatch: Bool
}

/// One golden case: the model inputs (absent modalities already zeros, presence last) and PyTorch's outputs.
public struct GoldenCase: Equatable {
    public let name: String
    public let inputs: [PackedTensor]
    public let presence: [Float]
    public let probabilities: [Double]
    public let gateWeights: [Double]
    public let top1: Int
}

/// What `GoldenFile.check` found for one artifact.
public struct GoldenReport: CustomStringConvertible {
    public let artifact: String
    public let cases: Int
    public let maxAbsProbDiff: Double
    public let maxAbsGateDiff: Double
    public let top1Agreement: Double
    public let failures: [String]

    public var passed: Bool { failures.isEmpty && cases > 0 }

    public var description: String {
        "\(artifact): \(cases) cases, max |dp| \(maxAbsProbDiff), max |dgate| \(maxAbsGateDiff), "
            + "top-1 agreement \(top1Agreement), " + (passed ? "pass" : "FAIL: " + failures.joined(separator: "; "))
    }
}

/// The golden vectors written beside an artifact by `python -m export` (`model_fp32.golden.json` next to
/// `model_fp32.pte`; format: contract/README.md, "golden/", and sdk/golden.py). `checkArtifact` refuses a
/// file recorded for another artifact (sha256); `check` runs every case through a runtime and compares
/// the softmax of its logits (float64) and its gate weights with PyTorch's.
public struct GoldenFile {
    public static let supportedVersion = 1
    public static let suffix = ".golden.json"
    static let fix = "re-export with `python -m export` and copy the artifact with its golden file again"

    public let artifact: String
    public let format: String
    public let precision: String
    public let sha256: String
    public let classNames: [String]
    public let modalities: [String]
    public let tolerance: GoldenTolerance
    public let cases: [GoldenCase]

    /// Where the golden file of an artifact lives: model_fp32.pte -> model_fp32.golden.json.
    public static func url(for artifact: URL) -> URL {
        artifact.deletingPathExtension().appendingPathExtension("golden.json")
    }

    public static func decode(_ data: Data) throws -> GoldenFile {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw GoldenError("a golden file is a JSON object; \(fix)")
        }
        guard root["golden_version"] as? Int == supportedVersion else {
            throw GoldenError("golden_version \(String(describing: root["golden_version"])) is not \(supportedVersion); \(fix)")
        }
        guard let artifact = root["artifact"] as? String, let format = root["format"] as? String,
              let precision = root["precision"] as? String, let sha256 = root["sha256"] as? String,
              let classNames = root["class_names"] as? [String], let modalities = root["modalities"] as? [String],
              let tol = root["tolerance"] as? [String: Any], let samples = root["samples"] as? [[String: Any]],
              let cases = root["cases"] as? [[String: Any]], !cases.isEmpty else {
            throw GoldenError("not a golden file (a field is missing or mistyped); \(fix)")
        }
        guard let maxDp = number(tol["max_abs_prob_diff"]), let maxDg = number(tol["max_abs_gate_diff"]) else {
            throw GoldenError("tolerance: max_abs_prob_diff and max_abs_gate_diff are required; \(fix)")
        }
        let tolerance = GoldenTolerance(maxAbsProbDiff: maxDp, maxAbsGateDiff: maxDg,
                                        top1MustMatch: tol["top1_must_match"] as? Bool ?? true)
        let decodedSamples: [[PackedTensor]] = try samples.map { sample in
            guard let inputs = sample["inputs"] as? [String: Any] else { throw GoldenError("a sample has no inputs") }
            return try modalities.map { name in try tensor(name, inputs[name]) }
        }
        let decodedCases: [GoldenCase] = try cases.map { item in
            guard let name = item["name"] as? String, let index = item["sample"] as? Int,
                  decodedSamples.indices.contains(index), let presenceList = item["presence"] as? [Any],
                  let expected = item["expected"] as? [String: Any],
                  let probabilities = numbers(expected["probabilities"]),
                  let gates = numbers(expected["gate_weights"]), let top1 = expected["top1"] as? Int else {
                throw GoldenError("a case is missing name, sample, presence or expected")
            }
            let presence = presenceList.compactMap { number($0).map(Float.init) }
            guard presence.count == modalities.count else { throw GoldenError("\(name): \(presence.count) presence values") }
            let inputs = decodedSamples[index].enumerated().map { pair in presence[pair.offset] > 0 ? pair.element : zeros(like: pair.element) }
            return GoldenCase(name: name, inputs: inputs, presence: presence, probabilities: probabilities,
                              gateWeights: gates, top1: top1)
        }
        return GoldenFile(artifact: artifact, format: format, precision: precision, sha256: sha256,
                          classNames: classNames, modalities: modalities, tolerance: tolerance, cases: decodedCases)
    }

    /// Refuses a golden file whose recorded sha256 is not the artifact's.
    public func checkArtifact(_ url: URL) throws {
        let actual = try SHA256.hexDigest(ofFile: url)
        guard actual == sha256 else {
            throw GoldenError("golden file of \(artifact) records sha256 \(sha256.prefix(16))..., \(url.lastPathComponent) has "
                + "\(actual.prefix(16))...: it is for another artifact; refusing to check it. \(GoldenFile.fix)")
        }
    }

    /// Refuses a golden file whose class or modality names are not the manifest's.
    public func checkManifest(_ manifest: ModelManifest) throws {
        guard manifest.classNames == classNames, manifest.modalities == modalities else {
            throw GoldenError("golden file of \(artifact): class or modality names differ from the manifest's; \(GoldenFile.fix)")
        }
    }

    /// Every case through `run` (model inputs, presence last -> outputs), compared with the tolerance.
    public func check(_ run: ([PackedTensor]) throws -> RawOutputs) rethrows -> GoldenReport {
        var failures: [String] = []
        var maxDp = 0.0, maxDg = 0.0, agree = 0
        for item in cases {
            let presence = PackedTensor.float32(name: "presence", shape: [1, item.presence.count], values: item.presence)
            let outputs = try run(item.inputs + [presence])
            guard outputs.logits.count == item.probabilities.count, outputs.gateWeights.count == item.gateWeights.count else {
                failures.append("\(item.name): \(outputs.logits.count) logits and \(outputs.gateWeights.count) gate weights")
                continue
            }
            let probabilities = Classification.softmax(outputs.logits)
            let dp = zip(probabilities, item.probabilities).map { GoldenFile.deviation($0, $1) }.max() ?? 0
            let dg = zip(outputs.gateWeights.map(Double.init), item.gateWeights).map { GoldenFile.deviation($0, $1) }.max() ?? 0
            let top1 = probabilities.indices.max { a, b in probabilities[a] < probabilities[b] || (probabilities[a] == probabilities[b] && a > b) } ?? 0
            maxDp = max(maxDp, dp)
            maxDg = max(maxDg, dg)
            if top1 == item.top1 { agree += 1 }
            if !(dp <= tolerance.maxAbsProbDiff) { failures.append("\(item.name): max |dp| \(dp) > \(tolerance.maxAbsProbDiff)") }
            if !(dg <= tolerance.maxAbsGateDiff) { failures.append("\(item.name): max |dgate| \(dg) > \(tolerance.maxAbsGateDiff)") }
            if tolerance.top1MustMatch && top1 != item.top1 {
                failures.append("\(item.name): top-1 '\(classNames[top1])', PyTorch '\(classNames[item.top1])'")
            }
        }
        return GoldenReport(artifact: artifact, cases: cases.count, maxAbsProbDiff: maxDp, maxAbsGateDiff: maxDg,
                            top1Agreement: Double(agree) / Double(max(1, cases.count)), failures: failures)
    }

    /// `check` through an app runtime (ExecuTorch, LiteRT).
    public func check(_ runtime: InferenceRuntime) throws -> GoldenReport {
        try check { try runtime.run($0) }
    }

    static func deviation(_ actual: Double, _ expected: Double) -> Double {
        actual.isFinite ? abs(actual - expected) : .infinity
    }

    static func number(_ value: Any?) -> Double? {
        if let number = value as? NSNumber { return number.doubleValue }
        switch value as? String {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return nil
        }
    }

    static func numbers(_ value: Any?) -> [Double]? {
        guard let list = value as? [Any] else { return nil }
        let out = list.compactMap(number)
        return out.count == list.count ? out : nil
    }

    /// A golden tensor as the model input: float32, int64 ids, or int16 PCM as k / 32768 in float32.
    static func tensor(_ name: String, _ value: Any?) throws -> PackedTensor {
        guard let object = value as? [String: Any], let shape = object["shape"] as? [Int],
              let dtype = object["dtype"] as? String, let data = numbers(object["data"]),
              data.count == shape.reduce(1, *) else {
            throw GoldenError("\(name): a tensor needs shape, dtype and data that fills the shape")
        }
        switch dtype {
        case "int64": return .int64(name: name, shape: shape, values: data.map { Int64($0) })
        case "int16": return .float32(name: name, shape: shape, values: data.map { Float($0) / 32768 })
        case "float32": return .float32(name: name, shape: shape, values: data.map { Float($0) })
        default: throw GoldenError("\(name): dtype '\(dtype)' is not float32, int64 or int16")
        }
    }

    static func zeros(like tensor: PackedTensor) -> PackedTensor {
        switch tensor {
        case .float32(let name, let shape, let values): return .float32(name: name, shape: shape, values: [Float](repeating: 0, count: values.count))
        case .int64(let name, let shape, let values): return .int64(name: name, shape: shape, values: [Int64](repeating: 0, count: values.count))
        }
    }
}
