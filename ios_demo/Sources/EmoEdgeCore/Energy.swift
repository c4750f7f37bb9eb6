import Foundation

/// One fuel-gauge reading: time, battery current (microamperes, either sign) and
/// voltage (millivolts), as the Android benchmark records them from BatteryManager.
public struct BatterySample: Codable, Equatable {
    public let tMs: Double
    public let currentUa: Double
    public let voltageMv: Double

    public init(tMs: Double, currentUa: Double, voltageMv: Double) {
        self.tMs = tMs
        self.currentUa = currentUa
        self.voltageMv = voltageMv
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tMs = "t_ms"
        case currentUa = "current_ua"
        case voltageMv = "voltage_mv"
    }
}

public enum EnergyErrorKind: String, Codable {
    case tooFewSamples = "too_few_samples"
    case unorderedSamples = "unordered_samples"
    case nonFinite = "non_finite"
    case noIterations = "no_iterations"
}

public struct EnergyError: Error, Equatable, CustomStringConvertible {
    public let kind: EnergyErrorKind
    public let message: String
    public var description: String { message }
}

/// Joules per inference from a timed run and an idle baseline (sdk/energy.py
/// `energy_per_inference`): P_i = |I_i| 1e-6 V_i 1e-3 W, trapezoid rule over time,
/// net = E_run - P_idle * run_seconds, per inference = net / iterations;
/// `belowBaseline` when net < 0 (reported, never clipped).
///
/// iOS gives an app no battery current or power counter, so the iPhone app and its
/// XCTest benchmark cannot produce samples (they report energy as unavailable); the
/// arithmetic is here so samples from an external meter are computed the same way as
/// on Android.
public struct EnergyReport: Codable, Equatable {
    public let runSeconds: Double
    public let idleSeconds: Double
    public let runJoules: Double
    public let idleJoules: Double
    public let runPowerW: Double
    public let idlePowerW: Double
    public let netJoules: Double
    public let joulesPerInference: Double
    public let belowBaseline: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case runSeconds = "run_seconds"
        case idleSeconds = "idle_seconds"
        case runJoules = "run_joules"
        case idleJoules = "idle_joules"
        case runPowerW = "run_power_w"
        case idlePowerW = "idle_power_w"
        case netJoules = "net_joules"
        case joulesPerInference = "joules_per_inference"
        case belowBaseline = "below_baseline"
    }

    public init(run: [BatterySample], idle: [BatterySample], iterations: Int) throws {
        guard iterations >= 1 else {
            throw EnergyError(kind: .noIterations, message: "iterations must be >= 1, got \(iterations)")
        }
        let runPoints = try Self.series(run, "run"), idlePoints = try Self.series(idle, "idle")
        runSeconds = (runPoints[runPoints.count - 1].tMs - runPoints[0].tMs) / 1000
        idleSeconds = (idlePoints[idlePoints.count - 1].tMs - idlePoints[0].tMs) / 1000
        runJoules = Self.integrateJoules(runPoints)
        idleJoules = Self.integrateJoules(idlePoints)
        runPowerW = runJoules / runSeconds
        idlePowerW = idleJoules / idleSeconds
        netJoules = runJoules - idlePowerW * runSeconds
        joulesPerInference = netJoules / Double(iterations)
        belowBaseline = netJoules < 0
    }

    /// Trapezoid rule over (t_ms, watts) points.
    public static func integrateJoules(_ points: [(tMs: Double, watts: Double)]) -> Double {
        guard points.count >= 2 else { return 0 }
        var total = 0.0
        for index in 1..<points.count {
            let previous = points[index - 1], current = points[index]
            total += (current.tMs - previous.tMs) / 1000 * (previous.watts + current.watts) / 2
        }
        return total
    }

    static func series(_ samples: [BatterySample], _ what: String) throws -> [(tMs: Double, watts: Double)] {
        var points: [(tMs: Double, watts: Double)] = []
        for sample in samples {
            guard sample.tMs.isFinite, sample.currentUa.isFinite, sample.voltageMv.isFinite else {
                throw EnergyError(kind: .nonFinite, message: "\(what): a sample has a non-finite value: \(sample)")
            }
            if let last = points.last, sample.tMs <= last.tMs {
                throw EnergyError(kind: .unorderedSamples,
                                  message: "\(what): timestamps must increase; \(sample.tMs) ms follows \(last.tMs) ms")
            }
            points.append((sample.tMs, abs(sample.currentUa) * 1e-6 * sample.voltageMv * 1e-3))
        }
        guard points.count >= 2 else {
            throw EnergyError(kind: .tooFewSamples,
                              message: "\(what): \(points.count) sample(s); at least 2 are needed to integrate power over time")
        }
        return points
    }
}
