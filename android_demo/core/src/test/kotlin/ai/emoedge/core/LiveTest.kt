package ai.emoedge.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.nio.ByteBuffer

/**
 * The live path's core: microphone PCM, face crops and the text box into the model's inputs, and
 * the app fixes of issue 16 (keystrokes, replayed samples, permissions, LiteRT dtypes, ExecuTorch load status).
 */
class LiveTest {
    private val dir = File(System.getProperty("emoedge.contract.dir") ?: "../../contract")

    /** Litert, audio waveform 480 samples, video 1x8x8 face normalized in the graph, text 6 tokens (int32). */
    private fun live() = Manifest.parse(File(dir, "manifests/live_small.json").readText())

    private fun tokens() = Manifest.parse(File(dir, "manifests/synthetic_tokens.json").readText())

    @Test
    fun everyKeystrokeReplacesTheTextInsteadOfAppendingItAgain() {
        val m = live()
        val live = LiveInputs(m)
        var t = 0.0
        for (typed in listOf("i", "i am", "i am so", "i am so happy")) live.onText("text", typed, t++)
        val text = live.snapshot(t).inputs["text"] as RawInput.Tokens
        assertEquals(WordTokenizer(m.modality("text").vocabulary).ids("i am so happy"), text.ids.toList())
        // Deleting everything makes the text absent, with the reason.
        live.onText("text", "  ", t++)
        val snap = live.snapshot(t)
        assertNull(snap.inputs["text"])
        assertEquals("no text", snap.absent["text"])
    }

    @Test
    fun aLongTextKeepsItsLastTokensForTheWindow() {
        val m = live()
        val ids = LiveText(m.modality("text")).ids("i am so happy today not sad .")
        val all = WordTokenizer(m.modality("text").vocabulary).ids("i am so happy today not sad .")
        assertEquals(all.takeLast(6), ids!!.toList())
        // The packer takes it (no text_too_long for the live text box).
        InputPacker(m).pack(mapOf("text" to RawInput.Tokens(ids)))
    }

    @Test
    fun aReplayedSampleReplacesThePreviousOneInsteadOfSplicingOntoIt() {
        val m = tokens() // audio features 16 x 12: a replayed modality
        val audio = m.modality("audio")
        val live = LiveInputs(m, staleAfterMs = null)
        val first = FloatArray(10 * audio.stepSize) { 1f }
        val second = FloatArray(4 * audio.stepSize) { 2f }
        live.onReplay(mapOf("audio" to RawInput.Floats(intArrayOf(10, audio.featureDim), first)), 0.0)
        live.onReplay(mapOf("audio" to RawInput.Floats(intArrayOf(4, audio.featureDim), second)), 1.0)
        val window = live.snapshot(1.0).inputs["audio"] as RawInput.Floats
        assertEquals(listOf(4, audio.featureDim), window.shape.toList())
        assertArrayEquals(second, window.data, 0f)
        // A modality the recording lacks is absent, not the previous sample's.
        live.onReplay(mapOf("audio" to null), 2.0)
        assertEquals("absent in the recorded sample", live.snapshot(2.0).absent["audio"])
    }

    @Test
    fun microphonePcmSlidesThroughTheModelsWindow() {
        val m = live()
        val window = m.modality("audio").seqLen
        val live = LiveInputs(m)
        val chunk = ShortArray(200) { (it * 100 - 10000).toShort() }
        for (k in 0 until 3) live.onPcm16("audio", chunk, chunk.size, 10.0 * k) // 600 samples into a 480-sample window
        val audio = live.snapshot(20.0).inputs["audio"] as RawInput.Floats
        assertEquals(listOf(window), audio.shape.toList())
        val expected = (0 until 600).map { chunk[it % 200].toFloat() / 32768f }.takeLast(window)
        assertEquals(expected, audio.data.toList())
        // The packed input is the raw PCM (normalized in the graph), shape (1, 480).
        val packed = InputPacker(m).pack(live.snapshot(20.0).inputs)
        assertEquals(listOf(1L, window.toLong()), packed.tensors[0].shape.toList())
        assertArrayEquals(audio.data, packed.tensors[0].floats, 0f)
        // Only [count] samples of a read are taken (AudioRecord fills part of its buffer).
        val partial = LiveInputs(m)
        partial.onPcm16("audio", chunk, 50, 0.0)
        assertEquals(50, (partial.snapshot(0.0).inputs["audio"] as RawInput.Floats).data.size)
    }

