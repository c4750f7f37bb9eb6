import XCTest
@testable import EmoEdgeCore

/// contract/tokenizer.json: text -> tokens, ids, left-padded ids.
final class TokenizerContractTests: XCTestCase {
    func testEveryTokenizerCase() throws {
        let document = try Contract.document("tokenizer.json")
        let vocabulary = try XCTUnwrap(document["vocabulary"] as? [String])
        let tokenizer = try WordTokenizer(vocabulary: vocabulary)
        let cases = try Contract.cases("tokenizer.json")
        for testCase in cases {
            let text = try XCTUnwrap(testCase["text"] as? String)
            let maxLen = try XCTUnwrap(testCase["max_len"] as? Int)
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any])
            let padded: (ids: [Int64], count: Int)
            if let context = testCase["context"] as? [String] {
                padded = try tokenizer.encodeDialogue(context: context, target: text, maxLen: maxLen)
            } else {
                XCTAssertEqual(WordTokenizer.tokenize(text), try XCTUnwrap(expected["tokens"] as? [String]), "tokens of \(text)")
                XCTAssertEqual(tokenizer.ids(text), try XCTUnwrap(Self.ids(expected["ids"])), "ids of \(text)")
                padded = try tokenizer.encode(text, maxLen: maxLen)
            }
            XCTAssertEqual(padded.ids, try XCTUnwrap(Self.ids(expected["padded"])), "padded \(text)")
            XCTAssertEqual(padded.count, try XCTUnwrap(expected["valid"] as? Int), "valid \(text)")
        }
    }

    func testTheContractVocabularyIsTheManifestsVocabulary() throws {
        let document = try Contract.document("tokenizer.json")
        let manifest = try Contract.manifest(try XCTUnwrap(document["manifest"] as? String))
        let text = try XCTUnwrap(manifest.spec.modalities.first { $0.kind == .tokens })
        XCTAssertEqual(text.vocabulary, try XCTUnwrap(document["vocabulary"] as? [String]))
    }

    static func ids(_ value: Any?) -> [Int64]? {
        (value as? [NSNumber])?.map(\.int64Value)
    }
}
