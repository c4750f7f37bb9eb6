import Foundation

/// A face detection in pixels of the upright image, origin top-left: left, top, width, height.
public struct FaceBox: Equatable {
    public let left: Double
    public let top: Double
    public let width: Double
    public let height: Double
    /// The detector's confidence, used only to pick one face.
    public let score: Double

    public init(left: Double, top: Double, width: Double, height: Double, score: Double = 1) {
        self.left = left
        self.top = top
        self.width = width
        self.height = height
        self.score = score
    }

    public var area: Double { width * height }

    /// The face the model looks at when several are found: the largest box (ties: the higher score).
    public static func pick(_ boxes: [FaceBox]) -> FaceBox? {
        boxes.filter { $0.width > 0 && $0.height > 0 }
            .max { ($0.area, $0.score) < ($1.area, $1.score) }
    }

    /// Vision's normalized bounding box (origin bottom-left, 0...1) as pixels with origin top-left
    /// in an image of `imageWidth` x `imageHeight` (the one Vision looked at).
    public static func fromVision(x: Double, y: Double, width: Double, height: Double,
                                  imageWidth: Int, imageHeight: Int, score: Double = 1) -> FaceBox {
        let w = Double(imageWidth), h = Double(imageHeight)
        return FaceBox(left: x * w, top: (1 - y - height) * h, width: width * w, height: height * h, score: score)
    }
}

/// An 8-bit gray image, row-major.
public struct GrayImage: Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width >= 1, height >= 1, pixels.count == width * height else {
            throw FaceCropError.badImage("a gray image needs width, height >= 1 and width * height pixels; got \(width) x \(height), \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    @inline(__always) func pixel(_ x: Int, _ y: Int) -> Double { Double(pixels[y * width + x]) }

    /// Gray from interleaved 8-bit color: 1 channel as is, 3 (RGB) or 4 (RGBA, alpha ignored) by
    /// `(77 R + 150 G + 29 B + 128) >> 8` in integers (sdk/face.py to_gray, ITU-R BT.601). `bgr`: the
    /// bytes are B, G, R(, A), as in a `kCVPixelFormatType_32BGRA` camera buffer. `rowBytes`: bytes
    /// per row when rows are padded (a CVPixelBuffer's bytesPerRow); nil = packed.
    public static func fromColor(_ data: [UInt8], width: Int, height: Int, channels: Int, bgr: Bool = false,
                                 rowBytes: Int? = nil) throws -> GrayImage {
        guard [1, 3, 4].contains(channels) else {
            throw FaceCropError.badImage("crop_face takes gray, RGB or RGBA pixels, got \(channels) channels")
        }
        let stride = rowBytes ?? width * channels
        guard width >= 1, height >= 1, stride >= width * channels, data.count >= stride * (height - 1) + width * channels else {
            throw FaceCropError.badImage("\(width) x \(height) x \(channels) pixels need \(stride * (height - 1) + width * channels) bytes, got \(data.count)")
        }
        var out = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let at = y * stride + x * channels
                if channels == 1 {
                    out[y * width + x] = data[at]
                    continue
                }
                let first = Int(data[at]), green = Int(data[at + 1]), third = Int(data[at + 2])
                let red = bgr ? third : first, blue = bgr ? first : third
                out[y * width + x] = UInt8((77 * red + 150 * green + 29 * blue + 128) >> 8)
            }
        }
        return try GrayImage(width: width, height: height, pixels: out)
    }
}

public enum FaceCropError: Error, Equatable, CustomStringConvertible {
    case invalidBox(String)
    case badImage(String)

    public var description: String {
        switch self {
        case .invalidBox(let what), .badImage(let what): return what
        }
    }
}

/// The one face crop-and-resize rule of emoedge (sdk/face.py `crop_face`), step by step so that
/// Python, Kotlin and Swift give the same bytes (contract/face_crop.json): gray; the box made a
/// square around its centre with side max(w, h) * 1.2, not shifted at the border (outside pixels
/// read as the nearest edge pixel); bilinear resize to size x size with half-pixel centres in
/// Double; round half up and clamp to 0...255. The model takes the crop as Float 0...255 and
/// normalizes it in the graph.
public enum FaceCrop {
    public static let size = 48
    public static let margin = 0.1

    /// (x0, y0, side) of the square crop around `box` (sdk/face.py square_box).
    public static func squareBox(_ box: FaceBox, margin: Double = FaceCrop.margin) throws -> (x0: Double, y0: Double, side: Double) {
        guard box.width > 0, box.height > 0 else {
            throw FaceCropError.invalidBox("the face box needs width and height > 0, got \(box.width) x \(box.height)")
        }
        let side = max(box.width, box.height) * (1.0 + 2.0 * margin)
        let cx = box.left + box.width / 2.0, cy = box.top + box.height / 2.0
        return (cx - side / 2.0, cy - side / 2.0, side)
    }

    /// The `size` x `size` gray crop (row-major) of `image` for `box`.
    public static func crop(_ image: GrayImage, box: FaceBox, size: Int = FaceCrop.size,
                            margin: Double = FaceCrop.margin) throws -> [UInt8] {
        guard size >= 1 else { throw FaceCropError.invalidBox("size must be >= 1") }
        let (x0, y0, side) = try squareBox(box, margin: margin)
        let lastX = Double(image.width - 1), lastY = Double(image.height - 1)
        var xLo = [Int](repeating: 0, count: size), xHi = xLo, yLo = xLo, yHi = xLo
        var fx = [Double](repeating: 0, count: size), fy = fx
        for k in 0..<size {
            // The same Double operations in the same order as numpy: (k + 0.5) * side / size - 0.5.
            let centre = (Double(k) + 0.5) * side / Double(size) - 0.5
            let xs = x0 + centre, ys = y0 + centre
            let xf = xs.rounded(.down), yf = ys.rounded(.down)
            fx[k] = xs - xf
            fy[k] = ys - yf
            xLo[k] = Int(min(lastX, max(0, xf)))
            xHi[k] = Int(min(lastX, max(0, xf + 1)))
            yLo[k] = Int(min(lastY, max(0, yf)))
            yHi[k] = Int(min(lastY, max(0, yf + 1)))
        }
        var out = [UInt8](repeating: 0, count: size * size)
        for i in 0..<size {
            let a = fy[i]
            for j in 0..<size {
                let b = fx[j]
                let p00 = image.pixel(xLo[j], yLo[i]), p10 = image.pixel(xHi[j], yLo[i])
                let p01 = image.pixel(xLo[j], yHi[i]), p11 = image.pixel(xHi[j], yHi[i])
                let top = (1 - b) * p00 + b * p10
                let bottom = (1 - b) * p01 + b * p11
                let v = (1 - a) * top + a * bottom
                out[i * size + j] = UInt8(min(255, max(0, (v + 0.5).rounded(.down))))
            }
        }
        return out
    }

    /// A crop as the model's one-frame input: shape [1, 1, size, size], Float 0...255.
    public static func frame(_ crop: [UInt8]) -> ModalityInput {
        let side = Int(Double(crop.count).squareRoot())
        return .floats(shape: [1, 1, side, side], values: crop.map { Float($0) })
    }
}
