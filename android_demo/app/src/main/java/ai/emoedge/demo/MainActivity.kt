package ai.emoedge.demo

import ai.emoedge.core.CapturePlan
import ai.emoedge.core.FaceBox
import ai.emoedge.core.FaceCrop
import ai.emoedge.core.GrayImage
import ai.emoedge.core.InputException
import ai.emoedge.core.InputPacker
import ai.emoedge.core.LiveInputs
import ai.emoedge.core.Manifest
import ai.emoedge.core.ModalityKind
import ai.emoedge.core.ModelRunner
import ai.emoedge.core.Recognition
import ai.emoedge.core.Results
import ai.emoedge.core.SileroFrames
import ai.emoedge.demo.runtime.Runtimes
import ai.emoedge.demo.runtime.SileroVad
import android.annotation.SuppressLint
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.media.AudioFormat
import android.media.AudioRecord
import android.media.MediaRecorder
import android.os.Bundle
import android.os.SystemClock
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.width
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.core.content.ContextCompat
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.facedetector.FaceDetector
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/**
 * The live demo: microphone (AudioRecord), camera (CameraX + MediaPipe face detector) and a text
 * box, each with an on/off switch; the live emotion, class probabilities, a gate-weight bar per
 * modality, why an absent modality is absent, and the latency.
 *
 * A live model (spec kinds `waveform`, `frames` with the face encoder, `tokens`) gets what the phone
 * records: 16 kHz PCM from AudioRecord through a sliding window of the manifest's seq_len samples
 * (the log-mel front end is inside the model); the largest face MediaPipe finds in the upright
 * (and, for the front camera, mirrored) camera frame, cropped by the shared rule ([FaceCrop],
 * sdk/face.py) to 48 x 48 gray; the text box's whole text as token ids. All of it goes through
 * [LiveInputs] (plain Kotlin, unit-tested). Audio counts only when Silero VAD (silero_vad.pte on
 * ExecuTorch, [SileroVad]; framing and decision in core [SileroFrames]) finds speech in the audio
 * window, as the Python SDK decides it ("no speech" otherwise); without the VAD asset the microphone's
 * audio stays absent and the screen says why. A switched-off, stale, faceless or empty input is absent
 * through the presence mask, never zero-filled. Feature vectors a phone cannot compute (MOSI's
 * openSMILE/COVAREP audio, 3D-CNN/Facet video, GloVe text) come from recorded test samples shipped
 * in assets/replay, each replacing the previous one, and the screen says so.
 */
class MainActivity : ComponentActivity() {
    private val worker = Executors.newSingleThreadExecutor()
    private val camera = Executors.newSingleThreadExecutor()
    private val ticker = Executors.newSingleThreadScheduledExecutor()

    @Volatile private var runner: ModelRunner? = null

    @Volatile private var manifest: Manifest? = null

    @Volatile private var live: LiveInputs? = null
    private var replay: List<ReplaySample> = emptyList()
    private var replayIndex = 0

    @Volatile private var audioRecord: AudioRecord? = null

    /** Silero VAD on ExecuTorch, opened once (worker thread); [vadProblem] says why audio stays absent without it. */
    @Volatile private var sileroVad: SileroVad? = null

    @Volatile private var vadProblem: String? = null
    private var vadOpened = false
    private var cameraStarted = false
    private var faceDetector: FaceDetector? = null
    private val asked = HashSet<String>()

    private var state by mutableStateOf(UiState())

