package ai.emoedge.demo

import ai.emoedge.core.InputException
import ai.emoedge.core.InputPacker
import ai.emoedge.core.Manifest
import ai.emoedge.core.ModalityKind
import ai.emoedge.core.ModalityWindows
import ai.emoedge.core.ModelRunner
import ai.emoedge.core.RawInput
import ai.emoedge.core.Recognition
import ai.emoedge.core.Results
import ai.emoedge.core.WordTokenizer
import ai.emoedge.demo.runtime.Runtimes
import android.Manifest.permission
import android.annotation.SuppressLint
import android.content.pm.PackageManager
import android.media.AudioFormat
import android.media.AudioRecord
import android.media.MediaRecorder
import android.os.Bundle
import android.os.SystemClock
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
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
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/**
 * The live demo: microphone (AudioRecord), camera (CameraX) and a text box, each with an on/off
 * switch; the live emotion, class probabilities, a gate-weight bar per modality and the latency.
 *
 * A switched-off (or silent, or stale) modality is passed as absent through the presence mask,
 * never zero-filled. What the phone computes itself: token ids from the text box (the manifest's
 * vocabulary) and frames from the camera (gray, resized to the manifest's C x H x W). Feature
 * vectors a phone cannot compute (MOSI's openSMILE/COVAREP audio, 3D-CNN/Facet video, GloVe text)
 * come from the recorded test samples shipped in assets/replay, and the screen says so.
 */
class MainActivity : ComponentActivity() {
    private val worker = Executors.newSingleThreadExecutor()
    private val ticker = Executors.newSingleThreadScheduledExecutor()
    private var runner: ModelRunner? = null
    private var manifest: Manifest? = null
    private var windows: ModalityWindows? = null
    private var replay: List<ReplaySample> = emptyList()
    private var replayIndex = 0
    private var audioRecord: AudioRecord? = null

    private var state by mutableStateOf(UiState())

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        requestPermissions(arrayOf(permission.RECORD_AUDIO, permission.CAMERA), 1)
        val assets = ModelAssets(this)
        val artifacts = assets.artifacts()
        state = state.copy(artifacts = artifacts)
        artifacts.firstOrNull { it.endsWith(".pte") }?.let { load(assets, it) }
        setContent { MaterialTheme { Screen(state, ::onSwitch, ::onText, { load(assets, it) }) } }
        startCamera()
        ticker.scheduleWithFixedDelay({ worker.execute { replayTick() } }, 0, 2, TimeUnit.SECONDS)
    }

    private fun load(
        assets: ModelAssets,
        path: String,
    ) {
        worker.execute {
            runner?.close()
            val (file, m) = assets.open(path)
            runner = Runtimes.open(file, m)
            manifest = m
            windows = ModalityWindows(m, staleAfterMs = 2000.0)
            replay = assets.replay(m.dataset)
            val replayed = m.modalities.filter { it.kind == ModalityKind.FEATURES }.map { it.name }
            state =
                state.copy(
                    model = path,
                    runtime = runner!!.runtime,
                    modalities = m.modalityNames,
                    enabled = m.modalityNames.associateWith { true },
                    replayed = replayed,
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
        }
        worker.execute { manifest?.let { startMicrophone(it) } }
    }

    private fun onSwitch(
        modality: String,
        on: Boolean,
    ) {
        state = state.copy(enabled = state.enabled + (modality to on))
        if (!on) windows?.clear(modality)
    }

    private fun onText(text: String) {
        state = state.copy(text = text)
        val m = manifest ?: return
        val textModality = m.modalities.firstOrNull { it.isTokens } ?: return
        if (state.enabled[textModality.name] != true) return
        val ids = WordTokenizer(textModality.vocabulary).ids(text)
        if (ids.isNotEmpty()) push { windows?.add(textModality.name, ids.toLongArray(), now()) }
    }

    private fun now() = SystemClock.elapsedRealtime().toDouble()

    /** Feature modalities come from the replay files: the next recorded sample every 2 s. */
    private fun replayTick() {
        if (replay.isEmpty()) return
        val sample = replay[replayIndex++ % replay.size]
        for (name in state.replayed) {
            val raw = sample.modalities[name] as? RawInput.Floats
            if (raw != null && state.enabled[name] == true) windows?.add(name, raw.data, now())
        }
        state = state.copy(replayLabel = sample.label)
        predict()
    }

    /**
     * The microphone runs (and shows its level) when switched on; it feeds a model only when the
     * manifest's audio modality is frames- or token-free raw audio, which no shipped model is:
     * MOSI and the synthetic set take precomputed features, replayed instead.
     */
    @SuppressLint("MissingPermission")
    private fun startMicrophone(m: Manifest) {
        if (audioRecord != null || checkSelfPermission(permission.RECORD_AUDIO) != PackageManager.PERMISSION_GRANTED) return
        val rate = 16000
        val size = AudioRecord.getMinBufferSize(rate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT)
        audioRecord =
            AudioRecord(MediaRecorder.AudioSource.MIC, rate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT, size).also {
                it.startRecording()
            }
        Thread {
            val buffer = ShortArray(size)
            while (audioRecord != null) {
                val n = audioRecord?.read(buffer, 0, buffer.size) ?: break
                if (n > 0 && state.enabled["audio"] == true) {
                    val rms = kotlin.math.sqrt(buffer.take(n).sumOf { it.toDouble() * it } / n) / Short.MAX_VALUE
                    state = state.copy(micLevel = rms.toFloat(), audioNote = "microphone on; ${m.dataset} audio features are replayed")
                }
            }
        }.start()
    }

    /** Camera frames for a `frames` modality: luminance plane resized to the manifest's H x W. */
    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val analysis = ImageAnalysis.Builder().setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST).build()
            analysis.setAnalyzer(worker) { image ->
                val m = manifest
                val video = m?.modalities?.firstOrNull { it.kind == ModalityKind.FRAMES }
                if (video != null && state.enabled[video.name] == true) {
                    val plane = image.planes[0]
                    val buffer = plane.buffer
                    val frame = FloatArray(video.stepSize)
                    for (y in 0 until video.height) {
                        for (x in 0 until video.width) {
                            val sy = y * image.height / video.height
                            val sx = x * image.width / video.width
                            val v = (buffer.get(sy * plane.rowStride + sx * plane.pixelStride).toInt() and 0xff) / 255f
                            for (c in 0 until video.channels) frame[c * video.height * video.width + y * video.width + x] = v
                        }
                    }
                    windows?.add(video.name, frame, now())
                }
                image.close()
            }
            providerFuture.get().bindToLifecycle(this, CameraSelector.DEFAULT_FRONT_CAMERA, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    private fun push(action: () -> Unit) =
        worker.execute {
            action()
            predict()
        }

    private fun predict() {
        val m = manifest ?: return
        val r = runner ?: return
        val current = windows?.windows(now()) ?: return
        val inputs = current.filterKeys { state.enabled[it] == true }
        val start = SystemClock.elapsedRealtimeNanos()
        state =
            try {
                val packed = InputPacker(m).pack(inputs)
                val out = r.run(packed)
                val latency = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
                state.copy(result = Results.fromOutputs(m, out.logits, out.gateWeights, packed.presence, latency), error = "")
            } catch (e: InputException) {
                state.copy(result = null, error = if (e.kind == "all_absent") "Switch on at least one input." else e.message ?: e.kind)
            }
    }

    override fun onDestroy() {
        audioRecord?.stop()
        audioRecord?.release()
        audioRecord = null
        ticker.shutdown()
        worker.execute { runner?.close() }
        worker.shutdown()
        super.onDestroy()
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
            }
        }
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
