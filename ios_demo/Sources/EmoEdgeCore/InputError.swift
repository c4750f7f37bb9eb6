import Foundation

/// What is wrong with an input, for code (the cross-language contract compares these
/// raw values with Python's `InputError.kind`, see contract/README.md).
public enum InputErrorKind: String, Codable, CaseIterable {
    case invalidInput = "invalid_input"
    case unknownModality = "unknown_modality"
    case allAbsent = "all_absent"
    case wrongType = "wrong_type"
    case wrongDtype = "wrong_dtype"
    case tokenOutOfRange = "token_out_of_range"
    case nonFinite = "non_finite"
    case textForNonToken = "text_for_non_token"
    case emptyText = "empty_text"
    case textTooLong = "text_too_long"
    case wrongShape = "wrong_shape"
    case zeroSteps = "zero_steps"
    case overflow
    case batchMismatch = "batch_mismatch"
    case batchTooLarge = "batch_too_large"
    case timestampOutOfOrder = "timestamp_out_of_order"
}

/// An input the model cannot take; `message` says which modality, what was expected
/// and what to do (sdk/inputs.py `InputError`).
public struct InputError: Error, Equatable, CustomStringConvertible {
    public let kind: InputErrorKind
    public let message: String

    public init(_ kind: InputErrorKind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