    /** The permission dialog's answer starts what was granted (a first launch has nothing granted before it). */
    private val permissionRequest =
        registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { startGrantedCaptures() }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val assets = ModelAssets(this)
        val artifacts = assets.artifacts()
        state = state.copy(artifacts = artifacts)
        setContent { MaterialTheme { Screen(state, ::onSwitch, ::onText) { load(assets, it) } } }
        val first = artifacts.firstOrNull { it.endsWith(".pte") } ?: artifacts.firstOrNull()
        if (first == null) {
            state = state.copy(error = "No model in assets/models: run android_demo/scripts/copy_assets.py (README step 2).")
        } else {
            load(assets, first)
        }
        ticker.scheduleWithFixedDelay({ worker.execute { tick() } }, 500, 500, TimeUnit.MILLISECONDS)
    }

    override fun onResume() {
        super.onResume()
        startGrantedCaptures() // back from Settings with a permission allowed
    }

    private fun load(
        assets: ModelAssets,
        path: String,
    ) {
        worker.execute {
            runner?.close()
            runner = null
            val opened =
                try {
                    val (file, m) = assets.open(path)
                    m to Runtimes.open(file, m)
                } catch (e: Exception) {
                    // A corrupt or incompatible artifact (ModelLoadException, ManifestException, a missing file) is shown, not a crash later.
                    state = state.copy(model = path, runtime = "", result = null, error = "Cannot load $path: ${e.message}")
                    return@execute
                }
            val (m, r) = opened
            manifest = m
            runner = r
            live = LiveInputs(m, staleAfterMs = STALE_MS, voiceActivity = voiceActivityFor(assets, m))
            replay = assets.replay(m.dataset)
            replayIndex = 0
            val replayed = m.modalities.filter { it.kind == ModalityKind.FEATURES }.map { it.name }
            state =
                state.copy(
                    model = path,
                    runtime = r.runtime,
                    modalities = m.modalityNames,
                    enabled = m.modalityNames.associateWith { true },
                    replayed = replayed,
                    error = "",
                    note =
                        if (replayed.isEmpty()) {
                            ""
                        } else if (replay.isEmpty()) {
                            "No recorded features shipped for ${m.dataset}: ${replayed.joinToString()} stay absent."
                        } else {
                            "Replaying recorded ${m.dataset} test features for ${replayed.joinToString()} " +
                                "(a phone cannot compute them); sample label shown below."
                        },
                )
            runOnUiThread { startGrantedCaptures() }
        }
    }

    /**
     * A fresh [SileroFrames] over the model's audio window, running silero_vad.pte (opened on the first call),
     * or null (with [vadProblem] set) for a model without a 16 kHz waveform modality or without the VAD.
     */
    private fun voiceActivityFor(
        assets: ModelAssets,
        m: Manifest,
    ): SileroFrames? {
        val waveform = m.modalities.firstOrNull { it.isWaveform } ?: return null
        if (!vadOpened) {
            vadOpened = true
            try {
                val found = assets.voiceActivity()
                if (found == null) {
                    vadProblem = "no voice activity detector (assets/vad/silero_vad.pte): run copy_assets.py --vad"
                } else {
                    sileroVad = SileroVad(found.first, found.second)
                }
            } catch (e: Exception) {
                vadProblem = "voice activity detector failed to load (${e.message})"
            }
        }
        val vad = sileroVad ?: return null
        if (waveform.sampleRate != vad.manifest.sampleRate) {
            vadProblem = "Silero VAD takes ${vad.manifest.sampleRate} Hz but ${waveform.name} is ${waveform.sampleRate} Hz"
            return null
        }
        vadProblem = null
        val frames = SileroFrames.framesInWindow(waveform.seqLen, waveform.sampleRate, vad.manifest.frame)
        return SileroFrames(vad, frames, frame = vad.manifest.frame, context = vad.manifest.context, stateSize = vad.manifest.stateSize)
    }

    /** Asks for what the model needs and not yet asked; starts every capture whose permission is granted and that is not running. */
    private fun startGrantedCaptures() {
        val m = manifest ?: return
        val needed = CapturePlan.needed(m)
        val granted = needed.associateWith { checkSelfPermission(it) == PackageManager.PERMISSION_GRANTED }
        val running =
            buildSet {
                if (audioRecord != null) add(CapturePlan.MICROPHONE)
                if (cameraStarted) add(CapturePlan.CAMERA)
            }
        val decision = CapturePlan.decide(m, granted, asked, running)
        if (decision.request.isNotEmpty()) {
            asked += decision.request
            permissionRequest.launch(decision.request.toTypedArray())
        }
        if (decision.startMicrophone) startMicrophone(m)
        if (decision.startCamera) startCamera()
        state = state.copy(permissionNotes = decision.messages)
    }

    private fun onSwitch(
        modality: String,
        on: Boolean,
    ) {
        state = state.copy(enabled = state.enabled + (modality to on))
        live?.setEnabled(modality, on)
    }

    /** The text box's whole text replaces the text window on every keystroke. */
    private fun onText(text: String) {
        state = state.copy(text = text)
        val m = manifest ?: return
        val textModality = m.modalities.firstOrNull { it.isTokens } ?: return
        live?.onText(textModality.name, text, now())
    }

    private fun now() = SystemClock.elapsedRealtime().toDouble()

    /** Every 500 ms: the next replayed sample every 2 s (feature models), then one prediction. */
    private fun tick() {
        val l = live ?: return
        if (replay.isNotEmpty() && (replayIndex == 0 || SystemClock.elapsedRealtime() - lastReplayMs >= REPLAY_MS)) {
            val sample = replay[replayIndex++ % replay.size]
            l.onReplay(sample.modalities.filterKeys { it in state.replayed }, now())
            lastReplayMs = SystemClock.elapsedRealtime()
            state = state.copy(replayLabel = sample.label)
        }
        predict()
    }

    private var lastReplayMs = 0L

    /**
     * The microphone at the waveform modality's sample rate (16 kHz mono 16-bit PCM), every read
     * appended to the model's sliding window and run through Silero VAD ([LiveInputs.voiceActivity]):
     * the window counts only with speech in it. Without the VAD the audio stays absent (the note says why).
     * A model without a waveform modality (MOSI features) gets no microphone input; the level is still shown.
     */
    @SuppressLint("MissingPermission") // called only after CapturePlan saw RECORD_AUDIO granted
    private fun startMicrophone(m: Manifest) {
        if (audioRecord != null) return
        val waveform = m.modalities.firstOrNull { it.isWaveform }
        val rate = waveform?.sampleRate ?: 16000
        val minSize = AudioRecord.getMinBufferSize(rate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT)
        if (minSize <= 0) {
            state = state.copy(audioNote = "this phone cannot record $rate Hz mono 16-bit PCM (AudioRecord error $minSize)")
            return
        }
        val record =
            AudioRecord(MediaRecorder.AudioSource.MIC, rate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT, minSize * 4)
        if (record.state != AudioRecord.STATE_INITIALIZED) {
            record.release()
            state = state.copy(audioNote = "the microphone could not be opened (is another app recording?)")
            return
        }
        audioRecord = record
        record.startRecording()
        Thread({
            val buffer = ShortArray(rate / 10) // 100 ms per read
            while (audioRecord === record) {
                val n = record.read(buffer, 0, buffer.size)
                if (n <= 0) continue
                val rms = kotlin.math.sqrt((0 until n).sumOf { buffer[it].toDouble() * buffer[it] } / n) / Short.MAX_VALUE
                val l = live
                val problem = vadProblem
                val heard =
                    try {
                        if (waveform != null && problem == null) l?.onPcm16(waveform.name, buffer, n, now())
                        l?.voiceActivity?.hasSpeech()
                    } catch (e: RuntimeException) {
                        vadProblem = "voice activity detector failed (${e.message})"
                        null
                    }
                state =
                    state.copy(
                        micLevel = rms.toFloat(),
                        audioNote =
                            when {
                                waveform == null -> {
                                    "microphone on; ${m.dataset} audio features are replayed"
                                }

                                problem != null -> {
                                    "microphone on, but $problem: audio stays absent"
                                }

                                else -> {
                                    "microphone: $rate Hz PCM into a ${waveform.seqLen / rate.toDouble()} s window; " +
                                        if (heard == true) "speech" else "no speech"
                                }
                            },
                    )
            }
        }, "emoedge-microphone").start()
    }

    /**
     * The front camera through CameraX. Each frame's luma plane is turned upright by the frame's
     * rotation and mirrored (the front camera's picture as the preview shows it); MediaPipe's face
     * detector runs on that image, and the largest face is cropped from the same image by the shared
     * rule, so the box always matches the pixels. No face: the video modality is absent ("no face").
     */
    private fun startCamera() {
        if (cameraStarted) return
        cameraStarted = true
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val analysis = ImageAnalysis.Builder().setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST).build()
            analysis.setAnalyzer(camera) { image ->
                try {
                    analyze(image)
                } finally {
                    image.close()
                }
            }
            providerFuture.get().bindToLifecycle(this, CameraSelector.DEFAULT_FRONT_CAMERA, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    private fun analyze(image: ImageProxy) {
        val m = manifest ?: return
        val video = m.modalities.firstOrNull { it.kind == ModalityKind.FRAMES } ?: return
        val l = live ?: return
        if (!l.isEnabled(video.name)) return
        if (video.channels != 1 || video.height != video.width) {
            // The crop rule gives one square gray frame; a color or non-square frames model gets no camera input.
            state =
                state.copy(
                    absent =
                        state.absent +
                            (
                                video.name to
                                    "camera frames are 1 x N x N gray; this model takes ${video.channels} x ${video.height} x ${video.width}"
                            ),
                )
            return
        }
        val plane = image.planes[0]
        val upright =
            GrayImage.fromPlane(
                plane.buffer,
                plane.rowStride,
                plane.pixelStride,
                image.width,
                image.height,
                image.imageInfo.rotationDegrees,
                true,
            )
        val box =
            if (video.encoder == "face") {
                val detector = faceDetector ?: openFaceDetector() ?: return
                val colors = IntArray(upright.width * upright.height) { i -> (upright.pixels[i].toInt() and 0xff) * 0x010101 or -0x1000000 }
                val bitmap = Bitmap.createBitmap(colors, upright.width, upright.height, Bitmap.Config.ARGB_8888)
                val found =
                    detector.detect(BitmapImageBuilder(bitmap).build()).detections().map { d ->
                        val r = d.boundingBox()
                        FaceBox(
                            r.left.toDouble(),
                            r.top.toDouble(),
                            r.width().toDouble(),
                            r.height().toDouble(),
                            d
                                .categories()
                                .firstOrNull()
                                ?.score()
                                ?.toDouble() ?: 0.0,
                        )
                    }
                FaceBox.pick(found)
            } else {
                FaceBox(0.0, 0.0, upright.width.toDouble(), upright.height.toDouble()) // an older frames model: the whole frame
            }
        l.onFace(video.name, box?.let { FaceCrop.crop(upright, it, video.height) }, now())
    }

    /** MediaPipe Tasks' BlazeFace short-range detector from assets (copy_assets.py --face-model puts it there). */
    private fun openFaceDetector(): FaceDetector? =
        try {
            val options =
                FaceDetector.FaceDetectorOptions
                    .builder()
                    .setBaseOptions(BaseOptions.builder().setModelAssetPath(FACE_MODEL).build())
                    .setRunningMode(RunningMode.IMAGE)
                    .setMinDetectionConfidence(0.5f)
                    .build()
            FaceDetector.createFromOptions(this, options).also { faceDetector = it }
        } catch (e: Exception) {
            state =
                state.copy(
                    permissionNotes =
                        state.permissionNotes + "face detector: $FACE_MODEL missing or unreadable (${e.message}); video stays absent",
                )
            null
        }

    private fun predict() {
        val m = manifest ?: return
        val r = runner ?: return
        val snapshot = live?.snapshot(now()) ?: return
        val start = SystemClock.elapsedRealtimeNanos()
        state =
            try {
                val packed = InputPacker(m).pack(snapshot.inputs)
                val out = r.run(packed)
                val latency = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
                state.copy(
                    result = Results.fromOutputs(m, out.logits, out.gateWeights, packed.presence, latency),
                    absent = snapshot.absent,
                    error = "",
                )
            } catch (e: InputException) {
                state.copy(
                    result = null,
                    absent = snapshot.absent,
                    error =
                        if (e.kind ==
                            "all_absent"
                        ) {
                            "Every input is absent: switch one on, speak, face the camera or type."
                        } else {
                            e.message ?: e.kind
                        },
                )
            } catch (e: RuntimeException) {
                state.copy(result = null, error = "The model failed: ${e.message}")
            }
    }

    override fun onDestroy() {
        val record = audioRecord
        audioRecord = null
        record?.stop()
        record?.release()
        ticker.shutdown()
        camera.execute { faceDetector?.close() }
        camera.shutdown()
        worker.execute {
            runner?.close()
            sileroVad?.close()
        }
        worker.shutdown()
        super.onDestroy()
    }

    companion object {
        const val STALE_MS = 2000.0
        const val REPLAY_MS = 2000L
        const val FACE_MODEL = "blaze_face_short_range.tflite"
    }
}