    @Test
    fun pcm16IsScaledLikePython() {
        assertArrayEquals(
            floatArrayOf(-1f, 0f, 0.5f, 32767f / 32768f),
            Pcm.toFloat(shortArrayOf(Short.MIN_VALUE, 0, 16384, Short.MAX_VALUE)),
            0f,
        )
    }

    @Test
    fun aSwitchedOffOrStaleModalityIsAbsentWithItsReason() {
        val m = live()
        val live = LiveInputs(m, staleAfterMs = 100.0)
        live.onPcm16("audio", ShortArray(10) { 5 }, 10, 0.0)
        assertEquals("no recent input", live.snapshot(500.0).absent["audio"])
        live.setEnabled("audio", false)
        live.onPcm16("audio", ShortArray(10) { 5 }, 10, 600.0)
        val snap = live.snapshot(600.0)
        assertNull(snap.inputs["audio"])
        assertEquals("switched off", snap.absent["audio"])
    }

    @Test
    fun aFaceCropIsOneRawFrameAndNoFaceIsAbsent() {
        val m = live()
        val live = LiveInputs(m)
        val crop = ByteArray(64) { (it * 4).toByte() } // 8 x 8, values 0..252
        live.onFace("video", crop, 0.0)
        live.onFace("video", crop, 1.0) // a new frame replaces the last (seq_len 1)
        val frame = live.snapshot(1.0).inputs["video"] as RawInput.Floats
        assertEquals(listOf(1, 1, 8, 8), frame.shape.toList())
        assertEquals((0 until 64).map { it * 4f }, frame.data.toList())
        // normalize_in_graph: the packer passes 0..255 through (no mean/std here).
        val packed = InputPacker(m).pack(mapOf("video" to frame))
        assertArrayEquals(frame.data, packed.tensors[1].floats, 0f)
        live.onFace("video", null, 2.0)
        val snap = live.snapshot(2.0)
        assertNull(snap.inputs["video"])
        assertEquals("no face", snap.absent["video"])
        assertEquals(0f, InputPacker(m).pack(mapOf("audio" to RawInput.Floats(intArrayOf(1), floatArrayOf(0f)))).presence[1])
    }

    @Test
    fun permissionsStartTheSensorsFromTheAnswerNotBeforeIt() {
        val m = live()
        val mic = CapturePlan.MICROPHONE
        val cam = CapturePlan.CAMERA
        assertEquals(listOf(mic, cam), CapturePlan.needed(m))
        // First launch: nothing granted, nothing asked yet -> ask for both, start nothing.
        val first = CapturePlan.decide(m, granted = emptyMap(), asked = emptySet())
        assertEquals(listOf(mic, cam), first.request)
        assertFalse(first.startMicrophone || first.startCamera)
        // The answer: microphone allowed, camera denied -> start the microphone, say why video stays absent.
        val answer = CapturePlan.decide(m, granted = mapOf(mic to true, cam to false), asked = setOf(mic, cam))
        assertTrue(answer.startMicrophone)
        assertFalse(answer.startCamera)
        assertTrue(answer.request.isEmpty())
        assertTrue(answer.messages.single().startsWith("camera access denied: video stays absent"))
        // Back from Settings with the camera allowed: start the camera, leave the running microphone alone.
        val later = CapturePlan.decide(m, granted = mapOf(mic to true, cam to true), asked = setOf(mic, cam), running = setOf(mic))
        assertFalse(later.startMicrophone)
        assertTrue(later.startCamera)
        assertTrue(later.messages.isEmpty())
        // A features-only model needs neither.
        assertTrue(CapturePlan.needed(Manifest.parse(File(dir, "manifests/features_small.json").readText())).isEmpty())
    }

    @Test
    fun liteRtTokenIdsAreFedAsTheManifestsInt32() {
        val m = live()
        assertEquals(listOf("float32", "float32", "int32", "float32"), m.inputDtypes)
        val packed = InputPacker(m).pack(mapOf("text" to RawInput.Text("i am so happy")))
        val typed = packed.typedFor(m)
        val text = typed[2]
        assertEquals("int32", text.dtype)
        assertNull(text.longs)
        assertEquals(packed.tensors[2].longs!!.map { it.toInt() }, text.ints!!.toList())
        assertEquals(listOf("float32", "float32", "int32", "float32"), typed.map { it.dtype })
        // ONNX (and ExecuTorch) manifests say int64: the ids stay int64.
        val onnx = tokens()
        val onnxTyped = InputPacker(onnx).pack(mapOf("text" to RawInput.Text("happy"))).typedFor(onnx)
        assertEquals("int64", onnxTyped[2].dtype)
        // A float input cannot be cast to a token dtype: a manifest error, not a silent reinterpretation.
        assertThrows(ManifestException::class.java) { PackedTensor("x", longArrayOf(1), floats = floatArrayOf(1f)).castTo("int32") }
    }

