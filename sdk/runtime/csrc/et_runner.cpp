// A small ExecuTorch runner for .pte files, built against the executorch wheel's own
// include/ and lib/libexecutorch*.so (no torch, no CMake). One source, two builds:
//
//   shared library (x86_64, torch-free backend loaded with ctypes):
//     g++ -std=c++17 -O2 -fPIC -shared sdk/runtime/csrc/et_runner.cpp -I ET/include -L ET/lib \
//         -Wl,--no-as-needed -lexecutorch_backend_xnnpack -lexecutorch_kernels_optimized \
//         -lexecutorch_kernels_quantized -Wl,--as-needed -lexecutorch -lexecutorch_threadpool -o libet_runner.so
//   command line (aarch64 under qemu, or any host): the same plus -DET_RUNNER_MAIN, without -shared.
//
// The backend and kernel libraries register themselves from static initializers, so they are
// linked with --no-as-needed (nothing references them by symbol). sdk/runtime/native_build.py builds both (export/arm64.py the aarch64 one).
//
// et_open verifies the program flatbuffer (Program::Verification::InternalConsistency); payloads it does not
// cover (delegate blobs, constant data) are probed in a child process by sdk/runtime/probe.py first.
//
// C ABI (every function is safe to call with a NULL handle; errors leave a message for et_last_error):
//   void*       et_open(const char* path, int threads)      load a .pte and its "forward" method; NULL on error.
//                                                            threads > 0 resizes the process-wide XNNPACK threadpool.
//   void        et_close(void* handle)
//   const char* et_last_error(void)                          the calling thread's last error ("" when none)
//   int         et_num_inputs(void* handle), et_num_outputs(void* handle)      -1 on error
//   int         et_input_info(void* handle, int index, int* dtype, int64_t* sizes, int max_dims)
//   int         et_output_info(...same...)                   the number of dims (sizes filled up to max_dims);
//                                                            dtype is ExecuTorch's ScalarType code
//                                                            (0 uint8, 1 int8, 3 int32, 4 int64, 6 float32, 11 bool);
//                                                            -1 on error (e.g. a non-tensor input)
//   int64_t     et_input_nbytes(void* handle, int index), et_output_nbytes(...)  -1 on error
//   int         et_run(void* handle, const void* const* inputs, const int64_t* input_nbytes, int num_inputs,
//                      void* const* outputs, const int64_t* output_nbytes, int num_outputs)
//                                                            runs forward once: inputs are contiguous buffers in the
//                                                            program's dtype and shape (checked by byte count against
//                                                            MethodMeta), outputs are copied into caller buffers of
//                                                            exactly et_output_nbytes bytes. 0 on success, -1 on error.
//                                                            Calls on one handle are serialized by a mutex.
//
// Command line (-DET_RUNNER_MAIN):
//   et_runner info MODEL.pte                       prints the inputs and outputs (dtype code, shape) as JSON
//   et_runner run MODEL.pte IN.bin OUT.bin [THREADS]
//       IN.bin holds N samples back to back, each the raw bytes of every input in order; OUT.bin receives
//       the raw bytes of every output for each sample. Exit status 0, or 1 with the error on stderr.

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/executor/method_meta.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// The wheel ships libexecutorch_threadpool.so but not its header (extension/threadpool/threadpool.h);
// these two declarations match that header in ExecuTorch 1.x (only called through a pointer).
namespace executorch::extension::threadpool {
class ThreadPool final {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

#define ET_API extern "C" __attribute__((visibility("default")))

namespace {

using executorch::aten::ScalarType;
using executorch::extension::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::MethodMeta;
using executorch::runtime::Tag;
using executorch::runtime::TensorInfo;

thread_local std::string g_last_error;
std::mutex g_threadpool_mutex;

struct TensorSpec {
  ScalarType dtype;
  std::vector<executorch::aten::SizesType> sizes;
  size_t nbytes;
};

struct Runner {
  std::string path;
  std::unique_ptr<Module> module;
  std::vector<TensorSpec> inputs, outputs;
  std::mutex mutex;
};

int fail(const std::string& message) {
  g_last_error = message;
  return -1;
}

std::string error_text(Error error) {
  return std::string(executorch::runtime::to_string(error)) + " (error " +
         std::to_string(static_cast<int>(error)) + ")";
}

std::string shape_text(const std::vector<executorch::aten::SizesType>& sizes) {
  std::string text = "[";
  for (size_t i = 0; i < sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(sizes[i]);
  return text + "]";
}

bool read_specs(const MethodMeta& meta, bool inputs, std::vector<TensorSpec>& specs, std::string& error) {
  const size_t count = inputs ? meta.num_inputs() : meta.num_outputs();
  for (size_t i = 0; i < count; ++i) {
    auto tag = inputs ? meta.input_tag(i) : meta.output_tag(i);
    if (!tag.ok() || tag.get() != Tag::Tensor) {
      error = std::string(inputs ? "input " : "output ") + std::to_string(i) +
              " is not a tensor; this runner handles tensor inputs and outputs only";
      return false;
    }
    auto info = inputs ? meta.input_tensor_meta(i) : meta.output_tensor_meta(i);
    if (!info.ok()) {
      error = "cannot read the metadata of " + std::string(inputs ? "input " : "output ") + std::to_string(i) +
              ": " + error_text(info.error());
      return false;
    }
    TensorSpec spec{info->scalar_type(), {}, info->nbytes()};
    for (auto size : info->sizes()) spec.sizes.push_back(size);
    specs.push_back(std::move(spec));
  }
  return true;
}

Runner* as_runner(void* handle) {
  if (handle == nullptr) fail("null handle (et_open failed or the runner was closed)");
  return static_cast<Runner*>(handle);
}

int tensor_info(const std::vector<TensorSpec>& specs, const char* what, int index, int* dtype, int64_t* sizes,
                int max_dims) {
  if (index < 0 || static_cast<size_t>(index) >= specs.size())
    return fail(std::string(what) + " index " + std::to_string(index) + " out of range (the method has " +
                std::to_string(specs.size()) + ")");
  const TensorSpec& spec = specs[index];
  if (dtype) *dtype = static_cast<int>(spec.dtype);
  for (int d = 0; sizes && d < max_dims && static_cast<size_t>(d) < spec.sizes.size(); ++d) sizes[d] = spec.sizes[d];
  return static_cast<int>(spec.sizes.size());
}

}  // namespace

ET_API const char* et_last_error(void) { return g_last_error.c_str(); }

ET_API void* et_open(const char* path, int threads) {
  g_last_error.clear();
  if (path == nullptr) return fail("et_open: path is NULL"), nullptr;
  try {
    if (threads > 0) {
      std::lock_guard<std::mutex> lock(g_threadpool_mutex);  // the XNNPACK threadpool is process-wide
      auto* pool = executorch::extension::threadpool::get_threadpool();
      if (pool != nullptr && pool->get_thread_count() != static_cast<size_t>(threads))
        pool->_unsafe_reset_threadpool(static_cast<uint32_t>(threads));
    }
    auto runner = std::make_unique<Runner>();
    runner->path = path;
    runner->module = std::make_unique<Module>(runner->path, Module::LoadMode::Mmap);
    // InternalConsistency: ExecuTorch verifies the whole program flatbuffer (every offset and
    // vector in bounds) before using it; Minimal (the default) checks only the header.
    Error error = runner->module->load(executorch::runtime::Program::Verification::InternalConsistency);
    if (error != Error::Ok) return fail(std::string(path) + ": cannot load the program: " + error_text(error)), nullptr;
    error = runner->module->load_method("forward");
    if (error != Error::Ok)
      return fail(std::string(path) + ": cannot load method 'forward': " + error_text(error) +
                  " (a delegate or operator missing from this build?)"),
             nullptr;
    auto meta = runner->module->method_meta("forward");
    if (!meta.ok()) return fail(std::string(path) + ": no metadata for 'forward': " + error_text(meta.error())), nullptr;
    std::string message;
    if (!read_specs(meta.get(), true, runner->inputs, message) ||
        !read_specs(meta.get(), false, runner->outputs, message))
      return fail(std::string(path) + ": " + message), nullptr;
    return runner.release();
  } catch (const std::exception& err) {
    return fail(std::string(path) + ": " + err.what()), nullptr;
  }
}

ET_API void et_close(void* handle) { delete static_cast<Runner*>(handle); }

ET_API int et_num_inputs(void* handle) {
  Runner* r = as_runner(handle);
  return r ? static_cast<int>(r->inputs.size()) : -1;
}

ET_API int et_num_outputs(void* handle) {
  Runner* r = as_runner(handle);
  return r ? static_cast<int>(r->outputs.size()) : -1;
}

ET_API int et_input_info(void* handle, int index, int* dtype, int64_t* sizes, int max_dims) {
  Runner* r = as_runner(handle);
  return r ? tensor_info(r->inputs, "input", index, dtype, sizes, max_dims) : -1;
}

ET_API int et_output_info(void* handle, int index, int* dtype, int64_t* sizes, int max_dims) {
  Runner* r = as_runner(handle);
  return r ? tensor_info(r->outputs, "output", index, dtype, sizes, max_dims) : -1;
}

ET_API int64_t et_input_nbytes(void* handle, int index) {
  Runner* r = as_runner(handle);
  if (!r) return -1;
  if (index < 0 || static_cast<size_t>(index) >= r->inputs.size()) return fail("input index out of range");
  return static_cast<int64_t>(r->inputs[index].nbytes);
}

ET_API int64_t et_output_nbytes(void* handle, int index) {
  Runner* r = as_runner(handle);
  if (!r) return -1;
  if (index < 0 || static_cast<size_t>(index) >= r->outputs.size()) return fail("output index out of range");
  return static_cast<int64_t>(r->outputs[index].nbytes);
}

ET_API int et_run(void* handle, const void* const* inputs, const int64_t* input_nbytes, int num_inputs,
                  void* const* outputs, const int64_t* output_nbytes, int num_outputs) {
  Runner* r = as_runner(handle);
  if (!r) return -1;
  g_last_error.clear();
  if (num_inputs != static_cast<int>(r->inputs.size()))
    return fail("expected " + std::to_string(r->inputs.size()) + " inputs, got " + std::to_string(num_inputs));
  if (num_outputs != static_cast<int>(r->outputs.size()))
    return fail("expected " + std::to_string(r->outputs.size()) + " outputs, got " + std::to_string(num_outputs));
  if ((num_inputs && (!inputs || !input_nbytes)) || (num_outputs && (!outputs || !output_nbytes)))
    return fail("et_run: NULL input or output array");
  for (int i = 0; i < num_inputs; ++i) {
    const TensorSpec& spec = r->inputs[i];
    if (inputs[i] == nullptr) return fail("input " + std::to_string(i) + " is NULL");
    if (input_nbytes[i] != static_cast<int64_t>(spec.nbytes))
      return fail("input " + std::to_string(i) + ": " + std::to_string(input_nbytes[i]) + " bytes given, the program " +
                  "expects " + executorch::runtime::toString(spec.dtype) + " " + shape_text(spec.sizes) + " (" +
                  std::to_string(spec.nbytes) + " bytes)");
  }
  for (int i = 0; i < num_outputs; ++i) {
    if (outputs[i] == nullptr) return fail("output " + std::to_string(i) + " is NULL");
    if (output_nbytes[i] != static_cast<int64_t>(r->outputs[i].nbytes))
      return fail("output " + std::to_string(i) + ": buffer of " + std::to_string(output_nbytes[i]) +
                  " bytes, the program writes " + std::to_string(r->outputs[i].nbytes));
  }
  std::lock_guard<std::mutex> lock(r->mutex);
  try {
    std::vector<executorch::extension::TensorPtr> tensors;
    std::vector<EValue> values;
    tensors.reserve(num_inputs);
    values.reserve(num_inputs);
    for (int i = 0; i < num_inputs; ++i) {
      const TensorSpec& spec = r->inputs[i];
      // ExecuTorch reads inputs, never writes them: the const_cast only satisfies from_blob's signature.
      tensors.push_back(executorch::extension::from_blob(const_cast<void*>(inputs[i]), spec.sizes, spec.dtype));
      values.emplace_back(*tensors.back());
    }
    auto result = r->module->forward(values);
    if (!result.ok()) return fail("forward failed: " + error_text(result.error()));
    if (result->size() != static_cast<size_t>(num_outputs))
      return fail("forward returned " + std::to_string(result->size()) + " values, expected " +
                  std::to_string(num_outputs));
    for (int i = 0; i < num_outputs; ++i) {
      const EValue& value = (*result)[i];
      if (!value.isTensor()) return fail("output " + std::to_string(i) + " is not a tensor");
      const auto& tensor = value.toTensor();
      if (tensor.nbytes() != r->outputs[i].nbytes || tensor.scalar_type() != r->outputs[i].dtype)
        return fail("output " + std::to_string(i) + " does not match the method's metadata");
      std::memcpy(outputs[i], tensor.const_data_ptr(), tensor.nbytes());
    }
    return 0;
  } catch (const std::exception& err) {
    return fail(std::string("forward failed: ") + err.what());
  }
}

#ifdef ET_RUNNER_MAIN
namespace {

int usage() {
  std::fprintf(stderr,
               "usage: et_runner info MODEL.pte\n"
               "       et_runner run MODEL.pte IN.bin OUT.bin [THREADS]\n");
  return 2;
}

bool read_file(const char* path, std::vector<char>& data) {
  FILE* f = std::fopen(path, "rb");
  if (!f) return false;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) data.insert(data.end(), buffer, buffer + n);
  bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

void print_specs(void* handle, bool inputs) {
  const int count = inputs ? et_num_inputs(handle) : et_num_outputs(handle);
  std::printf("\"%s\": [", inputs ? "inputs" : "outputs");
  for (int i = 0; i < count; ++i) {
    int dtype = -1;
    int64_t sizes[16];
    int dims = inputs ? et_input_info(handle, i, &dtype, sizes, 16) : et_output_info(handle, i, &dtype, sizes, 16);
    std::printf("%s{\"dtype\": %d, \"shape\": [", i ? ", " : "", dtype);
    for (int d = 0; d < dims && d < 16; ++d) std::printf("%s%lld", d ? ", " : "", static_cast<long long>(sizes[d]));
    std::printf("], \"nbytes\": %lld}", static_cast<long long>(inputs ? et_input_nbytes(handle, i)
                                                                       : et_output_nbytes(handle, i)));
  }
  std::printf("]");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string command = argv[1];
  if (command != "info" && command != "run") return usage();
  if (command == "run" && argc != 5 && argc != 6) return usage();
  const int threads = (command == "run" && argc == 6) ? std::atoi(argv[5]) : 1;
  void* handle = et_open(argv[2], threads);
  if (!handle) {
    std::fprintf(stderr, "error: %s\n", et_last_error());
    return 1;
  }
  if (command == "info") {
    std::printf("{");
    print_specs(handle, true);
    std::printf(", ");
    print_specs(handle, false);
    std::printf("}\n");
    et_close(handle);
    return 0;
  }
  const int n_in = et_num_inputs(handle), n_out = et_num_outputs(handle);
  std::vector<int64_t> in_bytes(n_in), out_bytes(n_out);
  int64_t sample_in = 0, sample_out = 0;
  for (int i = 0; i < n_in; ++i) sample_in += (in_bytes[i] = et_input_nbytes(handle, i));
  for (int i = 0; i < n_out; ++i) sample_out += (out_bytes[i] = et_output_nbytes(handle, i));
  std::vector<char> data;
  if (!read_file(argv[3], data)) {
    std::fprintf(stderr, "error: cannot read %s\n", argv[3]);
    return 1;
  }
  if (sample_in == 0 || data.size() % sample_in != 0) {
    std::fprintf(stderr, "error: %s holds %zu bytes, not a multiple of one sample's inputs (%lld bytes)\n", argv[3],
                 data.size(), static_cast<long long>(sample_in));
    return 1;
  }
  const size_t samples = data.size() / sample_in;
  std::vector<char> result(samples * sample_out);
  std::vector<const void*> in_ptrs(n_in);
  std::vector<void*> out_ptrs(n_out);
  for (size_t s = 0; s < samples; ++s) {
    const char* in = data.data() + s * sample_in;
    char* out = result.data() + s * sample_out;
    for (int i = 0; i < n_in; ++i) in_ptrs[i] = in, in += in_bytes[i];
    for (int i = 0; i < n_out; ++i) out_ptrs[i] = out, out += out_bytes[i];
    if (et_run(handle, in_ptrs.data(), in_bytes.data(), n_in, out_ptrs.data(), out_bytes.data(), n_out) != 0) {
      std::fprintf(stderr, "error: sample %zu: %s\n", s, et_last_error());
      return 1;
    }
  }
  et_close(handle);
  FILE* f = std::fopen(argv[4], "wb");
  if (!f || std::fwrite(result.data(), 1, result.size(), f) != result.size() || std::fclose(f) != 0) {
    std::fprintf(stderr, "error: cannot write %s\n", argv[4]);
    return 1;
  }
  return 0;
}
#endif
