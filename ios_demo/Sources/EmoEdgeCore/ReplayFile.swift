import Foundation

/// Shipped feature samples for models whose inputs are precomputed features
/// (written by tools/make_replay.py, tensors in the contract format): the app replays
/// them instead of the microphone/camera, and says so on screen.
public struct ReplayFile: Decodable, Equatable {
    public struct Tensor: Decodable, Equatable {
        public let shape: [Int]
        public let dtype: String
        public let data: [Double]
    }

    public struct Sample: Decodable, Equatable {
        /// The dataset's label, shown next to the prediction.
        public let label: String
        public let inputs: [String: Tensor]
    }

    public let source: String
    public let modalities: [String]
    public let samples: [Sample]

    public static func decode(_ data: Data) throws -> ReplayFile {
        try JSONDecoder().decode(ReplayFile.self, from: data)
    }

    /// One sample as whole windows for `LiveInputs.onReplay` (each replaces the previous sample's):
    /// every modality of the file, nil where this sample lacks it.
    public func steps(of sample: Sample) -> [String: WindowSteps?] {
        var out: [String: WindowSteps?] = [:]
        for name in modalities {
            guard let tensor = sample.inputs[name] else {
                out[name] = .some(nil)
                continue
            }
            let steps: WindowSteps = tensor.dtype == "int64"
                ? .tokenIds(tensor.data.map { Int64($0) })
                : .floats(tensor.data.map { Float($0) })
            out[name] = .some(steps)
        }
        return out
    }

    /// One sample's inputs, restricted to the modalities switched on.
    public func inputs(of sample: Sample, enabled: Set<String>) -> [String: ModalityInput] {
        var out: [String: ModalityInput] = [:]
        for (name, tensor) in sample.inputs where enabled.contains(name) {
            out[name] = tensor.dtype == "int64"
                ? .tokenIds(tensor.data.map { Int64($0) })
                : .floats(shape: tensor.shape, values: tensor.data.map { Float($0) })
        }
        return out
    }
}
