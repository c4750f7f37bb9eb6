import EmoEdgeCore
import Foundation
import XCTest

/// AcceleratorPlan: which delegate and Core ML compute units the iOS app requests for a manifest
/// (issue 18), the same decision the Android core's AcceleratorPlan makes for its runtimes.
final class AcceleratorPlanTests: XCTestCase {
    /// The contract's features manifest with another format and, when given, export's delegation note.
    private func manifest(_ format: String, backends: [String: Int]? = nil, fraction: Double = 0,
                          computeUnits: String? = nil) throws -> ModelManifest {
        var document = try Contract.document("manifests/features_small.json")
        document["format"] = format
        var delegation: [String: Any] = ["delegated_fraction": fraction]
        if let backends = backends { delegation["backends"] = backends }
        if let units = computeUnits { delegation["compute_units"] = units }
        document["notes"] = ["delegation": delegation]
        return try ModelManifest.decode(JSONSerialization.data(withJSONObject: document))
    }

    func testXnnpackIsTheCpuPath() throws {
        let plan = try AcceleratorPlan.decide(manifest: manifest("executorch", backends: ["XnnpackBackend": 3], fraction: 0.971))
        XCTAssertEqual(plan.delegate, "XnnpackBackend")
        XCTAssertNil(plan.computeUnits)
        XCTAssertEqual(plan.expectedFraction ?? 0, 0.971, accuracy: 1e-12)
        XCTAssertThrowsError(try AcceleratorPlan.decide(manifest: manifest("executorch"), computeUnits: .cpuAndNeuralEngine))
    }

    func testCoreMLRunsWithTheExportedComputeUnitsAndRecordsThem() throws {
        let coreml = try manifest("executorch-coreml", backends: ["CoreMLBackend": 1], fraction: 1)
        let plan = try AcceleratorPlan.decide(manifest: coreml)
        XCTAssertEqual(plan.computeUnits, .all)
        XCTAssertFalse(plan.needsComputeUnitOverride)
        XCTAssertEqual(plan.recordedDelegate, "CoreMLBackend (all)")
        XCTAssertEqual(plan.expectedFraction, 1)
        for units in [ComputeUnits.cpuOnly, .cpuAndGPU, .cpuAndNeuralEngine] {
            let chosen = try AcceleratorPlan.decide(manifest: coreml, computeUnits: units)
            XCTAssertEqual(chosen.computeUnits, units)
            XCTAssertTrue(chosen.needsComputeUnitOverride)
        }
        let ane = try manifest("executorch-coreml", backends: ["CoreMLBackend": 1], computeUnits: "cpu_and_ne")
        XCTAssertFalse(try AcceleratorPlan.decide(manifest: ane, computeUnits: .cpuAndNeuralEngine).needsComputeUnitOverride)
    }

    func testMPSAndTheAndroidFormats() throws {
        XCTAssertEqual(try AcceleratorPlan.decide(manifest: manifest("executorch-mps")).delegate, "MPSBackend")
        for format in ["executorch-vulkan", "executorch-qnn"] {
            XCTAssertThrowsError(try AcceleratorPlan.decide(manifest: manifest(format))) { error in
                XCTAssertTrue(String(describing: error).contains("Android"))
            }
        }
    }

    func testTheReportRecordsTheDelegateUnitsAndFraction() throws {
        let coreml = try manifest("executorch-coreml", backends: ["CoreMLBackend": 1], fraction: 1)
        let report = try BenchmarkReport(
            device: .init(model: "iPhone", systemName: "iOS", systemVersion: "17.5"), manifest: coreml,
            backend: "ExecuTorch · CoreMLBackend (all)", loadMs: 1, firstMs: 1, warmupRuns: 0, samplesMs: [1, 2],
            peakMemoryMb: nil, millijoulesPerInference: nil, thermalState: "nominal",
            plan: try AcceleratorPlan.decide(manifest: coreml))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        XCTAssertEqual(object["delegate"] as? String, "CoreMLBackend (all)")
        XCTAssertEqual(object["compute_units"] as? String, "all")
        XCTAssertEqual(object["delegated_fraction"] as? Double, 1)
    }
}
