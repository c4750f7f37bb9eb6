package ai.emoedge.core

import java.nio.ByteBuffer
import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min

/** A face detection in pixels of the upright image: left, top, width, height (MediaPipe's boundingBox). */
class FaceBox(
    val left: Double,
    val top: Double,
    val width: Double,
    val height: Double,
    /** The detector's confidence (0..1), used to pick one face; not part of the crop rule. */
    val score: Double = 1.0,
) {
    val area: Double get() = width * height

    companion object {
        /** The face the model looks at when several are found: the largest box (ties: the higher score). */
        fun pick(boxes: List<FaceBox>): FaceBox? =
            boxes.filter { it.width > 0 && it.height > 0 }.maxWithOrNull(compareBy({ it.area }, { it.score }))
    }
}

/**
 * An 8-bit gray image, row-major, [width] x [height] (values read as unsigned). The camera's Y
 * plane is one directly (the luma the crop rule's gray is meant to be); [fromPlane] also turns it
 * upright and mirrors it, so detection, crop and screen agree.
 */
class GrayImage(
    val width: Int,
    val height: Int,
    val pixels: ByteArray,
) {
    init {
        require(width >= 1 && height >= 1 && pixels.size == width * height) {
            "a gray image needs width, height >= 1 and width * height pixels; got $width x $height, ${pixels.size}"
        }
    }

    operator fun get(
        x: Int,
        y: Int,
    ): Int = pixels[y * width + x].toInt() and 0xff

    companion object {
        /**
         * The upright image from a camera plane (ImageProxy planes[0] of YUV_420_888: [rowStride] bytes
         * per row, [pixelStride] bytes per pixel). [rotationDegrees] (0, 90, 180, 270) is CameraX's
         * `imageInfo.rotationDegrees`: how far to turn the buffer clockwise to make it upright. [mirror]
         * flips it left-right afterwards: the front camera's picture as the user sees it in the
         * preview. Detection and crop both run on this one image, so the box always fits the pixels.
         */
        fun fromPlane(
            plane: ByteBuffer,
            rowStride: Int,
            pixelStride: Int,
            width: Int,
            height: Int,
            rotationDegrees: Int,
            mirror: Boolean,
        ): GrayImage {
            require(rotationDegrees in setOf(0, 90, 180, 270)) { "rotationDegrees must be 0, 90, 180 or 270, got $rotationDegrees" }
            val turned = rotationDegrees == 90 || rotationDegrees == 270
            val outW = if (turned) height else width
            val outH = if (turned) width else height
            val out = ByteArray(outW * outH)
            for (y in 0 until outH) {
                for (x0 in 0 until outW) {
                    val x = if (mirror) outW - 1 - x0 else x0
                    // (x, y) in the upright picture -> (sx, sy) in the sensor buffer
                    val sx: Int
                    val sy: Int
                    when (rotationDegrees) {
                        0 -> {
                            sx = x
                            sy = y
                        }

                        90 -> {
                            sx = y
                            sy = height - 1 - x
                        }

                        180 -> {
                            sx = width - 1 - x
                            sy = height - 1 - y
                        }

                        else -> {
                            sx = width - 1 - y
                            sy = x
                        }
                    }
                    out[y * outW + x0] = plane.get(sy * rowStride + sx * pixelStride)
                }
            }
            return GrayImage(outW, outH, out)
        }

        /**
         * Gray from interleaved 8-bit color, [channels] 3 (RGB) or 4 (RGBA, alpha ignored), or 1 (taken as is):
         * `(77 R + 150 G + 29 B + 128) >> 8`, integers only (sdk/face.py to_gray, ITU-R BT.601). [bgr]: the
         * bytes are B, G, R(, A), as in an iOS BGRA pixel buffer.
         */
        fun fromColor(
            data: ByteArray,
            width: Int,
            height: Int,
            channels: Int,
            bgr: Boolean = false,
        ): GrayImage {
            require(channels in setOf(1, 3, 4)) { "crop_face takes gray, RGB or RGBA pixels, got $channels channels" }
            require(data.size == width * height * channels) { "expected ${width * height * channels} bytes, got ${data.size}" }
            if (channels == 1) return GrayImage(width, height, data.copyOf())
            val out = ByteArray(width * height)
            for (i in 0 until width * height) {
                val a = data[i * channels].toInt() and 0xff
                val g = data[i * channels + 1].toInt() and 0xff
                val c = data[i * channels + 2].toInt() and 0xff
                val (r, b) = if (bgr) c to a else a to c
                out[i] = ((77 * r + 150 * g + 29 * b + 128) shr 8).toByte()
            }
            return GrayImage(width, height, out)
        }
    }
}

