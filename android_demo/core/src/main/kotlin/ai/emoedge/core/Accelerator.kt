package ai.emoedge.core

/** The processor a run asks for. Which delegate or execution provider that means depends on the runtime ([RuntimePlan]). */
enum class Accelerator(
    val json: String,
) {
    CPU("cpu"),
    GPU("gpu"),
    NPU("npu"),
    ;

    companion object {
        fun of(name: String): Accelerator =
            entries.firstOrNull { it.json == name.trim().lowercase() }
                ?: throw AcceleratorException("accelerator '$name' is not one of ${entries.joinToString { it.json }}")
    }
}

/** A runtime / accelerator combination this app cannot run; the message names the problem and the fix. */
class AcceleratorException(
    message: String,
) : IllegalArgumentException(message)

/**
 * What export wrote about the graph's partitioning (`notes.delegation` in the manifest, export/executorch.py
 * delegation_report): the backends and their partition counts, and the share of graph nodes inside them.
 */
class Delegation(
    val backends: Map<String, Int>,
    val delegatedFraction: Double?,
    val delegatedNodes: Int?,
    val nonDelegatedNodes: Int?,
) {
    companion object {
        /** The `delegation` object of a manifest's `notes`, or null when export recorded none (LiteRT, ONNX). */
        fun fromNotes(notes: Any?): Delegation? {
            val delegation = (notes as? Map<*, *>)?.get("delegation") as? Map<*, *> ?: return null
            val backends =
                (delegation["backends"] as? Map<*, *>)
                    ?.entries
                    ?.associate { (k, v) -> k.toString() to ((v as? Number)?.toInt() ?: 0) }
                    ?: emptyMap()
            return Delegation(
                backends = backends,
                delegatedFraction = (delegation["delegated_fraction"] as? Number)?.toDouble(),
                delegatedNodes = (delegation["delegated_nodes"] as? Number)?.toInt(),
                nonDelegatedNodes = (delegation["non_delegated_nodes"] as? Number)?.toInt(),
            )
        }
    }
}

/**
 * What the app requests for one artifact: the runtime, the accelerator, the delegate or execution provider it
 * asks that runtime for, and the share of the graph the export says that delegate takes (null: not known
 * before running; LiteRT and ONNX Runtime partition at load time and the manifest has no note of it).
 */
class RuntimePlan(
    val runtime: String,
    val accelerator: Accelerator,
    val delegate: String,
    val expectedFraction: Double?,
    val note: String,
)

/**
 * The decision from an artifact's manifest (its `format` and `notes.delegation`) and an optional accelerator
 * choice to the runtime path the Android app takes. Pure: the app's runners act on the plan, JUnit checks it.
 *
 * - ExecuTorch: the delegate is inside the `.pte` (chosen at export). `executorch` is XNNPACK (CPU);
 *   `executorch-vulkan` (`python -m export --delegates vulkan`) is the Vulkan GPU delegate and needs an
 *   executorch-android build with the Vulkan backend: when the runtime's registered backends are known
 *   (`ExecuTorchRuntime.getRegisteredBackends`) and lack `VulkanBackend`, it is refused with [VULKAN_RUNTIME_FIX].
 *   The NPU route is Qualcomm's QNN `.pte`, which needs the QNN SDK at export: refused with that reason.
 *   `executorch-coreml` is for iOS.
 * - LiteRT: one `.tflite` for every accelerator; CPU keeps the Interpreter (XNNPACK), GPU and NPU go
 *   through CompiledModel with `Accelerator.GPU` / `Accelerator.NPU`.
 * - ONNX Runtime: one `.onnx`; CPU is the default CPUExecutionProvider, GPU is NNAPI with its CPU
 *   fallback disabled (the vendor driver places it on the GPU or another accelerator), NPU is the QNN
 *   execution provider's HTP backend (Qualcomm SoCs, onnxruntime-android-qnn).
 */
object AcceleratorPlan {
    const val QNN_ERROR =
        "needs the Qualcomm QNN SDK: ExecuTorch's QNN .pte is lowered with the Qualcomm AI Engine Direct SDK " +
            "(QNN_SDK_ROOT), which this project cannot install; `python -m export --delegates qnn` says what is " +
            "missing. See README, \"Measure on your phone\"; on a Qualcomm phone use the LiteRT NPU or ONNX QNN path instead"

    /**
     * How to get an ExecuTorch runtime with the Vulkan backend (android_demo/README.md step 7): the Maven
     * `org.pytorch:executorch-android` AAR registers XNNPACK only, so the AAR is built from ExecuTorch's sources
     * with `EXECUTORCH_BUILD_VULKAN=ON` and the app is built with it through the `emoedge.executorchAar` property.
     */
    const val VULKAN_RUNTIME_FIX =
        "build the ExecuTorch AAR with the Vulkan backend from an ExecuTorch checkout at the app's executorchVersion " +
            "(Android NDK in ANDROID_NDK, the Vulkan SDK's glslc on PATH): `EXECUTORCH_BUILD_VULKAN=ON ANDROID_ABIS=arm64-v8a " +
            "BUILD_AAR_DIR=\$PWD/aar bash scripts/build_android_library.sh`, then build this app with it: " +
            "`./gradlew :app:installDebug -Pemoedge.executorchAar=/path/to/aar/executorch.aar` (android_demo/README.md, step 7)"

