import XCTest
@testable import EmoEdgeCore

/// contract/latency_stats.json and contract/energy.json.
final class StatisticsContractTests: XCTestCase {
    func testEveryLatencyCase() throws {
        for testCase in try Contract.cases("latency_stats.json") {
            let name = testCase["name"] as? String ?? "?"
            let samples = try XCTUnwrap(Contract.doubles(testCase["samples_ms"]), name)
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any], name)
            if let kind = expected["error"] as? String {
                XCTAssertThrowsError(try LatencyStats(samplesMs: samples), name) { error in
                    XCTAssertEqual((error as? StatsError)?.kind.rawValue, kind, name)
                }
                continue
            }
            let stats = try LatencyStats(samplesMs: samples)
            XCTAssertEqual(stats.count, try XCTUnwrap(expected["count"] as? Int), name)
            let got: [String: Double] = ["min_ms": stats.minMs, "max_ms": stats.maxMs, "mean_ms": stats.meanMs,
                                         "p50_ms": stats.p50Ms, "p90_ms": stats.p90Ms, "p99_ms": stats.p99Ms]
            for (key, value) in expected where key != "count" {
                let want = try XCTUnwrap(Contract.double(value), "\(name): \(key)")
                let have = try XCTUnwrap(got[key], "\(name): the Swift core has no \(key)")
                XCTAssertTrue(Contract.close(have, want), "\(name): \(key) \(have), expected \(want)")
            }
        }
    }

    func testEveryEnergyCase() throws {
        for testCase in try Contract.cases("energy.json") {
            let name = testCase["name"] as? String ?? "?"
            let run = try Self.samples(testCase["run_samples"])
            let idle = try Self.samples(testCase["idle_samples"])
            let iterations = try XCTUnwrap(testCase["iterations"] as? Int, name)
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any], name)
            if let kind = expected["error"] as? String {
                XCTAssertThrowsError(try EnergyReport(run: run, idle: idle, iterations: iterations), name) { error in
                    XCTAssertEqual((error as? EnergyError)?.kind.rawValue, kind, name)
                }
                continue
            }
            let report = try EnergyReport(run: run, idle: idle, iterations: iterations)
            // Compare through the report's own JSON keys, so a renamed key fails too.
            let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
            let got = try XCTUnwrap(encoded)
            XCTAssertEqual(Set(got.keys), Set(expected.keys), "\(name): keys")
            for (key, value) in expected {
                if key == "below_baseline" {
                    XCTAssertEqual(got[key] as? Bool, value as? Bool, "\(name): \(key)")
                } else {
                    let want = try XCTUnwrap(Contract.double(value), "\(name): \(key)")
                    let have = try XCTUnwrap(Contract.double(got[key]), "\(name): \(key)")
                    XCTAssertTrue(Contract.close(have, want), "\(name): \(key) \(have), expected \(want)")
                }
            }
        }
    }

    static func samples(_ value: Any?) throws -> [BatterySample] {
        let list = try XCTUnwrap(value as? [[String: Any]])
        return try list.map { sample in
            BatterySample(tMs: try XCTUnwrap(Contract.double(sample["t_ms"])),
                          currentUa: try XCTUnwrap(Contract.double(sample["current_ua"])),
                          voltageMv: try XCTUnwrap(Contract.double(sample["voltage_mv"])))
        }
    }
}
