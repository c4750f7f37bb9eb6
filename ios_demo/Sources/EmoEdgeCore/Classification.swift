import Foundation

/// Softmax, top-k and the result of one forward pass
/// (sdk/runtime/recognizer.py `softmax`, `top_k`, `result_from_outputs`).
public enum Classification {
    /// Probabilities of `logits` in Double after subtracting the largest logit (Python
    /// computes in float64 too), so they sum to 1 and large logits never overflow.
    public static func softmax(_ logits: [Float]) -> [Double] {
        guard let largest = logits.max() else { return [] }
        let exponentials = logits.map { Foundation.exp(Double($0) - Double(largest)) }
        let total = exponentials.reduce(0, +)
        return exponentials.map { $0 / total }
    }

    /// Indices of the `k` largest values, largest first; ties keep the lower index first.
    public static func topK(_ probabilities: [Double], k: Int) throws -> [Int] {
        guard k >= 1 && k <= probabilities.count else {
            throw ClassificationError.badK("k must be in [1, \(probabilities.count)], got \(k)")
        }
        let ranked = probabilities.indices.sorted { lhs, rhs in
            probabilities[lhs] != probabilities[rhs] ? probabilities[lhs] > probabilities[rhs] : lhs < rhs
        }
        return Array(ranked.prefix(k))
    }

    /// The model's two outputs for one sample -> a result: softmax of the logits, label =
    /// top-1 class, gate weight per modality, present modalities (presence > 0) in spec order.
    public static func resultFromOutputs(classNames: [String], modalityNames: [String], logits: [Float],
                                         gateWeights: [Float], presence: [Float],
                                         latencyMs: Double = 0, runtimeMs: Double = 0) throws -> RecognitionResult {
        guard logits.count == classNames.count else {
            throw ClassificationError.badOutputs("\(logits.count) logits for \(classNames.count) classes")
        }
        guard gateWeights.count == modalityNames.count, presence.count == modalityNames.count else {
            throw ClassificationError.badOutputs(
                "\(gateWeights.count) gate weights and \(presence.count) presence values for \(modalityNames.count) modalities")
        }
        guard logits.allSatisfy({ $0.isFinite }) else {
            throw InputError(.overflow, "the model's output is not finite for these inputs; they are far outside the range of the training data: check their units and scale")
        }
        let probabilities = softmax(logits)
        let best = try topK(probabilities, k: 1)[0]
        return RecognitionResult(
            label: classNames[best],
            classNames: classNames,
            probabilities: probabilities,
            modalityNames: modalityNames,
            gateWeights: gateWeights.map { Double($0) },
            modalitiesUsed: zip(modalityNames, presence).filter { $0.1 > 0 }.map { $0.0 },
            latencyMs: latencyMs,
            runtimeMs: runtimeMs)
    }
}

public enum ClassificationError: Error, Equatable, CustomStringConvertible {
    case badK(String)
    case badOutputs(String)

    public var description: String {
        switch self {
        case .badK(let what): return what
        case .badOutputs(let what): return "the model returned unexpected outputs: \(what)"
        }
    }
}

/// One prediction (sdk/runtime/recognizer.py `RecognitionResult`); lists in the
/// manifest's class and modality order.
public struct RecognitionResult: Equatable {
    public let label: String
    public let classNames: [String]
    public let probabilities: [Double]
    public let modalityNames: [String]
    /// Fusion gate weight per modality (0 for an absent one).
    public let gateWeights: [Double]
    public let modalitiesUsed: [String]
    /// Packing + inference + softmax, milliseconds.
    public let latencyMs: Double
    /// The runtime call alone, milliseconds.
    public let runtimeMs: Double

    public func probability(of className: String) -> Double? {
        classNames.firstIndex(of: className).map { probabilities[$0] }
    }

    public func gateWeight(of modality: String) -> Double? {
        modalityNames.firstIndex(of: modality).map { gateWeights[$0] }
    }

    public var confidence: Double { probability(of: label) ?? 0 }
}
