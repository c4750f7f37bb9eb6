package ai.emoedge.demo

import ai.emoedge.core.GoldenFile
import ai.emoedge.core.GoldenReport
import ai.emoedge.demo.runtime.Runtimes
import android.util.Log
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test
import org.junit.runner.RunWith
import java.io.FileNotFoundException

/**
 * Every artifact the app ships (assets/models/, copied with its manifest and golden file by
 * android_demo/scripts/copy_assets.py) against its golden vectors, on the device, through the app's
 * own runners ([Runtimes.open]: ExecuTorch, LiteRT, ONNX Runtime) and the core's [GoldenFile] checker:
 * same rules as `python -m sdk.contract --golden` (contract/README.md, "golden/").
 *
 *     ./gradlew :app:connectedAndroidTest \
 *         -Pandroid.testInstrumentationRunnerArguments.class=ai.emoedge.demo.GoldenInstrumentedTest
 *
 * Results per artifact go to logcat (tag EmoEdgeGolden); the test fails with every failing case listed.
 */
@RunWith(AndroidJUnit4::class)
class GoldenInstrumentedTest {
    private val context = InstrumentationRegistry.getInstrumentation().targetContext

    @Test
    fun everyBundledArtifactMatchesItsGoldenVectors() {
        val assets = ModelAssets(context)
        val artifacts = assets.artifacts()
        assumeTrue("no artifacts in assets/models: run android_demo/scripts/copy_assets.py --models dist/<name>", artifacts.isNotEmpty())
        val reports = artifacts.map { check(assets, it) }
        reports.forEach { Log.i(TAG, it.toString()) }
        val failed = reports.filter { !it.passed }
        assertTrue(failed.joinToString("\n"), failed.isEmpty())
    }

    private fun check(
        assets: ModelAssets,
        path: String,
    ): GoldenReport {
        val goldenAsset = GoldenFile.pathFor(path)
        val golden =
            try {
                context.assets
                    .open(goldenAsset)
                    .bufferedReader()
                    .use { GoldenFile.parse(it.readText()) }
            } catch (e: FileNotFoundException) {
                return GoldenReport(
                    path,
                    0,
                    Double.NaN,
                    Double.NaN,
                    Double.NaN,
                    listOf("no $goldenAsset: re-export and copy the assets again"),
                )
            }
        val (file, manifest) = assets.open(path)
        manifest.checkArtifact(file)
        golden.checkArtifact(file)
        golden.checkManifest(manifest)
        return Runtimes.open(file, manifest, threads = 1, artifactChecked = true).use { runner -> golden.check(runner) }
    }

    private companion object {
        const val TAG = "EmoEdgeGolden"
    }
}
