import Foundation

/// The last `capacity` steps of one modality, oldest first, in memory allocated once
/// (sdk/runtime/streaming.py `RingBuffer`). A step is `stepSize` values.
public struct RingBuffer<Element: Numeric> {
    public let capacity: Int
    public let stepSize: Int
    private var storage: [Element]
    /// Index (in steps) of the oldest step.
    private var start = 0
    /// Steps held, at most `capacity`.
    public private(set) var count = 0

    public init(capacity: Int, stepSize: Int = 1) throws {
        guard capacity >= 1, stepSize >= 1 else {
            throw RingBufferError.badSize("capacity and stepSize must be >= 1, got \(capacity), \(stepSize)")
        }
        self.capacity = capacity
        self.stepSize = stepSize
        storage = Array(repeating: 0, count: capacity * stepSize)
    }

    public var isEmpty: Bool { count == 0 }
    public var isFull: Bool { count == capacity }

    /// Append whole steps (`values.count` a multiple of `stepSize`); the oldest fall out
    /// once the buffer is full.
    public mutating func append(_ values: [Element]) throws {
        guard values.count % stepSize == 0 else {
            throw RingBufferError.badSize("\(values.count) values is not a whole number of \(stepSize)-value steps")
        }
        let steps = values.count / stepSize
        let kept = min(steps, capacity)
        let first = steps - kept
        for step in 0..<kept {
            let slot = (start + count) % capacity
            let source = (first + step) * stepSize
            let target = slot * stepSize
            for offset in 0..<stepSize { storage[target + offset] = values[source + offset] }
            if count < capacity {
                count += 1
            } else {
                start = (start + 1) % capacity
            }
        }
    }

    /// A copy of the buffered steps, oldest first (`count * stepSize` values).
    public func window() -> [Element] {
        var out: [Element] = []
        out.reserveCapacity(count * stepSize)
        for step in 0..<count {
            let slot = (start + step) % capacity
            out.append(contentsOf: storage[(slot * stepSize)..<((slot + 1) * stepSize)])
        }
        return out
    }

    public mutating func clear() {
        start = 0
        count = 0
    }
}

public enum RingBufferError: Error, Equatable, CustomStringConvertible {
    case badSize(String)

    public var description: String {
        switch self {
        case .badSize(let what): return what
        }
    }
}
