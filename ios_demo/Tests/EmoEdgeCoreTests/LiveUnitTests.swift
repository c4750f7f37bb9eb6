import XCTest
@testable import EmoEdgeCore

/// The live path's core (the Kotlin core's LiveTest): text, replayed samples, microphone PCM and
/// face crops into the model's inputs, each absent modality with its reason.
final class LiveUnitTests: XCTestCase {
    private func live() throws -> ModelManifest { try Contract.manifest("live_small.json") }

    func testEveryKeystrokeReplacesTheText() throws {
        let manifest = try live()
        var inputs = try LiveInputs(modalities: manifest.spec.modalities)
        var t = 0.0
        for typed in ["i", "i am", "i am so", "i am so happy"] {
            try inputs.onText("text", typed, timestampMs: t)
            t += 1
        }
        let tokenizer = try WordTokenizer(vocabulary: try XCTUnwrap(manifest.spec.modality(named: "text")).vocabulary)
        XCTAssertEqual(inputs.snapshot(atMs: t).inputs["text"], .tokenIds(tokenizer.ids("i am so happy")))
        try inputs.onText("text", "  ", timestampMs: t)
        XCTAssertNil(inputs.snapshot(atMs: t).inputs["text"])
        XCTAssertEqual(inputs.snapshot(atMs: t).absent["text"], "no text")
    }

    func testAReplayedSampleReplacesThePreviousOne() throws {
        let manifest = try Contract.manifest("synthetic_tokens.json")
        let audio = try XCTUnwrap(manifest.spec.modality(named: "audio"))
        var inputs = try LiveInputs(modalities: manifest.spec.modalities, staleAfterMs: nil)
        try inputs.onReplay(["audio": .floats([Float](repeating: 1, count: 10 * audio.stepSize))], timestampMs: 0)
        try inputs.onReplay(["audio": .floats([Float](repeating: 2, count: 4 * audio.stepSize))], timestampMs: 1)
        XCTAssertEqual(inputs.snapshot(atMs: 1).inputs["audio"],
                       .floats(shape: [4, audio.featureDim], values: [Float](repeating: 2, count: 4 * audio.stepSize)))
        let missing: [String: WindowSteps?] = ["audio": nil]
        try inputs.onReplay(missing, timestampMs: 2)
        XCTAssertEqual(inputs.snapshot(atMs: 2).absent["audio"], "absent in the recorded sample")
    }

    func testMicrophonePcmSlidesThroughTheWindow() throws {
        let manifest = try live()
        var inputs = try LiveInputs(modalities: manifest.spec.modalities)
        let chunk = (0..<200).map { Float($0) / 256 }
        for k in 0..<3 { try inputs.onPcm("audio", chunk, timestampMs: Double(k) * 10) }
        let expected = Array((0..<600).map { chunk[$0 % 200] }.suffix(480))
        XCTAssertEqual(inputs.snapshot(atMs: 20).inputs["audio"], .floats(shape: [480], values: expected))
        let packed = try InputPacker(manifest: manifest).pack(inputs.snapshot(atMs: 20).inputs)
        XCTAssertEqual(packed.tensors[0], .float32(name: "audio", shape: [1, 480], values: expected))
    }

    func testPcm16AndResampling() {
        XCTAssertEqual(Pcm.floats([Int16.min, 0, 16384, Int16.max]), [-1, 0, 0.5, Float(32767) / 32768])
        XCTAssertEqual(Pcm.resampleLinear([0, 1, 2, 3, 4, 5], from: 48000, to: 16000), [0, 3])
        XCTAssertEqual(Pcm.resampleLinear([0, 2], from: 8000, to: 16000), [0, 1, 2, 2])
    }

    func testAFaceCropIsOneRawFrameAndNoFaceIsAbsent() throws {
        let manifest = try live()
        var inputs = try LiveInputs(modalities: manifest.spec.modalities)
        let crop = (0..<64).map { UInt8($0 * 4) }
        try inputs.onFace("video", crop, timestampMs: 0)
        try inputs.onFace("video", crop, timestampMs: 1)
        XCTAssertEqual(inputs.snapshot(atMs: 1).inputs["video"], .floats(shape: [1, 1, 8, 8], values: crop.map(Float.init)))
        try inputs.onFace("video", nil, timestampMs: 2)
        XCTAssertNil(inputs.snapshot(atMs: 2).inputs["video"])
        XCTAssertEqual(inputs.snapshot(atMs: 2).absent["video"], "no face")
        try inputs.setEnabled("audio", false)
        XCTAssertEqual(inputs.snapshot(atMs: 2).absent["audio"], "switched off")
    }

    func testVisionBoxesAndBgraGray() throws {
        // Vision: origin bottom-left, normalized. A box at the top-left quarter of a 200 x 100 image.
        let box = FaceBox.fromVision(x: 0, y: 0.5, width: 0.5, height: 0.5, imageWidth: 200, imageHeight: 100)
        XCTAssertEqual(box, FaceBox(left: 0, top: 0, width: 100, height: 50))
        let rgba: [UInt8] = [200, 100, 50, 255, 10, 20, 30, 0]
        let bgra: [UInt8] = [50, 100, 200, 255, 30, 20, 10, 0]
        XCTAssertEqual(try GrayImage.fromColor(rgba, width: 2, height: 1, channels: 4),
                       try GrayImage.fromColor(bgra, width: 2, height: 1, channels: 4, bgr: true))
        // Padded rows (bytesPerRow 12 for 2 BGRA pixels) read the same pixels.
        let padded: [UInt8] = bgra + [9, 9, 9, 9]
        XCTAssertEqual(try GrayImage.fromColor(padded, width: 2, height: 1, channels: 4, bgr: true, rowBytes: 12).pixels,
                       try GrayImage.fromColor(bgra, width: 2, height: 1, channels: 4, bgr: true).pixels)
        XCTAssertEqual(FaceBox.pick([FaceBox(left: 0, top: 0, width: 10, height: 10), FaceBox(left: 0, top: 0, width: 20, height: 30)])?.width, 20)
    }

    func testLiteRtTokenIdsAreNarrowedToInt32() throws {
        let manifest = try live()
        XCTAssertEqual(manifest.inputs.map(\.dtype), ["float32", "float32", "int32", "float32"])
        let packed = try InputPacker(manifest: manifest).pack(["text": .text("i am so happy")])
        guard case .int64(_, _, let ids) = packed.tensors[2] else { return XCTFail("text is not int64") }
        let narrowed = try packed.tensors[2].bytes(as: manifest.inputs[2].dtype)
        XCTAssertEqual(narrowed.count, ids.count * 4)
        let values = narrowed.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        XCTAssertEqual(values.map(Int64.init), ids)
        XCTAssertEqual(try packed.tensors[2].bytes(as: "int64").count, ids.count * 8)
        XCTAssertThrowsError(try packed.tensors[0].bytes(as: "int32"))
    }
}
