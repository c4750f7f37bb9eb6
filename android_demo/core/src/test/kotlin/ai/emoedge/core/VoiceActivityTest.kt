package ai.emoedge.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * Silero VAD on the phone, without the network: [SileroFrames] cuts PCM into 512-sample frames with 64
 * samples of context, carries the state, keeps the window's probabilities for [VoiceActivityRule]; the
 * network is a plain function here (the app runs silero_vad.pte through ExecuTorch).
 */
class VoiceActivityTest {
    private val dir = File(System.getProperty("emoedge.contract.dir") ?: "../../contract")

    /** A network that records its inputs and states, answers [probability] (by call index) and returns state + 1. */
    private class Recording(
        val probability: (Int) -> Float = { 0f },
    ) : SileroNetwork {
        val inputs = ArrayList<FloatArray>()
        val states = ArrayList<FloatArray>()

        override fun run(
            input: FloatArray,
            state: FloatArray,
        ): SileroOutput {
            inputs += input
            states += state
            return SileroOutput(probability(inputs.size - 1), FloatArray(state.size) { state[it] + 1f })
        }
    }

    @Test
    fun framesCarryTheirContextAndTheStateAcrossOddSizedPushes() {
        val net = Recording()
        val vad = SileroFrames(net, windowFrames = 10)
        val pcm = FloatArray(3 * 512 + 100) { (it + 1).toFloat() }
        var completed = 0
        for (start in pcm.indices step 333) completed += vad.push(pcm.copyOfRange(start, minOf(pcm.size, start + 333))).size
        assertEquals(3, completed)
        assertEquals(3, net.inputs.size)
        for ((k, input) in net.inputs.withIndex()) {
            assertEquals(576, input.size)
            val context = if (k == 0) FloatArray(64) else pcm.copyOfRange(k * 512 - 64, k * 512)
            assertArrayEquals("frame $k context", context, input.copyOfRange(0, 64), 0f)
            assertArrayEquals("frame $k samples", pcm.copyOfRange(k * 512, (k + 1) * 512), input.copyOfRange(64, 576), 0f)
            assertArrayEquals("frame $k state", FloatArray(256) { k.toFloat() }, net.states[k], 0f)
        }
        // The 100 waiting samples run, zero-padded, only on flush (the end of a whole clip).
        assertEquals(1, vad.flush().size)
        assertArrayEquals(pcm.copyOfRange(3 * 512, pcm.size), net.inputs[3].copyOfRange(64, 164), 0f)
        assertTrue(net.inputs[3].copyOfRange(164, 576).all { it == 0f })
        assertEquals(0, vad.flush().size)
    }

    @Test
    fun theContractPcmCasesGiveTheirFrameCountsAndDecisions() {
        val doc = Json.parse(File(dir, "vad.json").readText()).obj("vad.json")
        var checked = 0
        for (case in doc["cases"].list("cases").map { it.obj("case") }.filter { "pcm" in it }) {
            val expected = case["expected"].obj("expected")
            val probs = expected["probabilities"].list("p").map { it.num("p").toFloat() }
            val pcm =
                case["pcm"]
                    .obj("pcm")["data"]
                    .list("data")
                    .map { it.num("s").toInt().toShort() }
                    .toShortArray()
            val vad = SileroFrames(Recording { probs[it] }, windowFrames = probs.size)
            val got = vad.push(Pcm.toFloat(pcm)) + vad.flush()
            assertEquals(case["name"].toString(), probs.size, got.size)
            assertEquals(case["name"].toString(), expected["speech"], vad.hasSpeech())
            checked++
        }
        assertTrue(checked >= 4)
    }

    @Test
    fun onlyTheWindowsFramesDecide() {
        // 10 frames of speech, then 10 of silence: a 10-frame window has forgotten the speech.
        val vad = SileroFrames(Recording { if (it < 10) 0.9f else 0.1f }, windowFrames = 10)
        vad.push(FloatArray(10 * 512))
        assertTrue(vad.hasSpeech())
        vad.push(FloatArray(10 * 512))
        assertEquals(10, vad.probabilities().size)
        assertFalse(vad.hasSpeech())
        vad.reset()
        assertEquals(0, vad.probabilities().size)
        assertFalse(vad.hasSpeech())
    }

