import Foundation

public enum StatsErrorKind: String, Codable {
    case noSamples = "no_samples"
    case nonFinite = "non_finite"
}

public struct StatsError: Error, Equatable, CustomStringConvertible {
    public let kind: StatsErrorKind
    public let message: String
    public var description: String { message }
}

/// count, min, max, mean and p50/p90/p99 of latencies in ms (sdk/bench.py
/// `latency_stats`). The one percentile definition of emoedge: linear interpolation
/// between the closest ranks (numpy's default, Hyndman & Fan type 7).
public struct LatencyStats: Codable, Equatable {
    public let count: Int
    public let minMs: Double
    public let maxMs: Double
    public let meanMs: Double
    public let p50Ms: Double
    public let p90Ms: Double
    public let p99Ms: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case count
        case minMs = "min_ms"
        case maxMs = "max_ms"
        case meanMs = "mean_ms"
        case p50Ms = "p50_ms"
        case p90Ms = "p90_ms"
        case p99Ms = "p99_ms"
    }

    public init(samplesMs: [Double]) throws {
        guard !samplesMs.isEmpty else {
            throw StatsError(kind: .noSamples, message: "no latency samples; run at least one iteration")
        }
        guard samplesMs.allSatisfy({ $0.isFinite }) else {
            throw StatsError(kind: .nonFinite, message: "latency samples must be finite numbers of milliseconds")
        }
        let sorted = samplesMs.sorted()
        count = sorted.count
        minMs = sorted[0]
        maxMs = sorted[sorted.count - 1]
        meanMs = sorted.reduce(0, +) / Double(sorted.count)
        p50Ms = Self.percentile(sorted: sorted, 50)
        p90Ms = Self.percentile(sorted: sorted, 90)
        p99Ms = Self.percentile(sorted: sorted, 99)
    }

    /// The q-th percentile (0...100) of ascending, non-empty `sorted`:
    /// h = (n - 1) q / 100, x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
    public static func percentile(sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let h = Double(sorted.count - 1) * min(max(q, 0), 100) / 100
        let lower = Int(h.rounded(.down))
        let fraction = h - Double(lower)
        guard lower + 1 < sorted.count, fraction > 0 else { return sorted[lower] }
        return sorted[lower] + fraction * (sorted[lower + 1] - sorted[lower])
    }
}
