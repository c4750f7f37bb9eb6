import EmoEdgeCore
@testable import EmoEdgeDemo
import XCTest

/// On-device golden check: every artifact bundled with the app (App/Models, with its manifest and its
/// `<stem>.golden.json` from `python -m export`) runs its golden cases through the app's runtime
/// (RuntimeFactory: ExecuTorch, LiteRT) and must match PyTorch within the file's tolerance, as
/// `python -m sdk.contract --golden` checks on the host (contract/README.md, "golden/").
///
///     xcodebuild test -project EmoEdgeDemo.xcodeproj -scheme EmoEdgeDemo \
///         -destination 'platform=iOS,name=<your iPhone>' -only-testing:EmoEdgeBenchmarks/GoldenArtifactTests
final class GoldenArtifactTests: XCTestCase {
    func testEveryBundledArtifactMatchesItsGoldenVectors() throws {
        let found = RuntimeFactory.bundledArtifacts()
        for problem in found.problems { XCTFail("refused artifact: \(problem)") }
        guard !found.choices.isEmpty else {
            throw XCTSkip(String(describing: RuntimeError.noArtifacts))
        }
        for choice in found.choices {
            let goldenURL = GoldenFile.url(for: choice.url)
            guard FileManager.default.fileExists(atPath: goldenURL.path) else {
                XCTFail("\(choice.title): no \(goldenURL.lastPathComponent) beside it; copy it with the artifact")
                continue
            }
            let golden = try GoldenFile.decode(Data(contentsOf: goldenURL))
            try golden.checkArtifact(choice.url)
            try golden.checkManifest(choice.manifest)
            let report = try golden.check(try RuntimeFactory.makeRuntime(for: choice))
            XCTContext.runActivity(named: choice.title) { activity in
                let attachment = XCTAttachment(string: report.description)
                attachment.lifetime = .keepAlways
                activity.add(attachment)
            }
            XCTAssertTrue(report.passed, report.description)
        }
    }
}
