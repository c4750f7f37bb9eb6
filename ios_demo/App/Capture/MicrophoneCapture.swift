import AVFoundation
import Foundation

/// The microphone through AVAudioEngine. Every tapped buffer (the hardware format, often 48 kHz
/// and more than one channel) is converted by AVAudioConverter to mono Float32 PCM at the model's
/// sample rate (16 kHz for the live model) and handed to `onSamples`, which appends it to the
/// model's sliding window (the log-mel front end is inside the model). The level meter shows the
/// microphone works whatever the model takes.
final class MicrophoneCapture {
    private let engine = AVAudioEngine()
    /// RMS level of the latest buffer in dBFS, on the main queue.
    var onLevel: ((Float) -> Void)?
    /// Mono PCM in [-1, 1] at the rate given to `start`, on the audio thread.
    var onSamples: (([Float]) -> Void)?

    static func requestPermission() async -> Bool {
        await withCheckedContinuation { continuation in
            AVAudioApplication.requestRecordPermission { continuation.resume(returning: $0) }
        }
    }

    /// `sampleRate`: the waveform modality's rate, or nil for the level meter only.
    func start(sampleRate: Int?) throws {
        let session = AVAudioSession.sharedInstance()
        try session.setCategory(.record, mode: .measurement)
        try session.setActive(true)
        let input = engine.inputNode
        let format = input.outputFormat(forBus: 0)
        var converter: AVAudioConverter?
        var target: AVAudioFormat?
        if let rate = sampleRate {
            guard let mono = AVAudioFormat(commonFormat: .pcmFormatFloat32, sampleRate: Double(rate), channels: 1, interleaved: false),
                  let made = AVAudioConverter(from: format, to: mono) else {
                throw CaptureError.noConverter(from: format.description, rate: rate)
            }
            made.downmix = true
            converter = made
            target = mono
        }
        input.removeTap(onBus: 0)
        input.installTap(onBus: 0, bufferSize: 4096, format: format) { [weak self] buffer, _ in
            guard let self = self, buffer.frameLength > 0 else { return }
            self.reportLevel(buffer)
            if let converter = converter, let target = target, let samples = Self.convert(buffer, converter, target) {
                self.onSamples?(samples)
            }
        }
        engine.prepare()
        try engine.start()
    }

    func stop() {
        engine.inputNode.removeTap(onBus: 0)
        engine.stop()
    }

    private func reportLevel(_ buffer: AVAudioPCMBuffer) {
        guard let channel = buffer.floatChannelData?.pointee else { return }
        var sum: Float = 0
        for index in 0..<Int(buffer.frameLength) { sum += channel[index] * channel[index] }
        let rms = (sum / Float(buffer.frameLength)).squareRoot()
        let decibels = 20 * log10(max(rms, 1e-7))
        DispatchQueue.main.async { [weak self] in self?.onLevel?(decibels) }
    }

    /// One tapped buffer in the target format (mono Float32 at the model's rate), or nil on a converter error.
    static func convert(_ buffer: AVAudioPCMBuffer, _ converter: AVAudioConverter, _ target: AVAudioFormat) -> [Float]? {
        let ratio = target.sampleRate / buffer.format.sampleRate
        let capacity = AVAudioFrameCount((Double(buffer.frameLength) * ratio).rounded(.up)) + 32
        guard let output = AVAudioPCMBuffer(pcmFormat: target, frameCapacity: capacity) else { return nil }
        var handedOver = false
        var error: NSError?
        let status = converter.convert(to: output, error: &error) { _, inputStatus in
            if handedOver {
                inputStatus.pointee = .noDataNow
                return nil
            }
            handedOver = true
            inputStatus.pointee = .haveData
            return buffer
        }
        guard status != .error, error == nil, let channel = output.floatChannelData?.pointee else { return nil }
        return Array(UnsafeBufferPointer(start: channel, count: Int(output.frameLength)))
    }
}