    @Test
    fun aFailedExecuTorchLoadIsReportedWithItsErrorCode() {
        ExecuTorchStatus.check(0, "forward", "model.pte")
        ExecuTorchStatus.check(Unit, "forward", "model.pte") // loadMethod variants that throw instead of returning a code
        val e = assertThrows(ModelLoadException::class.java) { ExecuTorchStatus.check(0x23, "forward", "model_fp32.pte") }
        assertTrue(e.message!!, e.message!!.contains("model_fp32.pte") && e.message!!.contains("InvalidProgram (0x23)"))
        assertTrue(e.message!!, e.message!!.contains("1.5.1"))
        val missing = assertThrows(ModelLoadException::class.java) { ExecuTorchStatus.check(0x14, "forward", "m.pte") }
        assertTrue(missing.message!!, missing.message!!.contains("OperatorMissing (0x14)"))
        assertEquals("unknown error (0x7f)", ExecuTorchStatus.describe(0x7f))
    }

    @Test
    fun theCameraPlaneIsTurnedUprightAndMirrored() {
        // 3 x 2 sensor buffer with row padding (rowStride 4) and pixelStride 1:
        //   1 2 3
        //   4 5 6
        val plane = ByteBuffer.wrap(byteArrayOf(1, 2, 3, 0, 4, 5, 6, 0))

        fun upright(
            rotation: Int,
            mirror: Boolean,
        ): Triple<Int, Int, List<Int>> {
            val g = GrayImage.fromPlane(plane, 4, 1, 3, 2, rotation, mirror)
            return Triple(g.width, g.height, g.pixels.map { it.toInt() })
        }
        assertEquals(Triple(3, 2, listOf(1, 2, 3, 4, 5, 6)), upright(0, false))
        assertEquals(Triple(2, 3, listOf(4, 1, 5, 2, 6, 3)), upright(90, false)) // clockwise
        assertEquals(Triple(3, 2, listOf(6, 5, 4, 3, 2, 1)), upright(180, false))
        assertEquals(Triple(2, 3, listOf(3, 6, 2, 5, 1, 4)), upright(270, false))
        assertEquals(Triple(3, 2, listOf(3, 2, 1, 6, 5, 4)), upright(0, true)) // front camera: as in a mirror
        assertEquals(Triple(2, 3, listOf(1, 4, 2, 5, 3, 6)), upright(90, true))
        // pixelStride 2 (interleaved planes) reads every other byte.
        val wide = GrayImage.fromPlane(ByteBuffer.wrap(byteArrayOf(7, 0, 8, 0)), 4, 2, 2, 1, 0, false)
        assertEquals(listOf(7, 8), wide.pixels.map { it.toInt() })
    }

    @Test
    fun grayFromBgraMatchesGrayFromRgba() {
        val rgba = byteArrayOf(200.toByte(), 100, 50, 255.toByte(), 10, 20, 30, 0)
        val bgra = byteArrayOf(50, 100, 200.toByte(), 255.toByte(), 30, 20, 10, 0)
        val a = GrayImage.fromColor(rgba, 2, 1, 4)
        val b = GrayImage.fromColor(bgra, 2, 1, 4, bgr = true)
        assertArrayEquals(a.pixels, b.pixels)
        assertEquals((77 * 200 + 150 * 100 + 29 * 50 + 128) shr 8, a[0, 0])
    }

    @Test
    fun theLargestFaceIsTheOneCropped() {
        val boxes = listOf(FaceBox(0.0, 0.0, 10.0, 10.0, 0.9), FaceBox(5.0, 5.0, 20.0, 30.0, 0.6), FaceBox(1.0, 1.0, 0.0, 5.0))
        assertEquals(20.0, FaceBox.pick(boxes)!!.width, 0.0)
        assertNull(FaceBox.pick(emptyList()))
        // A uniform image crops to that value everywhere, whatever the box.
        val flat = GrayImage(30, 20, ByteArray(600) { 77 })
        assertTrue(FaceCrop.crop(flat, FaceBox(-10.0, 3.5, 50.0, 7.0)).all { it.toInt() == 77 })
    }
}
