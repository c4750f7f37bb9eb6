// Plain Kotlin (no android.*): manifest, input packing and masks, tokenizer, softmax/top-k, ring
// buffers, latency statistics, energy integration, JSON reports. Its tests read ../../contract.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    systemProperty("emoedge.contract.dir", rootProject.projectDir.resolve("../contract").absolutePath)
}