    /** The accelerator a manifest's artifact is built for when the caller does not choose one. */
    fun defaultFor(manifest: Manifest): Accelerator =
        when (manifest.format) {
            "executorch-vulkan" -> Accelerator.GPU
            "executorch-qnn" -> Accelerator.NPU
            else -> Accelerator.CPU
        }

    /**
     * The plan for [manifest] on [requested] (null: what the artifact is built for). [registeredBackends] are the
     * ExecuTorch runtime's registered backends when the caller knows them (`ExecuTorchRuntime.getRegisteredBackends`);
     * null skips that check, and a `.pte` whose delegate is missing then fails at load time instead.
     */
    fun decide(
        manifest: Manifest,
        requested: Accelerator? = null,
        registeredBackends: Collection<String>? = null,
    ): RuntimePlan {
        val accelerator = requested ?: defaultFor(manifest)
        val name = manifest.artifact
        return when (manifest.format) {
            "executorch" -> {
                executorch(manifest, accelerator, name)
            }

            "executorch-vulkan" -> {
                vulkan(manifest, accelerator, name, registeredBackends)
            }

            "executorch-qnn" -> {
                throw AcceleratorException("$name: the QNN .pte $QNN_ERROR")
            }

            "executorch-coreml" -> {
                throw AcceleratorException(
                    "$name is a Core ML .pte: it runs on iOS (ios_demo); on Android use model_<precision>.pte " +
                        "(XNNPACK, CPU) or the Vulkan .pte (`python -m export --delegates vulkan`, GPU)",
                )
            }

            "litert" -> {
                litert(manifest, accelerator)
            }

            "onnx" -> {
                onnx(accelerator)
            }

            else -> {
                throw AcceleratorException("$name: format '${manifest.format}' has no runtime in this app")
            }
        }
    }

    private fun fraction(
        manifest: Manifest,
        backend: String,
    ): Double? {
        val delegation = manifest.delegation ?: return null
        return if (backend in delegation.backends) delegation.delegatedFraction else null
    }

    private fun executorch(
        manifest: Manifest,
        accelerator: Accelerator,
        name: String,
    ): RuntimePlan =
        when (accelerator) {
            Accelerator.CPU -> {
                RuntimePlan(
                    "executorch",
                    accelerator,
                    "XnnpackBackend",
                    fraction(manifest, "XnnpackBackend"),
                    "ExecuTorch .pte lowered to XNNPACK (CPU)",
                )
            }

            Accelerator.GPU -> {
                throw AcceleratorException(
                    "$name is lowered to XNNPACK (CPU); for the GPU export the Vulkan .pte " +
                        "(`python -m export --delegates vulkan` writes model_fp32_vulkan.pte) and run that file",
                )
            }

            Accelerator.NPU -> {
                throw AcceleratorException("$name: the ExecuTorch NPU route is the Qualcomm QNN .pte, which $QNN_ERROR")
            }
        }

    private fun vulkan(
        manifest: Manifest,
        accelerator: Accelerator,
        name: String,
        registeredBackends: Collection<String>?,
    ): RuntimePlan {
        if (accelerator != Accelerator.GPU) {
            throw AcceleratorException(
                "$name is lowered to Vulkan (GPU) and runs only with accelerator gpu; for the ${accelerator.json} " +
                    "use model_fp32.pte (XNNPACK)",
            )
        }
        if (registeredBackends != null && "VulkanBackend" !in registeredBackends) {
            val found = registeredBackends.joinToString().ifEmpty { "none" }
            throw AcceleratorException(
                "$name is lowered to Vulkan, but this app's ExecuTorch runtime has no Vulkan backend (registered: $found; " +
                    "the Maven org.pytorch:executorch-android AAR has XNNPACK only): $VULKAN_RUNTIME_FIX",
            )
        }
        return RuntimePlan(
            "executorch",
            accelerator,
            "VulkanBackend",
            fraction(manifest, "VulkanBackend"),
            "ExecuTorch .pte lowered to Vulkan: needs an executorch-android build with the Vulkan backend; $VULKAN_RUNTIME_FIX",
        )
    }

    private fun litert(
        manifest: Manifest,
        accelerator: Accelerator,
    ): RuntimePlan {
        val delegate =
            when (accelerator) {
                Accelerator.CPU -> "cpu-xnnpack"
                Accelerator.GPU -> "litert-gpu"
                Accelerator.NPU -> "litert-npu"
            }
        val note =
            when (accelerator) {
                Accelerator.CPU -> "LiteRT Interpreter, default XNNPACK delegate"
                else -> "LiteRT CompiledModel with Accelerator.${accelerator.name} (ops it cannot take stay on the CPU)"
            }
        return RuntimePlan("litert", accelerator, delegate, manifest.delegation?.delegatedFraction, note)
    }

    private fun onnx(accelerator: Accelerator): RuntimePlan =
        when (accelerator) {
            Accelerator.CPU -> {
                RuntimePlan("onnx", accelerator, "CPUExecutionProvider", 1.0, "ONNX Runtime's default CPU provider")
            }

            Accelerator.GPU -> {
                RuntimePlan(
                    "onnx",
                    accelerator,
                    "NnapiExecutionProvider",
                    null,
                    "NNAPI with NNAPI_FLAG_CPU_DISABLED; nodes NNAPI cannot take run on ORT's CPU provider",
                )
            }

            Accelerator.NPU -> {
                RuntimePlan(
                    "onnx",
                    accelerator,
                    "QNNExecutionProvider",
                    null,
                    "QNN execution provider, HTP backend (Qualcomm SoCs; onnxruntime-android-qnn); other nodes on the CPU",
                )
            }
        }
}