    @Test
    fun framesInAWindowAreSdkLiveInputsCount() {
        assertEquals(32, SileroFrames.framesInWindow(16000, 16000)) // ceil(31.25)
        assertEquals(94, SileroFrames.framesInWindow(48000, 16000))
        assertEquals(1, SileroFrames.framesInWindow(480, 16000))
    }

    @Test
    fun audioIsPresentOnlyWithSpeechInTheWindow() {
        val m = Manifest.parse(File(dir, "manifests/live_small.json").readText()) // audio: 480 samples at 16 kHz
        var p = 0.9f
        val vad = SileroFrames({ _, state -> SileroOutput(p, state) }, windowFrames = 16)
        val live = LiveInputs(m, staleAfterMs = null, voiceActivity = vad)
        val pcm = ShortArray(512) { (1000 * kotlin.math.sin(it / 5.0)).toInt().toShort() }
        repeat(8) { live.onPcm16("audio", pcm, pcm.size, it.toDouble()) } // 8 frames = 256 ms >= 250 ms
        assertTrue(live.snapshot(8.0).inputs["audio"] is RawInput.Floats)
        p = 0.1f
        repeat(16) { live.onPcm16("audio", pcm, pcm.size, 8.0 + it) } // the window is silence now
        val snap = live.snapshot(30.0)
        assertNull(snap.inputs["audio"])
        assertEquals(LiveInputs.NO_SPEECH, snap.absent["audio"])
        // Switching the microphone off forgets the probabilities too.
        live.setEnabled("audio", false)
        assertEquals(0, vad.probabilities().size)
        assertEquals("switched off", live.snapshot(31.0).absent["audio"])
    }

    @Test
    fun withoutVoiceActivityAudioCountsWheneverTheMicrophoneDelivers() {
        val m = Manifest.parse(File(dir, "manifests/live_small.json").readText())
        val live = LiveInputs(m, staleAfterMs = null)
        live.onPcm16("audio", ShortArray(100), 100, 0.0)
        assertTrue(live.snapshot(1.0).inputs["audio"] is RawInput.Floats)
    }

    @Test
    fun theExportManifestIsRead() {
        val text =
            """{"sample_rate": 16000, "frame": 512, "context": 64, "state_shape": [2, 1, 128],
               "files": {"silero_vad.pte": {"status": "ok", "sha256": "ab12"}}}"""
        val s = SileroManifest.parse(text)
        assertEquals(listOf(16000, 512, 64, 256), listOf(s.sampleRate, s.frame, s.context, s.stateSize))
        assertEquals("ab12", s.sha256)
        val missing = assertThrows(ManifestException::class.java) { SileroManifest.parse("""{"frame": 512}""") }
        assertTrue(missing.message!!.contains("python -m export.silero"))
        // The .pte is checked against the manifest's sha256 before it is loaded.
        val pte = File.createTempFile("silero_vad", ".pte").apply { writeBytes(byteArrayOf(1, 2, 3)) }
        val sha = pte.inputStream().use { Manifest.sha256Hex(it) }
        SileroManifest(16000, 512, 64, intArrayOf(2, 1, 128), sha).checkArtifact(pte)
        val wrong = assertThrows(ManifestException::class.java) { s.checkArtifact(pte) }
        assertTrue(wrong.message!!.contains("same `python -m export.silero` run"))
        pte.delete()
    }

    @Test
    fun aWrongStateSizeOrRateIsRefused() {
        val vad = SileroFrames({ _, _ -> SileroOutput(0.5f, FloatArray(3)) }, windowFrames = 4)
        assertThrows(IllegalArgumentException::class.java) { vad.push(FloatArray(512)) }
        val m = Manifest.parse(File(dir, "manifests/live_small.json").readText())
        LiveInputs(m, voiceActivity = SileroFrames({ _, s -> SileroOutput(0f, s) }, windowFrames = 1)) // 16 kHz: accepted
    }
}
