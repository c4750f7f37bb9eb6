plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

val executorchVersion: String by project
val litertVersion: String by project
val onnxruntimeVersion: String by project
val mediapipeVersion: String by project

// The ExecuTorch runtime: the Maven AAR org.pytorch:executorch-android:$executorchVersion (XNNPACK only) unless
// `-Pemoedge.executorchAar=/path/to/executorch.aar` (or that line in gradle.properties) names a local AAR, e.g.
// one built from ExecuTorch's sources with the Vulkan backend for the Vulkan .pte (README.md step 7).
// A relative path is taken from android_demo/.
val executorchAar: File? =
    (findProperty("emoedge.executorchAar") as String?)?.trim()?.takeIf { it.isNotEmpty() }?.let { path ->
        rootProject.file(path).also { aar ->
            if (!aar.isFile) {
                throw GradleException(
                    "-Pemoedge.executorchAar=$path: no file at ${aar.absolutePath}. Build it in an ExecuTorch " +
                        "v$executorchVersion checkout with `EXECUTORCH_BUILD_VULKAN=ON ANDROID_ABIS=arm64-v8a " +
                        "BUILD_AAR_DIR=\$PWD/aar bash scripts/build_android_library.sh` (android_demo/README.md step 7), " +
                        "or drop the property to use org.pytorch:executorch-android:$executorchVersion from Maven",
                )
            }
        }
    }

android {
    namespace = "ai.emoedge.demo"
    compileSdk = 35 // SystemHealthManager.getPowerMonitorReadings (BenchmarkActivity, behind SDK_INT checks)

    defaultConfig {
        applicationId = "ai.emoedge.demo"
        minSdk = 26
        targetSdk = 34
        versionCode = 1
        versionName = "0.1"
        // src/androidTest: GoldenInstrumentedTest checks every bundled artifact against its golden vectors.
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
        ndk {
            abiFilters += listOf("arm64-v8a")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    buildFeatures {
        compose = true
    }
    androidResources {
        // models are memory-mapped or copied out of the APK: keep them uncompressed
        noCompress += listOf("pte", "tflite", "onnx")
    }
}

dependencies {
    implementation(project(":core"))

    // Runtimes: ExecuTorch by default, LiteRT and ONNX Runtime switchable on screen / by --es runtime.
    if (executorchAar != null) {
        implementation(files(executorchAar)) // -Pemoedge.executorchAar: a local AAR (e.g. with Vulkan) in place of Maven's
    } else {
        implementation("org.pytorch:executorch-android:$executorchVersion")
    }
    implementation("com.google.ai.edge.litert:litert:$litertVersion")
    implementation("com.google.ai.edge.litert:litert-gpu:$litertVersion") // CompiledModel's GPU accelerator
    implementation("com.microsoft.onnxruntime:onnxruntime-android:$onnxruntimeVersion")
    // executorch-android's Java/JNI layer needs these at runtime; a local AAR has no POM to bring them, so they are
    // declared for both (ExecuTorch's executorch_android/build.gradle: fbjni 0.7.0, soloader's nativeloader 0.10.5)
    implementation("com.facebook.soloader:soloader:0.10.5")
    implementation("com.facebook.fbjni:fbjni:0.7.0") // what executorch-android 1.5.1 depends on

    implementation(platform("androidx.compose:compose-bom:2024.09.03"))
    implementation("androidx.compose.ui:ui")
    implementation("androidx.compose.material3:material3")
    implementation("androidx.activity:activity-compose:1.9.2")
    implementation("androidx.lifecycle:lifecycle-runtime-ktx:2.8.6")

    val camerax = "1.3.4"
    implementation("androidx.camera:camera-camera2:$camerax")
    implementation("androidx.camera:camera-lifecycle:$camerax")
    implementation("androidx.camera:camera-view:$camerax")
    // The face detector for the live video modality (BlazeFace short range, assets/blaze_face_short_range.tflite).
    implementation("com.google.mediapipe:tasks-vision:$mediapipeVersion")

    androidTestImplementation("androidx.test.ext:junit:1.2.1")
    androidTestImplementation("androidx.test:runner:1.6.2")
}

// `./gradlew :app:copyModelAssets -Pmodels=../dist/mosi -Pdataset=mosi` runs the copy script
// (the project's Python venv must exist: `make install` at the repository root).
tasks.register<Exec>("copyModelAssets") {
    val models = (project.findProperty("models") as String?) ?: "dist/mosi"
    val dataset = project.findProperty("dataset") as String?
    workingDir = rootProject.projectDir.parentFile
    commandLine(
        listOf(".venv/bin/python", "android_demo/scripts/copy_assets.py", "--models", models) +
            (if (dataset != null) listOf("--dataset", dataset) else emptyList()),
    )
}
