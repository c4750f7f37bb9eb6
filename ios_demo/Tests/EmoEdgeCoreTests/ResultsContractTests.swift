import XCTest
@testable import EmoEdgeCore

/// contract/results.json: logits, gates, presence -> probabilities, top-k, label.
final class ResultsContractTests: XCTestCase {
    func testEveryResultsCase() throws {
        for testCase in try Contract.cases("results.json") {
            let name = testCase["name"] as? String ?? "?"
            let manifest = try Contract.manifest(try XCTUnwrap(testCase["manifest"] as? String))
            let logits = try XCTUnwrap(Contract.doubles(testCase["logits"])).map(Float.init)
            let gates = try XCTUnwrap(Contract.doubles(testCase["gate_weights"])).map(Float.init)
            let presence = try XCTUnwrap(Contract.doubles(testCase["presence"])).map(Float.init)
            let k = try XCTUnwrap(testCase["k"] as? Int)
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any])

            let result = try Classification.resultFromOutputs(
                classNames: manifest.classNames, modalityNames: manifest.modalities,
                logits: logits, gateWeights: gates, presence: presence)
            Contract.assertClose(result.probabilities, try XCTUnwrap(Contract.doubles(expected["probabilities"])), name)
            XCTAssertEqual(try Classification.topK(result.probabilities, k: k),
                           try XCTUnwrap(expected["top_k"] as? [Int]), name)
            XCTAssertEqual(result.label, try XCTUnwrap(expected["label"] as? String), name)
            XCTAssertEqual(result.modalitiesUsed, try XCTUnwrap(expected["modalities_used"] as? [String]), name)
            let wantGates = try XCTUnwrap(expected["gate_weights"] as? [String: Any])
            for modality in manifest.modalities {
                let want = try XCTUnwrap(Contract.double(wantGates[modality]), "\(name): gate \(modality)")
                let got = try XCTUnwrap(result.gateWeight(of: modality))
                XCTAssertTrue(Contract.close(got, want), "\(name): gate \(modality) \(got), expected \(want)")
            }
        }
    }

    func testTopKRefusesAnImpossibleK() {
        XCTAssertThrowsError(try Classification.topK([0.5, 0.5], k: 0))
        XCTAssertThrowsError(try Classification.topK([0.5, 0.5], k: 3))
    }
}
