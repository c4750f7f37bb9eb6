import AVFoundation
import CoreVideo
import Foundation
import Vision
import EmoEdgeCore

/// The front camera through AVCaptureSession, delivered upright (portrait rotation) and mirrored
/// (the picture the user sees in the preview), so the face box Vision finds and the pixels it is
/// cropped from are the same image.
///
/// - A face modality (`encoder == "face"`): Vision's face rectangles on each frame (at most
///   `facesPerSecond`), the largest face cropped by the shared rule (`FaceCrop`, sdk/face.py) to
///   size x size gray, or nil when there is no face.
/// - An older `frames` modality: each frame box-downsampled to C x H x W in [0, 1].
/// - Otherwise the preview only.
final class CameraCapture: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate {
    enum Mode {
        case preview
        case face(size: Int)
        case frames(channels: Int, height: Int, width: Int)
    }

    let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "emoedge.camera")
    private var mode: Mode = .preview
    private var lastFaceTime: TimeInterval = 0
    /// At most this many face detections per second (Vision plus a crop per frame is not free).
    var facesPerSecond: Double = 5
    /// A face crop (size * size gray bytes), or nil when no face was found, on the camera queue.
    var onFace: (([UInt8]?) -> Void)?
    /// One step (C*H*W floats) per frame for an older frames modality, on the camera queue.
    var onStep: (([Float]) -> Void)?

    static func requestPermission() async -> Bool {
        await AVCaptureDevice.requestAccess(for: .video)
    }

    func start(mode: Mode) throws {
        self.mode = mode
        guard session.inputs.isEmpty else {
            queue.async { [session] in if !session.isRunning { session.startRunning() } }
            return
        }
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
        if let connection = output.connection(with: .video) {
            // Upright portrait buffers, mirrored like the front camera's preview.
            if connection.isVideoRotationAngleSupported(90) { connection.videoRotationAngle = 90 }
            if connection.isVideoMirroringSupported {
                connection.automaticallyAdjustsVideoMirroring = false
                connection.isVideoMirrored = true
            }
        }
        session.commitConfiguration()
        queue.async { [session] in session.startRunning() }
    }

    func stop() {
        queue.async { [session] in session.stopRunning() }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer,
                       from connection: AVCaptureConnection) {
        guard let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        switch mode {
        case .preview:
            return
        case .frames(let channels, let height, let width):
            onStep?(Self.step(from: pixels, channels: channels, height: height, width: width))
        case .face(let size):
            let now = ProcessInfo.processInfo.systemUptime
            guard now - lastFaceTime >= 1 / facesPerSecond else { return }
            lastFaceTime = now
            onFace?(Self.faceCrop(from: pixels, size: size))
        }
    }

    /// Vision's face rectangles on the (upright, mirrored) frame; the largest face cropped by the
    /// shared rule from the same frame's gray pixels; nil when there is no face.
    static func faceCrop(from pixels: CVPixelBuffer, size: Int) -> [UInt8]? {
        let request = VNDetectFaceRectanglesRequest()
        let handler = VNImageRequestHandler(cvPixelBuffer: pixels, orientation: .up, options: [:])
        do { try handler.perform([request]) } catch { return nil }
        let width = CVPixelBufferGetWidth(pixels), height = CVPixelBufferGetHeight(pixels)
        let boxes = (request.results ?? []).map { face in
            FaceBox.fromVision(x: Double(face.boundingBox.origin.x), y: Double(face.boundingBox.origin.y),
                               width: Double(face.boundingBox.width), height: Double(face.boundingBox.height),
                               imageWidth: width, imageHeight: height, score: Double(face.confidence))
        }
        guard let box = FaceBox.pick(boxes), let gray = grayImage(pixels) else { return nil }
        return try? FaceCrop.crop(gray, box: box, size: size)
    }

    /// The BGRA frame as the crop rule's gray (integer BT.601, rows may be padded).
    static func grayImage(_ pixels: CVPixelBuffer) -> GrayImage? {
        CVPixelBufferLockBaseAddress(pixels, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixels, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddress(pixels) else { return nil }
        let width = CVPixelBufferGetWidth(pixels), height = CVPixelBufferGetHeight(pixels)
        let rowBytes = CVPixelBufferGetBytesPerRow(pixels)
        let bytes = [UInt8](UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: rowBytes * height))
        return try? GrayImage.fromColor(bytes, width: width, height: height, channels: 4, bgr: true, rowBytes: rowBytes)
    }

    /// Box-average a BGRA frame down to channels x height x width floats in [0, 1] (older frames models).
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
    case noConverter(from: String, rate: Int)

    var description: String {
        switch self {
        case .noCamera: return "no front camera (the simulator has none; run on an iPhone)"
        case .noConverter(let from, let rate): return "cannot convert the microphone's \(from) to \(rate) Hz mono Float32"
        }
    }
}
