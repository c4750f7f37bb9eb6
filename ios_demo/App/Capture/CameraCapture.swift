import AVFoundation
import CoreVideo
import Foundation

/// The front camera through AVCaptureSession. For a `frames` modality each video frame
/// becomes one model step: box-downsampled to the manifest's H x W, grey (C = 1) or RGB
/// (C = 3), values in [0, 1], channel-major (the model's C x H x W). For feature
/// modalities the camera only shows a preview and the model gets replayed features.
final class CameraCapture: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate {
    let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "emoedge.camera")
    private var stepShape: (channels: Int, height: Int, width: Int)?
    /// One step (C*H*W floats) per frame, on the camera queue.
    var onStep: (([Float]) -> Void)?

    static func requestPermission() async -> Bool {
        await AVCaptureDevice.requestAccess(for: .video)
    }

    /// `frameShape`: the frames modality's (C, H, W), or nil for preview only.
    func start(frameShape: (channels: Int, height: Int, width: Int)?) throws {
        stepShape = frameShape
        session.beginConfiguration()
        session.sessionPreset = .vga640x480
        guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .front) else {
            session.commitConfiguration()
            throw CaptureError.noCamera
        }
        let input = try AVCaptureDeviceInput(device: device)
        if session.canAddInput(input) { session.addInput(input) }
        let output = AVCaptureVideoDataOutput()
        output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA]
        output.alwaysDiscardsLateVideoFrames = true
        output.setSampleBufferDelegate(self, queue: queue)
        if session.canAddOutput(output) { session.addOutput(output) }
        session.commitConfiguration()
        queue.async { [session] in session.startRunning() }
    }

    func stop() {
        queue.async { [session] in session.stopRunning() }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer,
                       from connection: AVCaptureConnection) {
        guard let shape = stepShape, let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        onStep?(Self.step(from: pixels, channels: shape.channels, height: shape.height, width: shape.width))
    }

    /// Box-average a BGRA frame down to channels x height x width floats in [0, 1].
    static func step(from pixels: CVPixelBuffer, channels: Int, height: Int, width: Int) -> [Float] {
        CVPixelBufferLockBaseAddress(pixels, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixels, .readOnly) }
        var out = [Float](repeating: 0, count: channels * height * width)
        guard let base = CVPixelBufferGetBaseAddress(pixels) else { return out }
        let sourceWidth = CVPixelBufferGetWidth(pixels), sourceHeight = CVPixelBufferGetHeight(pixels)
        let rowBytes = CVPixelBufferGetBytesPerRow(pixels)
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        for y in 0..<height {
            let y0 = y * sourceHeight / height, y1 = max(y0 + 1, (y + 1) * sourceHeight / height)
            for x in 0..<width {
                let x0 = x * sourceWidth / width, x1 = max(x0 + 1, (x + 1) * sourceWidth / width)
                var blue: Float = 0, green: Float = 0, red: Float = 0
                for row in y0..<y1 {
                    for column in x0..<x1 {
                        let pixel = bytes + row * rowBytes + column * 4
                        blue += Float(pixel[0])
                        green += Float(pixel[1])
                        red += Float(pixel[2])
                    }
                }
                let scale = 1 / (Float((y1 - y0) * (x1 - x0)) * 255)
                let plane = height * width, index = y * width + x
                if channels >= 3 {
                    out[index] = red * scale
                    out[plane + index] = green * scale
                    out[2 * plane + index] = blue * scale
                } else {
                    out[index] = (0.299 * red + 0.587 * green + 0.114 * blue) * scale
                }
            }
        }
        return out
    }
}

enum CaptureError: Error, CustomStringConvertible {
    case noCamera

    var description: String {
        switch self {
        case .noCamera: return "no front camera (the simulator has none; run on an iPhone)"
        }
    }
}
