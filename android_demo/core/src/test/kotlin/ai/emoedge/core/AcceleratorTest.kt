package ai.emoedge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/** AcceleratorPlan: every runtime path the Android app can take, from a manifest and an accelerator choice. */
class AcceleratorTest {
    private val dir = File(System.getProperty("emoedge.contract.dir") ?: "../../contract")

    /** The contract's features manifest with another format and, when given, export's delegation note. */
    private fun manifest(
        format: String,
        backends: Map<String, Int>? = null,
        fraction: Double = 0.0,
    ): Manifest {
        @Suppress("UNCHECKED_CAST")
        val root = Json.parse(File(dir, "manifests/features_small.json").readText()) as Map<String, Any?>
        val notes =
            if (backends == null) {
                emptyMap<String, Any?>()
            } else {
                mapOf(
                    "delegation" to
                        mapOf(
                            "backends" to backends,
                            "delegated_fraction" to fraction,
                            "delegated_nodes" to 2731,
                            "non_delegated_nodes" to 3,
                        ),
                )
            }
        val artifact = "model_fp32" + if (format.startsWith("executorch-")) "_${format.removePrefix("executorch-")}.pte" else ".x"
        return Manifest.fromJson(root + mapOf("format" to format, "notes" to notes, "artifact" to artifact))
    }

    @Test
    fun executorchXnnpackIsTheCpuPathWithExportsFraction() {
        val m = manifest("executorch", mapOf("XnnpackBackend" to 3), 0.971)
        assertEquals(3, m.delegation?.backends?.get("XnnpackBackend"))
        val plan = AcceleratorPlan.decide(m)
        assertEquals("executorch", plan.runtime)
        assertEquals(Accelerator.CPU, plan.accelerator)
        assertEquals("XnnpackBackend", plan.delegate)
        assertEquals(0.971, plan.expectedFraction!!, 1e-12)
        assertEquals("XnnpackBackend", AcceleratorPlan.decide(m, Accelerator.CPU).delegate)
    }

    @Test
    fun aVulkanManifestIsAcceptedAndRunsOnTheGpu() {
        val m = manifest("executorch-vulkan", mapOf("VulkanBackend" to 3), 0.9989)
        for (requested in listOf(null, Accelerator.GPU)) {
            val plan = AcceleratorPlan.decide(m, requested)
            assertEquals("executorch", plan.runtime)
            assertEquals(Accelerator.GPU, plan.accelerator)
            assertEquals("VulkanBackend", plan.delegate)
            assertEquals(0.9989, plan.expectedFraction!!, 1e-12)
        }
        val e = assertThrows(AcceleratorException::class.java) { AcceleratorPlan.decide(m, Accelerator.CPU) }
        assertTrue(e.message, e.message!!.contains("Vulkan (GPU)") && e.message!!.contains("model_fp32.pte"))
    }

    @Test
    fun aVulkanPteOnARuntimeWithoutVulkanNamesTheAarPropertyAndTheBuild() {
        val m = manifest("executorch-vulkan", mapOf("VulkanBackend" to 3), 0.9989)
        val e =
            assertThrows(AcceleratorException::class.java) {
                AcceleratorPlan.decide(m, registeredBackends = listOf("XnnpackBackend"))
            }
        val message = e.message!!
        for (part in listOf(
            "model_fp32_vulkan.pte is lowered to Vulkan",
            "registered: XnnpackBackend",
            "EXECUTORCH_BUILD_VULKAN=ON",
            "bash scripts/build_android_library.sh",
            "-Pemoedge.executorchAar=",
            "android_demo/README.md",
        )) {
            assertTrue("'$part' not in: $message", message.contains(part))
        }
        assertTrue(
            assertThrows(AcceleratorException::class.java) {
                AcceleratorPlan.decide(m, Accelerator.GPU, emptyList())
            }.message!!.contains("registered: none"),
        )
        // A runtime built with Vulkan, or one that cannot list its backends: accepted; the load-failure hint names the fix.
        for (registered in listOf(listOf("XnnpackBackend", "VulkanBackend"), null)) {
            val plan = AcceleratorPlan.decide(m, registeredBackends = registered)
            assertEquals("VulkanBackend", plan.delegate)
            assertTrue(plan.note, plan.note.contains("-Pemoedge.executorchAar="))
        }
        // The registered backends decide nothing for the other formats.
        assertEquals("XnnpackBackend", AcceleratorPlan.decide(manifest("executorch"), registeredBackends = emptyList()).delegate)
    }

    @Test
    fun theXnnpackPteOnTheGpuPointsToTheVulkanExport() {
        val e = assertThrows(AcceleratorException::class.java) { AcceleratorPlan.decide(manifest("executorch"), Accelerator.GPU) }
        assertTrue(e.message, e.message!!.contains("--delegates vulkan"))
    }

    @Test
    fun theQnnRouteSaysItNeedsTheQualcommSdk() {
        for ((format, requested) in listOf("executorch-qnn" to null, "executorch" to Accelerator.NPU)) {
            val e = assertThrows(AcceleratorException::class.java) { AcceleratorPlan.decide(manifest(format), requested) }
            assertTrue(e.message, e.message!!.contains("needs the Qualcomm QNN SDK") && e.message!!.contains("README"))
        }
    }

    @Test
    fun aCoreMlPteIsForIos() {
        val e = assertThrows(AcceleratorException::class.java) { AcceleratorPlan.decide(manifest("executorch-coreml")) }
        assertTrue(e.message, e.message!!.contains("iOS"))
    }

    @Test
    fun liteRtTakesEveryAccelerator() {
        val m = manifest("litert")
        assertEquals("cpu-xnnpack", AcceleratorPlan.decide(m).delegate)
        assertEquals("litert-gpu", AcceleratorPlan.decide(m, Accelerator.GPU).delegate)
        val npu = AcceleratorPlan.decide(m, Accelerator.NPU)
        assertEquals("litert", npu.runtime)
        assertEquals("litert-npu", npu.delegate)
        assertTrue(npu.note.contains("CompiledModel"))
        assertNull(npu.expectedFraction)
    }

    @Test
    fun onnxRuntimeMapsToItsExecutionProviders() {
        val m = manifest("onnx")
        assertEquals("CPUExecutionProvider", AcceleratorPlan.decide(m).delegate)
        assertEquals(1.0, AcceleratorPlan.decide(m).expectedFraction!!, 0.0)
        assertEquals("NnapiExecutionProvider", AcceleratorPlan.decide(m, Accelerator.GPU).delegate)
        assertEquals("QNNExecutionProvider", AcceleratorPlan.decide(m, Accelerator.NPU).delegate)
        assertNull(AcceleratorPlan.decide(m, Accelerator.NPU).expectedFraction)
    }

    @Test
    fun anUnknownFormatOrAcceleratorIsRefused() {
        assertThrows(AcceleratorException::class.java) { AcceleratorPlan.decide(manifest("tensorrt")) }
        val e = assertThrows(AcceleratorException::class.java) { Accelerator.of("tpu") }
        assertTrue(e.message!!.contains("cpu, gpu, npu"))
        assertEquals(Accelerator.NPU, Accelerator.of(" NPU "))
    }

    @Test
    fun aFractionForAnotherBackendIsNotClaimed() {
        // A Vulkan manifest whose note names only XNNPACK partitions: the Vulkan share is unknown, not XNNPACK's.
        assertNull(AcceleratorPlan.decide(manifest("executorch-vulkan", mapOf("XnnpackBackend" to 1), 0.5)).expectedFraction)
    }
}
