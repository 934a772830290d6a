# Peer side of the ghostc benchmark: a long-lived worker that times one peer engine on one model.
#
# Usage: peer_worker.py ENGINE MODEL INPUT_BIN SHAPE THREADS   (ENGINE ort|openvino, SHAPE like 1x3x224x224)
#
# Protocol (one line each way, on stdin/stdout):
#   <- "ready <engine version>"   once the model is loaded and compiled
#   -> "run K"   <- K integers: nanoseconds of each inference, space-separated
#   -> "quit"    (or end of input) exits
# Only the inference call is inside the timed region (time.perf_counter_ns); the input array and
# the feed are built once. Errors go to stderr and exit non-zero.
#
# Settings, the same as ../shared/bench/peers uses:
#   ort:      CPUExecutionProvider, ORT_ENABLE_ALL, intra-op threads = THREADS, inter-op 1, sequential
#   openvino: CPU, INFERENCE_NUM_THREADS = THREADS, PERFORMANCE_HINT LATENCY, NUM_STREAMS 1,
#             INFERENCE_PRECISION_HINT f32

import sys
import time

import numpy as np


def load_ort(model, x, threads):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    out_names = [o.name for o in sess.get_outputs()]
    return ort.__version__, lambda: sess.run(out_names, feed)


def load_openvino(model, x, threads):
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(model), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
        "INFERENCE_PRECISION_HINT": "f32"})
    req = compiled.create_infer_request()
    return ov.get_version().split("-")[0], lambda: req.infer({0: x})


LOADERS = {"ort": load_ort, "openvino": load_openvino}


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in LOADERS:
        sys.exit("usage: peer_worker.py ort|openvino MODEL INPUT_BIN SHAPE THREADS")
    engine, model, input_bin, shape_s, threads_s = sys.argv[1:]
    shape = [int(d) for d in shape_s.lower().split("x")]

    x = np.fromfile(input_bin, dtype="<f4")
    if x.size != int(np.prod(shape)):
        sys.exit(f"{input_bin} holds {x.size} floats, shape {shape_s} needs {int(np.prod(shape))}")
    version, run = LOADERS[engine](model, x.reshape(shape), int(threads_s))

    print(f"ready {version}", flush=True)
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        words = line.split()
        if words == ["quit"]:
            return
        if len(words) == 2 and words[0] == "run":
            times = []
            for _ in range(int(words[1])):
                t0 = time.perf_counter_ns()
                run()
                times.append(time.perf_counter_ns() - t0)
            print(" ".join(map(str, times)), flush=True)
        else:
            sys.exit(f"unknown command: {line.strip()!r}")


if __name__ == "__main__":
    main()
