#if canImport(ExecuTorch)
import EmoEdgeCore
import ExecuTorch
import Foundation

/// A `.pte` through ExecuTorch's Swift API (`Module`, `Tensor`, `Value`; products
/// `executorch`, `backend_xnnpack`, `backend_coreml`, `kernels_optimized` of the
/// swiftpm-<version> branch of github.com/pytorch/executorch,
/// swiftpm-1.5.1 to match the executorch 1.5.1 that exports the .pte). The XNNPACK-, Core ML- and
/// MPS-delegated programs load the same way; the delegate is inside the file.
///
/// Which `.pte` runs with which compute units is EmoEdgeCore's AcceleratorPlan (parsed in CI): a
/// Core ML `.pte` runs with the compute units it was exported with (`--delegates coreml`: `all`);
/// other units would have to go in as ExecuTorch's load-time backend option (C++
/// `Module::load(LoadBackendOptionsMap)`, CoreMLBackend `compute_unit`), which this app does not pass
/// yet, so such a request is refused with that reason instead of silently running `all`.
final class ExecuTorchRuntime: InferenceRuntime {
    let displayName: String
    let plan: AcceleratorPlan
    private let module: Module

    init(artifact: URL, manifest: ModelManifest, computeUnits: ComputeUnits? = nil) throws {
        plan = try AcceleratorPlan.decide(manifest: manifest, computeUnits: computeUnits)
        if plan.needsComputeUnitOverride {
            throw RuntimeError.backendNotLinked(
                "\(artifact.lastPathComponent) was exported for Core ML compute units "
                    + "\(plan.exportedComputeUnits?.rawValue ?? "all"); \(plan.computeUnits?.rawValue ?? "") needs ExecuTorch's "
                    + "load-time backend option CoreMLBackend/compute_unit, which this app does not pass yet: "
                    + "re-export for them (`python -m export --delegates coreml --coreml-compute-units "
                    + "\(plan.computeUnits?.rawValue ?? "all")`, ios_demo/README.md) or choose the exported ones")
        }
        module = Module(filePath: artifact.path)
        // Load the program and prepare "forward" (backend init, Core ML compilation)
        // now, so the first prediction is not also the load.
        try module.load("forward")
        displayName = "ExecuTorch · \(plan.recordedDelegate)"
    }

    func run(_ inputs: [PackedTensor]) throws -> RawOutputs {
        let values: [ValueConvertible] = inputs.map { packed -> ValueConvertible in
            switch packed {
            case .float32(_, let shape, let values): return Tensor<Float>(values, shape: shape)
            case .int64(_, let shape, let values): return Tensor<Int64>(values, shape: shape)
            }
        }
        let outputs = try module.forward(values)
        guard outputs.count >= 2 else {
            throw RuntimeError.unexpectedOutputs("expected 2 outputs (logits, gate_weights), got \(outputs.count)")
        }
        guard let logits: Tensor<Float> = outputs[0].tensor(), let gates: Tensor<Float> = outputs[1].tensor() else {
            throw RuntimeError.unexpectedOutputs("the outputs are not float32 tensors")
        }
        return RawOutputs(logits: logits.scalars(), gateWeights: gates.scalars())
    }
}
#endif
