import Foundation

/// The word tokenizer of sdk/tokenizer.py, reproduced exactly: the same cleaning,
/// the same token pattern `\w+(?:'\w+)*|\.\.\.|[^\w\s]` with Python's Unicode
/// meaning of `\w` and `\s`, applied to Unicode scalars (Python's code points, not
/// Swift's grapheme clusters).
///
/// Vocabulary: index = token id; 0 `<pad>`, 1 `<unk>`, 2 `<sep>`, then the words.
public struct WordTokenizer: Equatable {
    public static let pad = "<pad>", unk = "<unk>", sep = "<sep>"
    public static let padId: Int64 = 0, unkId: Int64 = 1, sepId: Int64 = 2

    public let vocabulary: [String]
    private let index: [String: Int64]

    public init(vocabulary: [String]) throws {
        guard Array(vocabulary.prefix(3)) == [Self.pad, Self.unk, Self.sep] else {
            throw TokenizerError.badVocabulary("a vocabulary must start with <pad>, <unk>, <sep>, got \(vocabulary.prefix(3))")
        }
        var index: [String: Int64] = [:]
        for (id, word) in vocabulary.enumerated() {
            guard index[word] == nil else { throw TokenizerError.badVocabulary("duplicate entry \"\(word)\"") }
            index[word] = Int64(id)
        }
        self.vocabulary = vocabulary
        self.index = index
    }

    public static func == (lhs: WordTokenizer, rhs: WordTokenizer) -> Bool { lhs.vocabulary == rhs.vocabulary }

    // MARK: cleaning and splitting

    private static let replacements: [Unicode.Scalar: String] = [
        "\u{2019}": "'", "\u{2018}": "'", "\u{201B}": "'", "\u{2032}": "'", "`": "'",
        "\u{201C}": "\"", "\u{201D}": "\"", "\u{201E}": "\"",
        "\u{2014}": "-", "\u{2013}": "-", "\u{2012}": "-", "\u{2010}": "-",
        "\u{2026}": "...", "\u{00A0}": " ",
    ]

    /// Typographic punctuation to ASCII, then lowercase (Python `clean_text`).
    public static func cleanText(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if let replacement = replacements[scalar] {
                out.append(contentsOf: replacement.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return lowercase(Array(out))
    }

    /// Python's `str.lower()`: each scalar's full lowercase mapping, with the one
    /// context rule Python applies (a capital sigma ending a word becomes final sigma).
    static func lowercase(_ scalars: [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        for (position, scalar) in scalars.enumerated() {
            if scalar == "\u{03A3}" {
                out.append(isFinalSigma(scalars, at: position) ? "\u{03C2}" : "\u{03C3}")
            } else {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    private static func isFinalSigma(_ scalars: [Unicode.Scalar], at position: Int) -> Bool {
        var before = position - 1
        while before >= 0 && scalars[before].properties.isCaseIgnorable { before -= 1 }
        guard before >= 0 && scalars[before].properties.isCased else { return false }
        var after = position + 1
        while after < scalars.count && scalars[after].properties.isCaseIgnorable { after += 1 }
        return !(after < scalars.count && scalars[after].properties.isCased)
    }

    /// Python's `\w` for str patterns: `str.isalnum()` or "_".
    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" { return true }
        let properties = scalar.properties
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return true
        default:
            return properties.numericType != nil
        }
    }

    /// Python's `\s` for str patterns: `str.isspace()`.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x1F, 0x20, 0x85, 0xA0: return true
        default:
            return scalar.properties.isWhitespace || scalar.properties.generalCategory == .spaceSeparator
        }
    }

    /// The tokens of `text`: cleaned, lowercased words (with inner apostrophes), "..." and
    /// single punctuation marks.
    public static func tokenize(_ text: String) -> [String] {
        let scalars = Array(cleanText(text).unicodeScalars)
        var tokens: [String] = []
        var position = 0
        while position < scalars.count {
            let scalar = scalars[position]
            if isWord(scalar) {
                var end = position
                while end < scalars.count && isWord(scalars[end]) { end += 1 }
                // (?:'\w+)*: an apostrophe joins only when a word character follows it.
                while end + 1 < scalars.count && scalars[end] == "'" && isWord(scalars[end + 1]) {
                    end += 1
                    while end < scalars.count && isWord(scalars[end]) { end += 1 }
                }
                tokens.append(string(scalars[position..<end]))
                position = end
            } else if scalar == "." && position + 2 < scalars.count
                        && scalars[position + 1] == "." && scalars[position + 2] == "." {
                tokens.append("...")
                position += 3
            } else if isSpace(scalar) {
                position += 1
            } else {
                tokens.append(String(Character(scalar)))
                position += 1
            }
        }
        return tokens
    }

    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    // MARK: encoding

    /// Token ids of `text`, unpadded; unknown words are `<unk>`.
    public func ids(_ text: String) -> [Int64] {
        Self.tokenize(text).map { index[$0] ?? Self.unkId }
    }

    /// `maxLen` ids left-padded with 0, keeping the LAST `maxLen` tokens, and the number
    /// of real (non-padding) tokens.
    public func encode(_ text: String, maxLen: Int) throws -> (ids: [Int64], count: Int) {
        try Self.padLeft(ids(text), maxLen: maxLen)
    }

    /// Like `encode` for "c1 <sep> c2 <sep> ... <sep> target" (contexts oldest first).
    public func encodeDialogue(context: [String], target: String, maxLen: Int) throws -> (ids: [Int64], count: Int) {
        var all: [Int64] = []
        for text in context { all += ids(text) + [Self.sepId] }
        all += ids(target)
        return try Self.padLeft(all, maxLen: maxLen)
    }

    /// The tokens of `ids` with padding dropped (for display).
    public func decode(_ ids: [Int64]) -> [String] {
        ids.filter { $0 != Self.padId }.map { id in
            id >= 0 && id < Int64(vocabulary.count) ? vocabulary[Int(id)] : Self.unk
        }
    }

    static func padLeft(_ ids: [Int64], maxLen: Int) throws -> (ids: [Int64], count: Int) {
        guard maxLen >= 1 else { throw TokenizerError.badLength("max_len must be >= 1, got \(maxLen)") }
        let kept = Array(ids.suffix(maxLen))
        return (Array(repeating: Self.padId, count: maxLen - kept.count) + kept, kept.count)
    }
}

public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case badVocabulary(String)
    case badLength(String)

    public var description: String {
        switch self {
        case .badVocabulary(let what): return "bad tokenizer vocabulary: \(what)"
        case .badLength(let what): return what
        }
    }
}