data class UiState(
    val artifacts: List<String> = emptyList(),
    val model: String = "",
    val runtime: String = "",
    val modalities: List<String> = emptyList(),
    val enabled: Map<String, Boolean> = emptyMap(),
    val replayed: List<String> = emptyList(),
    val note: String = "",
    val replayLabel: String = "",
    val text: String = "",
    val micLevel: Float = 0f,
    val audioNote: String = "",
    val result: Recognition? = null,
    /** Why each absent modality is absent: "switched off", "no face", "no text", "no recent input", ... */
    val absent: Map<String, String> = emptyMap(),
    val permissionNotes: List<String> = emptyList(),
    val error: String = "",
)

@Composable
fun Screen(
    state: UiState,
    onSwitch: (String, Boolean) -> Unit,
    onText: (String) -> Unit,
    onModel: (String) -> Unit,
) {
    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text("Model: ${state.model} (${state.runtime})", style = MaterialTheme.typography.titleMedium)
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            for (artifact in state.artifacts.filter { it != state.model }.take(3)) {
                Text(
                    artifact.substringAfterLast('/'),
                    Modifier.padding(4.dp).clickable { onModel(artifact) },
                    color = MaterialTheme.colorScheme.primary,
                )
            }
        }
        for (modality in state.modalities) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                Text(modality, Modifier.width(64.dp))
                Switch(checked = state.enabled[modality] == true, onCheckedChange = { onSwitch(modality, it) })
                val gate = state.result?.gateWeights?.get(modality) ?: 0.0
                LinearProgressIndicator(progress = { gate.toFloat() }, modifier = Modifier.padding(start = 8.dp).width(120.dp))
                Text(" gate %.2f".format(gate))
                state.absent[modality]?.let { Text("  absent: $it", color = MaterialTheme.colorScheme.secondary) }
            }
        }
        for (note in state.permissionNotes) Text(note, color = MaterialTheme.colorScheme.error)
        if (state.audioNote.isNotEmpty()) Text("${state.audioNote} (level %.2f)".format(state.micLevel))
        OutlinedTextField(value = state.text, onValueChange = onText, label = { Text("text") }, modifier = Modifier.fillMaxWidth())
        if (state.note.isNotEmpty()) Text(state.note, color = MaterialTheme.colorScheme.secondary)
        if (state.replayLabel.isNotEmpty()) Text("replayed sample's label: ${state.replayLabel}")
        val result = state.result
        if (result != null) {
            Text(result.label, style = MaterialTheme.typography.headlineLarge)
            for ((name, p) in result.probabilities) {
                Row(verticalAlignment = Alignment.CenterVertically) {
                    Text(name, Modifier.width(96.dp))
                    LinearProgressIndicator(progress = { p.toFloat() }, modifier = Modifier.width(160.dp))
                    Text(" %.3f".format(p))
                }
            }
            Text("latency %.1f ms · inputs: %s".format(result.latencyMs, result.modalitiesUsed.joinToString()))
        }
        if (state.error.isNotEmpty()) Text(state.error, color = MaterialTheme.colorScheme.error)
    }
}
