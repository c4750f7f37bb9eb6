import XCTest
@testable import EmoEdgeCore

/// contract/face_crop.json (sdk/face.py crop_face on fixed images and boxes: the bytes must
/// match exactly) and contract/manifest_parsing.json (what Python reads from every contract
/// manifest, live kinds included).
final class LiveContractTests: XCTestCase {
    func testEveryFaceCropCase() throws {
        let document = try Contract.document("face_crop.json")
        XCTAssertEqual(document["size"] as? Int, FaceCrop.size)
        XCTAssertEqual(document["margin"] as? Double, FaceCrop.margin)
        var crops = 0
        for testCase in try Contract.cases("face_crop.json") {
            let name = testCase["name"] as? String ?? "?"
            let image = try XCTUnwrap(testCase["image"] as? [String: Any], name)
            let bytes = try XCTUnwrap(image["data"] as? [Int], name).map { UInt8($0) }
            let gray = try GrayImage.fromColor(bytes, width: try XCTUnwrap(image["width"] as? Int),
                                               height: try XCTUnwrap(image["height"] as? Int),
                                               channels: try XCTUnwrap(image["channels"] as? Int))
            let b = try XCTUnwrap(Contract.doubles(testCase["box"]), name)
            let box = FaceBox(left: b[0], top: b[1], width: b[2], height: b[3])
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any], name)
            if let kind = expected["error"] as? String {
                XCTAssertEqual(kind, "invalid_box", name)
                XCTAssertThrowsError(try FaceCrop.crop(gray, box: box), name)
                continue
            }
            let crop = try FaceCrop.crop(gray, box: box)
            XCTAssertEqual(expected["shape"] as? [Int], [FaceCrop.size, FaceCrop.size], name)
            XCTAssertEqual(crop.map(Int.init), try XCTUnwrap(expected["data"] as? [Int], name), name)
            crops += 1
        }
        XCTAssertGreaterThanOrEqual(crops, 6)
    }

    func testTheVoiceActivityRule() throws {
        let document = try Contract.document("vad.json")
        let rule = try XCTUnwrap(document["rule"] as? [String: Any])
        var vad = VoiceActivityRule()
        vad.threshold = try XCTUnwrap(Contract.double(rule["threshold"]))
        vad.negThreshold = try XCTUnwrap(Contract.double(rule["neg_threshold"]))
        vad.minSpeechMs = try XCTUnwrap(Contract.double(rule["min_speech_ms"]))
        vad.minSilenceMs = try XCTUnwrap(Contract.double(rule["min_silence_ms"]))
        vad.frameMs = try XCTUnwrap(Contract.double(rule["frame"])) * 1000 / XCTUnwrap(Contract.double(rule["sample_rate"]))
        let cases = try Contract.cases("vad.json")
        for testCase in cases {
            let name = testCase["name"] as? String ?? "?"
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any], name)
            // Rule cases give the probabilities; PCM cases give Silero's (the rule applies to those too).
            let source = testCase["pcm"] == nil ? testCase["probabilities"] : expected["probabilities"]
            let probabilities = try XCTUnwrap(Contract.doubles(source), name)
            let segments = vad.segments(probabilities).map { [$0.startFrame, $0.endFrame] }
            XCTAssertEqual(segments, expected["segments"] as? [[Int]], name)
            XCTAssertEqual(vad.hasSpeech(probabilities), expected["speech"] as? Bool, name)
        }
        XCTAssertGreaterThanOrEqual(cases.count, 8)
    }

    func testEveryManifestParsesAsPythonReadsIt() throws {
        let cases = try Contract.cases("manifest_parsing.json")
        for testCase in cases {
            let file = try XCTUnwrap(testCase["manifest"] as? String)
            let manifest = try Contract.manifest(file)
            let expected = try XCTUnwrap(testCase["expected"] as? [String: Any], file)
            XCTAssertEqual(manifest.format, expected["format"] as? String, file)
            XCTAssertEqual(manifest.classNames, expected["class_names"] as? [String], file)
            let dtypes = try XCTUnwrap(expected["input_dtypes"] as? [String: String], file)
            for input in manifest.inputs { XCTAssertEqual(input.dtype, dtypes[input.name], "\(file) \(input.name)") }
            let modalities = try XCTUnwrap(expected["modalities"] as? [[String: Any]], file)
            XCTAssertEqual(manifest.spec.modalities.map(\.name), modalities.compactMap { $0["name"] as? String }, file)
            for (modality, want) in zip(manifest.spec.modalities, modalities) {
                let at = "\(file) \(modality.name)"
                XCTAssertEqual(modality.kind.rawValue, want["kind"] as? String, at)
                XCTAssertEqual(modality.seqLen, want["seq_len"] as? Int, at)
                XCTAssertEqual(modality.stepShape, want["step_shape"] as? [Int], at)
                XCTAssertEqual([1] + modality.inputShape, want["input_shape"] as? [Int], at)
                XCTAssertEqual(modality.sampleRate, want["sample_rate"] as? Int, at)
                XCTAssertEqual(modality.winLength, want["win_length"] as? Int, at)
                XCTAssertEqual(modality.hopLength, want["hop_length"] as? Int, at)
                XCTAssertEqual(modality.nMels, want["n_mels"] as? Int, at)
                XCTAssertEqual(modality.fmin, Contract.double(want["fmin"]), at)
                XCTAssertEqual(modality.fmax, Contract.double(want["fmax"]), at)
                XCTAssertEqual(modality.nFrames, want["n_frames"] as? Int, at)
                XCTAssertEqual(modality.normalizeInGraph, want["normalize_in_graph"] as? Bool, at)
                XCTAssertEqual(modality.encoder, want["encoder"] as? String, at)
                XCTAssertEqual(modality.normalization.mean.count, want["normalization_size"] as? Int, at)
            }
        }
        XCTAssertGreaterThanOrEqual(cases.count, 4)
    }
}
