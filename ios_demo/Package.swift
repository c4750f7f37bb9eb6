// swift-tools-version:5.9
//
// EmoEdgeCore: the platform-free part of the iOS demo (manifest, input packing and
// presence masks, tokenizer, softmax/top-k, streaming ring buffers, latency
// statistics, energy integration, JSON report). Foundation only, so `swift test`
// runs it on macOS or Linux. The SwiftUI app and the XCTest benchmark live in the
// Xcode project generated from project.yml (they need ExecuTorch, AVFoundation
// and a device); see README.md, "Run it on your iPhone".
import PackageDescription

let package = Package(
    name: "EmoEdgeCore",
    platforms: [
        // ExecuTorch's Swift package needs iOS 17 / macOS 14; the core itself would
        // run on older systems, but the app that links both cannot.
        .iOS(.v17),
        .macOS(.v14),
    ],
    products: [
        .library(name: "EmoEdgeCore", targets: ["EmoEdgeCore"]),
    ],
    targets: [
        .target(
            name: "EmoEdgeCore",
            path: "Sources/EmoEdgeCore"
        ),
        .testTarget(
            name: "EmoEdgeCoreTests",
            dependencies: ["EmoEdgeCore"],
            path: "Tests/EmoEdgeCoreTests",
            // The shared contract vectors (contract/*.json at the repository root) and the
            // example manifest are found at test time by walking up from this file; see
            // ContractFixtures.swift. Nothing is copied into the package.
            exclude: []
        ),
    ]
)
