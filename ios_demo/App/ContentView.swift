import AVFoundation
import EmoEdgeCore
import SwiftUI

/// One screen, the same as the Android demo's: model picker, the camera preview and
/// microphone level, the text field, a switch per modality, the emotion with its
/// probabilities, the fusion gate weights, and latency (last and p50/p90/p99).
struct ContentView: View {
    @ObservedObject var model: DemoViewModel

    var body: some View {
        NavigationStack {
            Form {
                Section("Model") {
                    Picker("Artifact", selection: Binding(get: { model.selectedID }, set: { model.select($0) })) {
                        ForEach(model.choices) { choice in Text(choice.title).tag(choice.id) }
                    }
                    Text(model.status).font(.footnote).foregroundStyle(.secondary)
                    ForEach(model.problems, id: \.self) { problem in
                        Text(problem).font(.footnote).foregroundStyle(.red)
                    }
                }
                Section("Inputs") {
                    CameraPreview(session: model.camera.session)
                        .frame(height: 160)
                        .clipShape(RoundedRectangle(cornerRadius: 8))
                    HStack {
                        Image(systemName: "mic.fill")
                        ProgressView(value: Double(max(0, min(1, (model.microphoneLevel + 60) / 60))))
                    }
                    TextField("Say something (text modality)", text: $model.text)
                    if let notice = model.replayNotice {
                        Label(notice, systemImage: "arrow.triangle.2.circlepath")
                            .font(.footnote).foregroundStyle(.orange)
                    }
                    ForEach(model.manifest?.spec.modalities ?? [], id: \.name) { modality in
                        Toggle(isOn: Binding(get: { model.enabled.contains(modality.name) },
                                             set: { _ in model.toggle(modality.name) })) {
                            VStack(alignment: .leading) {
                                Text(modality.name)
                                Text(source(of: modality)).font(.caption).foregroundStyle(.secondary)
                                if let why = model.absent[modality.name] {
                                    Text("absent: \(why)").font(.caption).foregroundStyle(.orange)
                                }
                            }
                        }
                    }
                }
                if let result = model.result {
                    Section("Emotion") {
                        HStack {
                            Text(result.label).font(.title.bold())
                            Spacer()
                            Text(String(format: "%.0f%%", result.confidence * 100)).font(.title2)
                        }
                        if let expected = model.expectedLabel {
                            Text("replayed sample's label: \(expected)").font(.caption).foregroundStyle(.secondary)
                        }
                        ForEach(result.classNames.indices, id: \.self) { index in
                            Bar(name: result.classNames[index], value: result.probabilities[index], tint: .blue)
                        }
                    }
                    Section("Gate weights") {
                        ForEach(result.modalityNames.indices, id: \.self) { index in
                            let name = result.modalityNames[index]
                            Bar(name: name, value: result.gateWeights[index],
                                tint: result.modalitiesUsed.contains(name) ? .green : .gray)
                        }
                    }
                    Section("Latency") {
                        LabeledContent("last", value: String(format: "%.2f ms (runtime %.2f ms)", result.latencyMs, result.runtimeMs))
                        if let stats = model.latency {
                            LabeledContent("p50 / p90 / p99",
                                           value: String(format: "%.2f / %.2f / %.2f ms", stats.p50Ms, stats.p90Ms, stats.p99Ms))
                            LabeledContent("runs", value: "\(stats.count)")
                        }
                    }
                }
            }
            .navigationTitle("EmoEdge")
        }
    }

    private func source(of modality: ModalitySpec) -> String {
        switch modality.kind {
        case .tokens: return "text field, \(modality.seqLen) tokens max"
        case .frames: return modality.encoder == "face"
            ? "camera, the largest face cropped to \(modality.height)×\(modality.width) gray"
            : "camera, \(modality.channels)×\(modality.height)×\(modality.width) per frame"
        case .features: return "replayed features (\(modality.featureDim) per step)"
        case .waveform: return "microphone, \(modality.sampleRate) Hz, \(Double(modality.seqLen) / Double(max(1, modality.sampleRate))) s window"
        }
    }
}

private struct Bar: View {
    let name: String
    let value: Double
    let tint: Color

    var body: some View {
        HStack {
            Text(name).frame(width: 90, alignment: .leading)
            ProgressView(value: max(0, min(1, value))).tint(tint)
            Text(String(format: "%.2f", value)).monospacedDigit().frame(width: 44, alignment: .trailing)
        }
    }
}

/// AVCaptureVideoPreviewLayer in SwiftUI.
private struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var previewLayer: AVCaptureVideoPreviewLayer? { layer as? AVCaptureVideoPreviewLayer }
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer?.session = session
        view.previewLayer?.videoGravity = .resizeAspectFill
        return view
    }

    func updateUIView(_ uiView: PreviewView, context: Context) {}
}
