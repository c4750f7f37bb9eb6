import AVFoundation
import Foundation

/// The microphone through AVAudioEngine: a level meter on screen. The exported models
/// take precomputed audio features (COVAREP for MOSI, 12-d for the synthetic set) that
/// an iPhone does not compute, so the level shows the microphone works while the model
/// gets replayed features (the screen says so).
final class MicrophoneCapture {
    private let engine = AVAudioEngine()
    /// RMS level of the latest buffer in dBFS, on the main queue.
    var onLevel: ((Float) -> Void)?

    static func requestPermission() async -> Bool {
        await withCheckedContinuation { continuation in
            AVAudioApplication.requestRecordPermission { continuation.resume(returning: $0) }
        }
    }

    func start() throws {
        let session = AVAudioSession.sharedInstance()
        try session.setCategory(.record, mode: .measurement)
        try session.setActive(true)
        let input = engine.inputNode
        let format = input.outputFormat(forBus: 0)
        input.removeTap(onBus: 0)
        input.installTap(onBus: 0, bufferSize: 1024, format: format) { [weak self] buffer, _ in
            guard let channel = buffer.floatChannelData?.pointee, buffer.frameLength > 0 else { return }
            var sum: Float = 0
            for index in 0..<Int(buffer.frameLength) { sum += channel[index] * channel[index] }
            let rms = (sum / Float(buffer.frameLength)).squareRoot()
            let decibels = 20 * log10(max(rms, 1e-7))
            DispatchQueue.main.async { self?.onLevel?(decibels) }
        }
        engine.prepare()
        try engine.start()
    }

    func stop() {
        engine.inputNode.removeTap(onBus: 0)
        engine.stop()
    }
}
