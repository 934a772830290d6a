"""Builds the small synthetic ONNX models under examples/synthetic/ and their onnxruntime reference
outputs: the cases the real GhostNet exports lack (odd-width Ghost module, BN kept in a whole
bottleneck with squeeze-excite, 1xK kernels, dilation, pooling, resize, and more).

Usage (needs onnx, onnxruntime, numpy; not needed to run the tests, whose fixtures are committed):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install onnx onnxruntime numpy
    /tmp/venv/bin/python examples/synthetic/make.py [case ...]
Each case folder gets model.onnx, input.bin and output.bin (raw little-endian f32, onnxruntime
CPUExecutionProvider with all graph optimizations disabled).
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


class G:
    """A tiny graph builder: names are generated, weights seeded."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def w(self, shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        s = scale if scale is not None else 1.0 / np.sqrt(fan_in)
        n = self.name("w")
        self.inits.append(numpy_helper.from_array((self.rng.standard_normal(shape) * s).astype(np.float32), n))
        return n

    def const_i64(self, values):
        n = self.name("c")
        self.nodes.append(helper.make_node("Constant", [], [n], name=n, value=numpy_helper.from_array(np.array(values, dtype=np.int64))))
        return n

    def op(self, op_type, inputs, n_out=1, **attrs):
        name = self.name(op_type)
        outs = [f"{name}_out{i}" if n_out > 1 else f"{name}_out" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs if n_out > 1 else outs[0]

    def conv(self, x, c_in, c_out, k=(1, 1), stride=1, pad=None, group=1, bias=True, dilation=1):
        pad = pad if pad is not None else [((k[0] - 1) * dilation) // 2, ((k[1] - 1) * dilation) // 2] * 2
        ins = [x, self.w([c_out, c_in // group, k[0], k[1]])]
        if bias:
            ins.append(self.w([c_out], 0.1))
        return self.op("Conv", ins, kernel_shape=list(k), strides=[stride, stride], pads=pad, group=group, dilations=[dilation, dilation])

    def bn(self, x, c):
        scale = self.name("bn_scale")
        bias = self.name("bn_bias")
        mean = self.name("bn_mean")
        var = self.name("bn_var")
        self.inits += [
            numpy_helper.from_array(self.rng.uniform(0.5, 1.5, c).astype(np.float32), scale),
            numpy_helper.from_array((self.rng.standard_normal(c) * 0.1).astype(np.float32), bias),
            numpy_helper.from_array((self.rng.standard_normal(c) * 0.1).astype(np.float32), mean),
            numpy_helper.from_array(self.rng.uniform(0.5, 2.0, c).astype(np.float32), var),
        ]
        return self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def ghost(self, x, c_in, oup, relu=True, bn=False):
        """Ghost module as timm exports it: TorchScript Slice with Constant operands."""
        init = (oup + 1) // 2
        p = self.conv(x, c_in, init, bias=not bn)
        if bn:
            p = self.bn(p, init)
        if relu:
            p = self.op("Relu", [p])
        c = self.conv(p, init, init, k=(3, 3), group=init, bias=not bn)
        if bn:
            c = self.bn(c, init)
        if relu:
            c = self.op("Relu", [c])
        cat = self.op("Concat", [p, c], axis=1)
        return self.op("Slice", [cat, self.const_i64([0]), self.const_i64([oup]), self.const_i64([1]), self.const_i64([1])])

    def se(self, x, c, mid):
        m = self.op("ReduceMean", [x], axes=[2, 3], keepdims=1)
        h = self.op("Relu", [self.conv(m, c, mid)])
        g = self.op("HardSigmoid", [self.conv(h, mid, c)], alpha=1.0 / 6, beta=0.5)
        return self.op("Mul", [x, g])

    def save(self, case, x_shape, out, opset=13, special=False, full_check=True):
        def build(out_shape):
            graph = helper.make_graph(
                self.nodes,
                case,
                [helper.make_tensor_value_info("input", TensorProto.FLOAT, x_shape)],
                [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
                self.inits,
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="ghostc examples/synthetic/make.py")
            model.ir_version = 8
            return model

        x = np.random.default_rng(1234).standard_normal(x_shape).astype(np.float32)
        if special:
            # NaN, infinities and subnormals at a few places, to see how they propagate.
            flat = x.reshape(-1)
            flat[[100, 700]] = np.nan
            flat[300] = np.inf
            flat[1000] = -np.inf
            flat[17::79] = np.float32(1e-40)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        run = lambda m: ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        y = run(build([]))  # scalar-shaped placeholder; onnxruntime only warns
        model = build(list(y.shape))
        # full_check runs ONNX shape inference, which some cases disagree with on purpose
        # (spec_corners: it sizes a Resize in f64 where onnxruntime runs it in f32).
        onnx.checker.check_model(model, full_check=full_check)
        y = run(model)
        d = os.path.join(HERE, case)
        os.makedirs(d, exist_ok=True)
        onnx.save(model, os.path.join(d, "model.onnx"))
        x.tofile(os.path.join(d, "input.bin"))
        y.astype(np.float32).tofile(os.path.join(d, "output.bin"))
        print(f"{case}: input {list(x.shape)} output {list(y.shape)}")


def ghost_module():
    g = G(1)
    y = g.ghost("input", 16, 16)
    g.save("ghost_module", [1, 16, 14, 14], y)


def ghost_module_odd():
    # oup = 15: init = 8, the cheap half makes 8 more and the Slice drops the last channel.
    g = G(2)
    y = g.ghost("input", 12, 15)
    g.save("ghost_module_odd", [1, 12, 10, 10], y)


def ghost_bottleneck_se():
    # A stride-2 GhostNet bottleneck with BN kept: ghost1 (relu) -> dw 3x3 s2 + BN -> SE ->
    # ghost2 (no relu), plus a dw 3x3 s2 + BN + 1x1 conv + BN shortcut, added.
    g = G(3)
    x = g.ghost("input", 16, 48, relu=True, bn=True)
    x = g.bn(g.conv(x, 48, 48, k=(3, 3), stride=2, group=48, bias=False), 48)
    x = g.se(x, 48, 12)
    x = g.ghost(x, 48, 24, relu=False, bn=True)
    s = g.bn(g.conv("input", 16, 16, k=(3, 3), stride=2, group=16, bias=False), 16)
    s = g.bn(g.conv(s, 16, 24, bias=False), 24)
    y = g.op("Add", [x, s])
    g.save("ghost_bottleneck_se", [2, 16, 16, 16], y)


def stride2():
    # Stem-like 3x3 s2 conv, then 5x5 s2 depthwise, odd sizes (15 -> 8 -> 4).
    g = G(4)
    x = g.op("Relu", [g.conv("input", 3, 8, k=(3, 3), stride=2)])
    y = g.op("Relu", [g.conv(x, 8, 8, k=(5, 5), stride=2, group=8)])
    g.save("stride2", [1, 3, 15, 15], y)


def mixed_ops():
    # Everything else the front end supports, on one small tensor.
    g = G(5)
    x = g.conv("input", 4, 6, k=(1, 5))
    x = g.conv(x, 6, 6, k=(5, 1), group=2)
    x = g.conv(x, 6, 6, k=(3, 3), dilation=2)
    x = g.op("HardSwish", [x])
    x = g.op("Clip", [x, g.op("Constant", [], value=numpy_helper.from_array(np.array(-1.0, np.float32))), g.op("Constant", [], value=numpy_helper.from_array(np.array(1.5, np.float32)))])
    a, b = g.op("Split", [x, g.const_i64([2, 4])], n_out=2, axis=1)
    b = g.op("Sigmoid", [b])
    x = g.op("Concat", [b, a], axis=1)
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    x = g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 1, 1], count_include_pad=0)
    x = g.op("Resize", [x, "", g.op("Constant", [], value=numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32)))], mode="nearest")
    x = g.op("Resize", [x, "", "", g.const_i64([1, 6, 13, 11])], mode="linear", coordinate_transformation_mode="half_pixel")
    x = g.op("Sub", [x, g.w([6, 1, 1])])
    x = g.op("Div", [x, g.op("Constant", [], value=numpy_helper.from_array(np.array([2.0], np.float32)))])
    # Shape arithmetic as TorchScript emits it: flatten to [N, -1] via Shape/Gather/Unsqueeze/Concat.
    n = g.op("Unsqueeze", [g.op("Gather", [g.op("Shape", [x]), g.op("Constant", [], value=numpy_helper.from_array(np.array(0, np.int64)))], axis=0), g.const_i64([0])])
    x = g.op("Reshape", [x, g.op("Concat", [n, g.const_i64([-1])], axis=0)])
    x = g.op("Transpose", [g.op("Reshape", [x, g.const_i64([1, 6, 143])]), ], perm=[0, 2, 1])
    x = g.op("MatMul", [x, g.w([6, 5])])
    x = g.op("Softmax", [x], axis=-1)
    x = g.op("Flatten", [x], axis=1)
    y = g.op("Gemm", [x, g.w([10, 715]), g.w([10], 0.1)], transB=1)
    g.save("mixed_ops", [1, 4, 12, 10], y, opset=18)


def nan_inf():
    # A bottleneck without SE (whose channel means would spread one NaN everywhere) fed NaN,
    # +-inf and subnormal inputs.
    g = G(6)
    x = g.ghost("input", 8, 16)
    x = g.op("Clip", [x, g.op("Constant", [], value=numpy_helper.from_array(np.array(0.0, np.float32))), g.op("Constant", [], value=numpy_helper.from_array(np.array(6.0, np.float32)))])
    x = g.ghost(x, 16, 8, relu=False)
    y = g.op("Add", [x, "input"])
    g.save("nan_inf", [1, 8, 12, 12], y, special=True)


def small_planes():
    # The late stages of a GhostNet, where ghostc picks NHWC: batch 2, 14x14 -> 7x7, channel
    # counts that are not multiples of a vector (20, 33), a stride-2 5x5 depthwise conv, SE, an
    # odd-width Ghost module with a residual, and the pooled head.
    g = G(7)
    x = g.ghost("input", 20, 40)
    x = g.conv(x, 40, 40, k=(5, 5), stride=2, group=40)
    x = g.se(x, 40, 12)
    x = g.ghost(x, 40, 33, relu=False)
    s = g.conv("input", 20, 20, k=(5, 5), stride=2, group=20)
    s = g.conv(s, 20, 33)
    x = g.op("Add", [x, s])
    x = g.ghost(x, 33, 64)
    x = g.op("Relu", [g.conv(x, 64, 48)])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    w = g.w((10, 48))
    b = g.w((10,), scale=0.1)
    y = g.op("Gemm", [x, w, b], transB=1)
    g.save("small_planes", [2, 20, 14, 14], y)


def spec_corners():
    # Differences from onnxruntime that differential testing found: Clip with min > max (every
    # value becomes max), a Dropout whose mask output is declared but unread, and nearest Resize
    # by a scale not exact in f32 (1.3 on 10 rows: onnxruntime's f32 product gives 13 rows).
    g = G(8)
    x = g.conv("input", 3, 4, k=(3, 3))
    a, b = g.op("Split", [x, g.const_i64([2, 2])], n_out=2, axis=1)
    f32 = lambda v: g.op("Constant", [], value=numpy_helper.from_array(np.array(v, np.float32)))
    a = g.op("Clip", [a, f32(0.5), f32(-0.25)])
    b, _mask = g.op("Dropout", [b], n_out=2)
    x = g.op("Concat", [a, b], axis=1)
    x = g.op("Resize", [x, "", f32([1, 1, 1.3, 1.7])], mode="nearest")
    y = g.conv(x, 4, 5)
    g.save("spec_corners", [1, 3, 10, 9], y, full_check=False)


def special_pool_resize():
    # NaN and infinities through the ops where onnxruntime's handling is easy to miss: MaxPool
    # scans each window keeping `m > v ? m : v` (NaN survives only as a window's last element),
    # AveragePool spreads it, and linear Resize
    # keeps an infinity wherever it has a non-zero weight, gives NaN where an infinite
    # neighbour has weight 0 (a whole-number source coordinate), and mixes opposite
    # infinities to NaN.
    g = G(9)
    f32 = lambda v: g.op("Constant", [], value=numpy_helper.from_array(np.array(v, np.float32)))
    m = g.op("MaxPool", ["input"], kernel_shape=[2, 2], strides=[2, 2])
    a = g.op("AveragePool", ["input"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    x = g.op("Concat", [m, a], axis=1)
    x = g.op("Resize", [x, "", f32([1, 1, 2, 2])], mode="linear", coordinate_transformation_mode="asymmetric")
    y = g.op("Resize", [x, "", f32([1, 1, 1.5, 1.5])], mode="linear", coordinate_transformation_mode="half_pixel")
    g.save("special_pool_resize", [1, 4, 18, 18], y, special=True)


def random_graph(seed):
    # A seeded random chain of the supported ops with branches (residual Add, Concat, Mul
    # gates), valid by construction, ending in Flatten + Gemm to 10 values: differential testing
    # against onnxruntime, so that the next difference is found by the suite.
    rng = np.random.default_rng(1000 + seed)
    g = G(2000 + seed)
    c, h, w = int(rng.integers(3, 20)), int(rng.integers(5, 18)), int(rng.integers(5, 18))
    shape = [1, c, h, w]
    x = "input"
    f32 = lambda v: g.op("Constant", [], value=numpy_helper.from_array(np.array(v, np.float32)))

    def conv(x, c, h, w):
        k = int(rng.choice([k for k in (1, 3, 5) if k <= min(h, w)]))
        s = int(rng.choice([1, 1, 2])) if min(h, w) > k else 1
        group = c if rng.random() < 0.4 else 1
        c_out = c if group > 1 else int(rng.integers(2, 40))
        pad = int(rng.integers(0, k // 2 + 1))
        y = g.conv(x, c, c_out, k=(k, k), stride=s, pad=[pad] * 4, group=group, bias=rng.random() < 0.8)
        return y, c_out, (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1

    for _ in range(int(rng.integers(4, 9))):
        kind = rng.choice(["conv", "conv", "act", "bn", "pool", "residual", "concat", "gate", "resize"])
        if kind == "conv" or (kind == "pool" and min(h, w) < 4):
            x, c, h, w = conv(x, c, h, w)
        elif kind == "act":
            op = rng.choice(["Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip"])
            if op == "Clip":
                x = g.op("Clip", [x, f32(float(rng.uniform(-1, 0))), f32(float(rng.uniform(0, 2)))])
            elif op == "HardSigmoid":
                x = g.op("HardSigmoid", [x], alpha=float(rng.uniform(0.1, 0.5)), beta=0.5)
            else:
                x = g.op(op, [x])
        elif kind == "bn":
            x = g.bn(x, c)
        elif kind == "pool":
            k, s = int(rng.choice([2, 3])), int(rng.choice([1, 2]))
            pad = int(rng.integers(0, k // 2 + 1))
            op = rng.choice(["MaxPool", "AveragePool"])
            attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4)
            if op == "AveragePool":
                attrs["count_include_pad"] = int(rng.integers(0, 2))
            x = g.op(op, [x], **attrs)
            h, w = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        elif kind == "residual" and min(h, w) >= 3:
            y = g.conv(x, c, c, k=(3, 3), group=c)
            x = g.op("Add", [x, y])
        elif kind == "concat" and min(h, w) >= 3 and c <= 64:
            y = g.conv(x, c, c, k=(3, 3), group=c)
            x = g.op("Concat", [x, y], axis=1)
            c *= 2
        elif kind == "gate":
            m = g.op("ReduceMean", [x], axes=[2, 3], keepdims=1)
            x = g.op("Mul", [x, g.op("Sigmoid", [g.conv(m, c, c)])])
        elif kind == "resize" and h * w < 150:
            mode = rng.choice(["nearest", "linear"])
            x = g.op("Resize", [x, "", f32([1, 1, 2, 2])], mode=mode)
            h, w = 2 * h, 2 * w
    x = g.op("Flatten", [x], axis=1)
    y = g.op("Gemm", [x, g.w((10, c * h * w)), g.w((10,), scale=0.1)], transB=1)
    g.save(f"random_{seed:02}", shape, y, opset=int(rng.choice([14, 17])))


def tiny_ghostnet():
    # A whole GhostNet in miniature for the microcontroller example (examples/mcu): stem,
    # a stride-2 bottleneck with squeeze-excite and a conv shortcut, a stride-1 bottleneck
    # with an identity shortcut, the 1x1 head conv, pooling and the classifier: 7 k weights
    # (28 kB), a 12 kB input.
    g = G(7)
    x = g.op("Relu", [g.bn(g.conv("input", 3, 16, k=(3, 3), stride=2, bias=False), 16)])
    y = g.ghost(x, 16, 32, relu=True, bn=True)
    y = g.bn(g.conv(y, 32, 32, k=(3, 3), stride=2, group=32, bias=False), 32)
    y = g.se(y, 32, 8)
    y = g.ghost(y, 32, 24, relu=False, bn=True)
    s = g.bn(g.conv(x, 16, 16, k=(3, 3), stride=2, group=16, bias=False), 16)
    s = g.bn(g.conv(s, 16, 24, bias=False), 24)
    x = g.op("Add", [y, s])
    y = g.ghost(x, 24, 48, relu=True, bn=True)
    y = g.ghost(y, 48, 24, relu=False, bn=True)
    x = g.op("Add", [y, x])
    x = g.op("Relu", [g.bn(g.conv(x, 24, 64, bias=False), 64)])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    y = g.op("Gemm", [x, g.w([10, 64]), g.w([10], 0.1)], transB=1)
    g.save("tiny_ghostnet", [1, 3, 32, 32], y)


CASES = {
    "ghost_module": ghost_module,
    "ghost_module_odd": ghost_module_odd,
    "ghost_bottleneck_se": ghost_bottleneck_se,
    "stride2": stride2,
    "mixed_ops": mixed_ops,
    "nan_inf": nan_inf,
    "small_planes": small_planes,
    "spec_corners": spec_corners,
    "special_pool_resize": special_pool_resize,
    "tiny_ghostnet": tiny_ghostnet,
    **{f"random_{seed:02}": (lambda seed=seed: random_graph(seed)) for seed in range(12)},
}

if __name__ == "__main__":
    # With case names as arguments, only those (the others keep their committed references).
    import sys

    for name in sys.argv[1:] or list(CASES):
        CASES[name]()
