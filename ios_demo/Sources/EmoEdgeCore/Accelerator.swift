import Foundation

/// Core ML compute units, named as coremltools / ExecuTorch's Core ML backend write them
/// (`CoreMLBackend.generate_compute_unit_compile_spec`: "cpu_only", "cpu_and_gpu",
/// "cpu_and_ne", "all"). The app maps them to `MLComputeUnits` (.cpuOnly, .cpuAndGPU,
/// .cpuAndNeuralEngine, .all); the core stays Foundation-only.
public enum ComputeUnits: String, Codable, CaseIterable, Equatable {
    case cpuOnly = "cpu_only"
    case cpuAndGPU = "cpu_and_gpu"
    case cpuAndNeuralEngine = "cpu_and_ne"
    case all = "all"
}

/// What export wrote about the graph's partitioning (`notes.delegation`, export/executorch.py
/// delegation_report): backends with their partition counts and the share of nodes inside them.
/// `compute_units` is the Core ML compile spec when export recorded one; absent means
/// CoreMLPartitioner's default, `all`.
public struct DelegationNotes: Codable, Equatable {
    public let backends: [String: Int]?
    public let delegatedFraction: Double?
    public let computeUnits: String?

    public init(backends: [String: Int]? = nil, delegatedFraction: Double? = nil, computeUnits: String? = nil) {
        self.backends = backends
        self.delegatedFraction = delegatedFraction
        self.computeUnits = computeUnits
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case backends
        case delegatedFraction = "delegated_fraction"
        case computeUnits = "compute_units"
    }
}

/// The part of a manifest's free-form `notes` the core reads.
public struct ManifestNotes: Codable, Equatable {
    public let delegation: DelegationNotes?

    public init(delegation: DelegationNotes? = nil) {
        self.delegation = delegation
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case delegation
    }
}

/// A runtime / compute-unit combination the app cannot run; the message says why and what to do.
public enum AcceleratorError: Error, Equatable, CustomStringConvertible {
    case unsupported(String)

    public var description: String {
        switch self {
        case .unsupported(let why): return why
        }
    }
}

/// What the iOS app requests for one artifact: the delegate inside the `.pte` (or LiteRT's CPU),
/// the compute units Core ML may use, the share of the graph export says the delegate takes, and
/// whether the compute units differ from the ones the `.pte` was lowered with.
public struct AcceleratorPlan: Equatable {
    /// "XnnpackBackend", "CoreMLBackend", "MPSBackend", "litert-cpu".
    public let delegate: String
    /// Core ML only; nil for the other delegates.
    public let computeUnits: ComputeUnits?
    /// The compute units the Core ML `.pte` was exported with (nil for other delegates).
    public let exportedComputeUnits: ComputeUnits?
    public let expectedFraction: Double?

    /// Core ML: the requested units differ from the export's, so they must be passed as ExecuTorch's
    /// load-time backend option (`CoreMLBackend` / `compute_unit`) or the `.pte` re-exported.
    public var needsComputeUnitOverride: Bool {
        computeUnits != nil && computeUnits != exportedComputeUnits
    }

    /// "CoreMLBackend (cpu_and_ne)", "XnnpackBackend": the delegate as results record it.
    public var recordedDelegate: String {
        computeUnits.map { "\(delegate) (\($0.rawValue))" } ?? delegate
    }

    /// The decision from a manifest (`format`, `notes.delegation`) and an optional compute-unit
    /// choice (nil: what the artifact is built for).
    public static func decide(manifest: ModelManifest, computeUnits requested: ComputeUnits? = nil) throws -> AcceleratorPlan {
        let delegation = manifest.notes?.delegation
        func fraction(_ backend: String) -> Double? {
            delegation?.backends?[backend] != nil ? delegation?.delegatedFraction : nil
        }
        let name = manifest.artifact
        switch manifest.format {
        case "executorch":
            guard requested == nil || requested == .cpuOnly else {
                throw AcceleratorError.unsupported(
                    "\(name) is lowered to XNNPACK (CPU); for the GPU or the Neural Engine export the Core ML .pte "
                        + "(`python -m export --delegates coreml`) and choose its compute units")
            }
            return AcceleratorPlan(delegate: "XnnpackBackend", computeUnits: nil, exportedComputeUnits: nil,
                                   expectedFraction: fraction("XnnpackBackend"))
        case "executorch-coreml":
            let exported = ComputeUnits(rawValue: delegation?.computeUnits ?? ComputeUnits.all.rawValue) ?? .all
            return AcceleratorPlan(delegate: "CoreMLBackend", computeUnits: requested ?? exported,
                                   exportedComputeUnits: exported, expectedFraction: fraction("CoreMLBackend"))
        case "executorch-mps":
            guard requested == nil || requested == .cpuAndGPU else {
                throw AcceleratorError.unsupported("\(name) is lowered to MPS (the GPU through Metal Performance Shaders); "
                    + "compute units are a Core ML choice: use the Core ML .pte for \(requested?.rawValue ?? "")")
            }
            return AcceleratorPlan(delegate: "MPSBackend", computeUnits: nil, exportedComputeUnits: nil,
                                   expectedFraction: fraction("MPSBackend"))
        case "executorch-vulkan", "executorch-qnn":
            throw AcceleratorError.unsupported("\(name) (\(manifest.format)) is an Android .pte; on iOS use model_fp32.pte "
                + "(XNNPACK) or the Core ML .pte (`python -m export --delegates coreml`)")
        case "litert":
            guard requested == nil || requested == .cpuOnly else {
                throw AcceleratorError.unsupported("\(name): this app runs LiteRT on the CPU only (no Metal or Core ML "
                    + "delegate is wired in); use the Core ML .pte for the GPU or the Neural Engine")
            }
            return AcceleratorPlan(delegate: "litert-cpu", computeUnits: nil, exportedComputeUnits: nil,
                                   expectedFraction: delegation?.delegatedFraction)
        default:
            throw AcceleratorError.unsupported("\(name): format '\(manifest.format)' has no runtime in the iOS app")
        }
    }
}
