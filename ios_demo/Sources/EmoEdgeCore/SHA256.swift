import Foundation

/// SHA-256 (FIPS 180-4) in plain Swift, so the core can check an artifact against its
/// manifest without CryptoKit (export/manifest.py `check_artifact`).
public struct SHA256 {
    private static let roundConstants: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    private var state: [UInt32] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    public init() {}

    public mutating func update(_ data: Data) {
        update([UInt8](data))
    }

    public mutating func update(_ bytes: [UInt8]) {
        length &+= UInt64(bytes.count)
        pending.append(contentsOf: bytes)
        let whole = pending.count / 64 * 64
        var offset = 0
        while offset < whole {
            compress(pending, at: offset)
            offset += 64
        }
        pending.removeFirst(whole)
    }

    /// The digest as 64 lowercase hex characters (Python's `hexdigest()`).
    public mutating func hexDigest() -> String {
        let bitLength = length &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var offset = 0
        while offset < tail.count {
            compress(tail, at: offset)
            offset += 64
        }
        pending = []
        return state.map { word in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 8 - hex.count) + hex
        }.joined()
    }

    public static func hexDigest(_ data: Data) -> String {
        var hasher = SHA256()
        hasher.update(data)
        return hasher.hexDigest()
    }

    /// Hash a file in 1 MiB blocks.
    public static func hexDigest(ofFile url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
            hasher.update(block)
        }
        return hasher.hexDigest()
    }

    private static func rotateRight(_ value: UInt32, _ amount: UInt32) -> UInt32 {
        (value >> amount) | (value << (32 - amount))
    }

    private mutating func compress(_ bytes: [UInt8], at offset: Int) {
        var words = [UInt32](repeating: 0, count: 64)
        for index in 0..<16 {
            let base = offset + index * 4
            words[index] = UInt32(bytes[base]) << 24 | UInt32(bytes[base + 1]) << 16
                | UInt32(bytes[base + 2]) << 8 | UInt32(bytes[base + 3])
        }
        for index in 16..<64 {
            let s0 = Self.rotateRight(words[index - 15], 7) ^ Self.rotateRight(words[index - 15], 18) ^ (words[index - 15] >> 3)
            let s1 = Self.rotateRight(words[index - 2], 17) ^ Self.rotateRight(words[index - 2], 19) ^ (words[index - 2] >> 10)
            words[index] = words[index - 16] &+ s0 &+ words[index - 7] &+ s1
        }
        var a = state[0], b = state[1], c = state[2], d = state[3]
        var e = state[4], f = state[5], g = state[6], h = state[7]
        for index in 0..<64 {
            let s1 = Self.rotateRight(e, 6) ^ Self.rotateRight(e, 11) ^ Self.rotateRight(e, 25)
            let choice = (e & f) ^ (~e & g)
            let temp1 = h &+ s1 &+ choice &+ Self.roundConstants[index] &+ words[index]
            let s0 = Self.rotateRight(a, 2) ^ Self.rotateRight(a, 13) ^ Self.rotateRight(a, 22)
            let majority = (a & b) ^ (a & c) ^ (b & c)
            let temp2 = s0 &+ majority
            h = g
            g = f
            f = e
            e = d &+ temp1
            d = c
            c = b
            b = a
            a = temp1 &+ temp2
        }
        state[0] &+= a
        state[1] &+= b
        state[2] &+= c
        state[3] &+= d
        state[4] &+= e
        state[5] &+= f
        state[6] &+= g
        state[7] &+= h
    }
}

/// An artifact that does not match its manifest (or has none): do not run it.
public enum ArtifactError: Error, Equatable, CustomStringConvertible {
    case missingArtifact(String)
    case missingManifest(String)
    case sizeMismatch(artifact: String, actual: Int, expected: Int)
    case hashMismatch(artifact: String, actual: String, expected: String)
    case noHashInManifest(String)

    public var description: String {
        let fix = "re-export it with `python -m export` (or copy both files from the same export)"
        switch self {
        case .missingArtifact(let name): return "\(name): artifact not found in the app bundle"
        case .missingManifest(let name): return "\(name): its manifest \(name).json is missing; \(fix)"
        case .sizeMismatch(let name, let actual, let expected):
            return "\(name): \(actual) bytes but its manifest says \(expected) (truncated or replaced file); \(fix)"
        case .hashMismatch(let name, let actual, let expected):
            return "\(name): sha256 \(actual.prefix(16))... does not match the manifest's \(expected.prefix(16))...; \(fix)"
        case .noHashInManifest(let name): return "\(name): the manifest has no sha256/size_bytes (an embedded copy?); \(fix)"
        }
    }
}

public enum ArtifactCheck {
    /// The sidecar manifest of `artifact` if the artifact's size and sha256 match it.
    public static func verifiedManifest(for artifact: URL) throws -> ModelManifest {
        let name = artifact.lastPathComponent
        guard FileManager.default.fileExists(atPath: artifact.path) else { throw ArtifactError.missingArtifact(name) }
        let sidecar = ModelManifest.sidecarURL(of: artifact)
        guard FileManager.default.fileExists(atPath: sidecar.path) else { throw ArtifactError.missingManifest(name) }
        let manifest = try ModelManifest.load(contentsOf: sidecar)
        guard let expectedHash = manifest.sha256, let expectedSize = manifest.sizeBytes else {
            throw ArtifactError.noHashInManifest(name)
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: artifact.path)
        let size = (attributes[.size] as? NSNumber)?.intValue ?? -1
        guard size == expectedSize else {
            throw ArtifactError.sizeMismatch(artifact: name, actual: size, expected: expectedSize)
        }
        let actualHash = try SHA256.hexDigest(ofFile: artifact)
        guard actualHash == expectedHash else {
            throw ArtifactError.hashMismatch(artifact: name, actual: actualHash, expected: expectedHash)
        }
        return manifest
    }
}
