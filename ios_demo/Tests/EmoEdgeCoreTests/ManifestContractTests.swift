import XCTest
@testable import EmoEdgeCore

/// The Swift core reads the manifest keys Python writes (contract/manifests/, made by
/// export.manifest.build_manifest) and parses both contract manifests.
/// tests/test_ios_sources.py checks the same key sets against Python and Kotlin
/// from the sources, without a Swift compiler.
final class ManifestContractTests: XCTestCase {
    static let manifestNames = ["features_small.json", "synthetic_tokens.json", "live_small.json", "live.json"]
    /// Only in a sidecar beside a real artifact (contract/README.md, "manifests/").
    static let sidecarOnlyKeys: Set<String> = ["sha256", "size_bytes"]
    /// Written by Python, read by neither mobile core (see ModelManifest.CodingKeys).
    static let unreadKeys: Set<String> = ["modalities", "preprocessing", "tools", "notes"]

    func testTopLevelKeysAreTheKeysPythonWrites() throws {
        let readKeys = Set(ModelManifest.CodingKeys.allCases.map(\.rawValue))
        XCTAssertTrue(readKeys.isDisjoint(with: Self.unreadKeys))
        for name in Self.manifestNames {
            let written = Set(try Self.object(name).keys)
            XCTAssertEqual(readKeys.union(Self.unreadKeys), written.union(Self.sidecarOnlyKeys), name)
        }
    }

    func testModalityAndTensorKeysAreTheKeysPythonWrites() throws {
        for name in Self.manifestNames {
            let object = try Self.object(name)
            let spec = try XCTUnwrap(object["spec"] as? [String: Any])
            let modalities = try XCTUnwrap(spec["modalities"] as? [[String: Any]])
            for modality in modalities {
                // Python omits the waveform-era keys at their defaults: each modality has every
                // required key, and every key it has is one the core reads.
                let all = Set(ModalitySpec.CodingKeys.allCases.map(\.rawValue))
                let required = all.subtracting(ModalitySpec.optionalKeys.map(\.rawValue))
                XCTAssertTrue(required.isSubset(of: Set(modality.keys)), "\(name): \(modality.keys)")
                XCTAssertTrue(Set(modality.keys).isSubset(of: all), "\(name): \(modality.keys)")
                let normalization = try XCTUnwrap(modality["normalization"] as? [String: Any])
                XCTAssertEqual(Set(Normalization.CodingKeys.allCases.map(\.rawValue)), Set(normalization.keys), name)
            }
            // Every spec key the core reads exists (the rest are training-only).
            XCTAssertTrue(Set(ModelSpec.CodingKeys.allCases.map(\.rawValue)).isSubset(of: Set(spec.keys)), name)
            let tensorKeys = Set(TensorDescription.CodingKeys.allCases.map(\.rawValue))
            for entry in try XCTUnwrap(object["inputs"] as? [[String: Any]]) + (try XCTUnwrap(object["outputs"] as? [[String: Any]])) {
                XCTAssertTrue(Set(entry.keys).isSubset(of: tensorKeys), "\(name): \(entry.keys)")
            }
        }
    }

    func testBothContractManifestsParse() throws {
        let features = try Contract.manifest("features_small.json")
        XCTAssertEqual(features.format, "executorch")
        XCTAssertEqual(features.modalities, ["audio", "video", "text"])
        XCTAssertEqual(features.spec.modalities.map(\.inputShape), [[4, 5], [4, 3], [3, 6]])
        XCTAssertEqual(features.inputs.map(\.name), ["audio", "video", "text", "presence"])
        XCTAssertNil(features.sha256)
        XCTAssertEqual(features.spec.modalities[0].normalization.std[2], Float(1e-6))

        let tokens = try Contract.manifest("synthetic_tokens.json")
        XCTAssertEqual(tokens.spec.modalities.map(\.kind), [.features, .frames, .tokens])
        XCTAssertEqual(tokens.inputs.last?.shape, [1, 3])
        XCTAssertEqual(tokens.spec.modalities[2].vocabulary.prefix(3), ["<pad>", "<unk>", "<sep>"])
    }

    func testAMissingKeyIsNamed() throws {
        var object = try Self.object("features_small.json")
        object.removeValue(forKey: "class_names")
        let data = try JSONSerialization.data(withJSONObject: object)
        XCTAssertThrowsError(try ModelManifest.decode(data)) { error in
            XCTAssertTrue(String(describing: error).contains("class_names"), "\(error)")
        }
    }

    func testANewerManifestVersionIsRefused() throws {
        var object = try Self.object("features_small.json")
        object["manifest_version"] = ModelManifest.supportedVersion + 1
        let data = try JSONSerialization.data(withJSONObject: object)
        XCTAssertThrowsError(try ModelManifest.decode(data)) { error in
            XCTAssertEqual(error as? ManifestError,
                           .unsupportedVersion(found: ModelManifest.supportedVersion + 1, supported: ModelManifest.supportedVersion))
        }
    }

    static func object(_ name: String) throws -> [String: Any] {
        try Contract.document("manifests/\(name)")
    }
}