/**
 * The one face crop-and-resize rule of emoedge (sdk/face.py crop_face), step by step so that
 * Python, Kotlin and Swift produce the same bytes (contract/face_crop.json):
 *
 * 1. gray (see [GrayImage.fromColor]);
 * 2. the box becomes a square around its centre, side = max(width, height) * (1 + 2 * 0.1); it is
 *    not shifted at the border: outside pixels read as the nearest edge pixel;
 * 3. bilinear resize to size x size with half-pixel centres, in float64;
 * 4. round half up, clamp to 0..255.
 *
 * The model takes the crop as float32 0..255 and normalizes it in the graph.
 */
object FaceCrop {
    const val SIZE = 48
    const val MARGIN = 0.1

    /** (x0, y0, side) of the square crop around [box] (sdk/face.py square_box). */
    fun squareBox(
        box: FaceBox,
        margin: Double = MARGIN,
    ): DoubleArray {
        if (!(box.width > 0 && box.height > 0)) {
            throw IllegalArgumentException("the face box needs width and height > 0, got ${box.width} x ${box.height}")
        }
        val side = max(box.width, box.height) * (1.0 + 2.0 * margin)
        val cx = box.left + box.width / 2.0
        val cy = box.top + box.height / 2.0
        return doubleArrayOf(cx - side / 2.0, cy - side / 2.0, side)
    }

    /** The [size] x [size] gray crop (row-major, unsigned bytes) of [image] for [box]. */
    fun crop(
        image: GrayImage,
        box: FaceBox,
        size: Int = SIZE,
        margin: Double = MARGIN,
    ): ByteArray {
        require(size >= 1) { "size must be >= 1" }
        val (x0, y0, side) = squareBox(box, margin)
        val w = image.width
        val h = image.height
        // Per column / row: the clamped neighbours and the fractions (the same float64 operations in the same order as numpy).
        val xLo = IntArray(size)
        val xHi = IntArray(size)
        val fx = DoubleArray(size)
        val yLo = IntArray(size)
        val yHi = IntArray(size)
        val fy = DoubleArray(size)
        for (k in 0 until size) {
            val centre = (k + 0.5) * side / size - 0.5
            val xs = x0 + centre
            val ys = y0 + centre
            val xf = floor(xs)
            val yf = floor(ys)
            fx[k] = xs - xf
            fy[k] = ys - yf
            xLo[k] = clamp(xf, w - 1)
            xHi[k] = clamp(xf + 1, w - 1)
            yLo[k] = clamp(yf, h - 1)
            yHi[k] = clamp(yf + 1, h - 1)
        }
        val out = ByteArray(size * size)
        for (i in 0 until size) {
            val a = fy[i]
            for (j in 0 until size) {
                val b = fx[j]
                val p00 = image[xLo[j], yLo[i]].toDouble()
                val p10 = image[xHi[j], yLo[i]].toDouble()
                val p01 = image[xLo[j], yHi[i]].toDouble()
                val p11 = image[xHi[j], yHi[i]].toDouble()
                val v = (1 - a) * ((1 - b) * p00 + b * p10) + a * ((1 - b) * p01 + b * p11)
                out[i * size + j] = min(255.0, max(0.0, floor(v + 0.5))).toInt().toByte()
            }
        }
        return out
    }

    /** A crop as the model's one-frame input: shape (1, 1, size, size), float32 0..255 (normalized in the graph). */
    fun asFrame(crop: ByteArray): RawInput.Floats {
        val size = kotlin.math.sqrt(crop.size.toDouble()).toInt()
        require(size * size == crop.size) { "a crop is square, got ${crop.size} bytes" }
        return RawInput.Floats(intArrayOf(1, 1, size, size), FloatArray(crop.size) { (crop[it].toInt() and 0xff).toFloat() })
    }

    private fun clamp(
        v: Double,
        hi: Int,
    ): Int = min(hi.toDouble(), max(0.0, v)).toInt()
}
