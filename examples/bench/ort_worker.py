# onnxruntime side of the ghostc benchmark: a long-lived worker that times onnxruntime on one model.
#
# Usage: ort_worker.py MODEL INPUT_BIN SHAPE THREADS   (SHAPE like 1x3x224x224)
#
# Protocol (one line each way, on stdin/stdout):
#   <- "ready <onnxruntime version>"   once the session is built
#   -> "run K"   <- K integers: nanoseconds of each sess.run, space-separated
#   -> "quit"    (or end of input) exits
# Only sess.run is inside the timed region (time.perf_counter_ns); the input array and the feed
# dict are built once. Errors go to stderr and exit non-zero.

import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: ort_worker.py MODEL INPUT_BIN SHAPE THREADS")
    model, input_bin, shape_s, threads_s = sys.argv[1:]
    shape = [int(d) for d in shape_s.lower().split("x")]
    threads = int(threads_s)

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])

    x = np.fromfile(input_bin, dtype="<f4")
    if x.size != int(np.prod(shape)):
        sys.exit(f"{input_bin} holds {x.size} floats, shape {shape_s} needs {int(np.prod(shape))}")
    feed = {sess.get_inputs()[0].name: x.reshape(shape)}
    out_names = [o.name for o in sess.get_outputs()]

    print(f"ready {ort.__version__}", flush=True)
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        words = line.split()
        if words == ["quit"]:
            return
        if len(words) == 2 and words[0] == "run":
            k = int(words[1])
            times = []
            for _ in range(k):
                t0 = time.perf_counter_ns()
                sess.run(out_names, feed)
                times.append(time.perf_counter_ns() - t0)
            print(" ".join(map(str, times)), flush=True)
        else:
            sys.exit(f"unknown command: {line.strip()!r}")


if __name__ == "__main__":
    main()
