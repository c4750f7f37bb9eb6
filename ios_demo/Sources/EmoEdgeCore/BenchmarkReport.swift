import Foundation

/// One benchmark run as JSON, in the shape of the ExecuTorch minibench records the
/// Android demo writes: device, artifact, load time, first inference, steady state
/// (percentiles, trimmed mean), memory, energy where measurable, thermal state.
public struct BenchmarkReport: Codable, Equatable {
    public struct Device: Codable, Equatable {
        public let model: String
        public let systemName: String
        public let systemVersion: String

        public init(model: String, systemName: String, systemVersion: String) {
            self.model = model
            self.systemName = systemName
            self.systemVersion = systemVersion
        }

        enum CodingKeys: String, CodingKey {
            case model
            case systemName = "system_name"
            case systemVersion = "system_version"
        }
    }

    public let device: Device
    public let artifact: String
    public let format: String
    public let precision: String
    public let backend: String
    /// The delegate that ran, as AcceleratorPlan records it ("CoreMLBackend (cpu_and_ne)", "XnnpackBackend").
    public let delegate: String?
    /// Core ML compute units the run asked for (ComputeUnits raw value); nil for other delegates.
    public let computeUnits: String?
    /// Share of the graph's nodes the delegate took (export's `notes.delegation`); nil when unknown.
    public let delegatedFraction: Double?
    public let sha256: String?
    public let loadMs: Double
    public let firstMs: Double
    public let warmupRuns: Int
    public let latency: LatencyStats
    public let peakMemoryMb: Double?
    /// nil where the platform cannot measure it (an iPhone app cannot; see EnergyReport).
    public let millijoulesPerInference: Double?
    /// "nominal", "fair", "serious", "critical" at the end of the run.
    public let thermalState: String

    public init(device: Device, manifest: ModelManifest, backend: String, loadMs: Double, firstMs: Double,
                warmupRuns: Int, samplesMs: [Double], peakMemoryMb: Double?,
                millijoulesPerInference: Double?, thermalState: String, plan: AcceleratorPlan? = nil) throws {
        self.device = device
        artifact = manifest.artifact
        format = manifest.format
        precision = manifest.precision
        self.backend = backend
        delegate = plan?.recordedDelegate
        computeUnits = plan?.computeUnits?.rawValue
        delegatedFraction = plan?.expectedFraction
        sha256 = manifest.sha256
        self.loadMs = loadMs
        self.firstMs = firstMs
        self.warmupRuns = warmupRuns
        latency = try LatencyStats(samplesMs: samplesMs)
        self.peakMemoryMb = peakMemoryMb
        self.millijoulesPerInference = millijoulesPerInference
        self.thermalState = thermalState
    }

    enum CodingKeys: String, CodingKey {
        case device, artifact, format, precision, backend, delegate, sha256, latency
        case computeUnits = "compute_units"
        case delegatedFraction = "delegated_fraction"
        case loadMs = "load_ms"
        case firstMs = "first_ms"
        case warmupRuns = "warmup_runs"
        case peakMemoryMb = "peak_memory_mb"
        case millijoulesPerInference = "millijoules_per_inference"
        case thermalState = "thermal_state"
    }

    /// Pretty, key-sorted JSON (stable across runs for diffs).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
