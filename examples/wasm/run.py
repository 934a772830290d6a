#!/usr/bin/env python3
"""Runs the example's WebAssembly module under wasmtime (PyPI's `wasmtime`, the Bytecode
Alliance's runtime with its Python bindings): every model's self-check, printing its max |diff|
against onnxruntime and its time. Exits non-zero if any model is off, or if the module's
kernel table is not ISA when one is given.

    cargo build --release && python3 run.py [path/to/module.wasm [ISA]]
"""
import pathlib
import sys
import time
from importlib.metadata import version

import wasmtime

NAMES = ["tiny_ghostnet", "ghostnet_050_dynamo"]
here = pathlib.Path(__file__).resolve().parent
wasm = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else (
    here / "target/wasm32-unknown-unknown/release/ghostc_wasm_example.wasm")
want_isa = sys.argv[2] if len(sys.argv) > 2 else None

engine = wasmtime.Engine()
store = wasmtime.Store(engine)
instance = wasmtime.Instance(store, wasmtime.Module.from_file(engine, str(wasm)), [])
ex = instance.exports(store)
assert ex["models"](store) == len(NAMES), "the module's models are not this script's"
ptr, n = ex["kernels_ptr"](store), ex["kernels_len"](store)
isa = bytes(ex["memory"].read(store, ptr, ptr + n)).decode()
print(f"{wasm.name}: {wasm.stat().st_size / 1e6:.2f} MB, wasmtime {version('wasmtime')}, "
      f"kernels {isa}")
failed = 0
if want_isa is not None and isa != want_isa:
    print(f"expected the {want_isa} kernels")
    failed += 1
for i, name in enumerate(NAMES):
    t = time.perf_counter()
    ok = ex["check"](store, i)
    ms = (time.perf_counter() - t) * 1e3
    print(f"{name}: max |diff| {ex['max_diff'](store):.3e} (tolerance "
          f"{ex['tolerance'](store):.3e}), same top-5: {bool(ex['same_top5'](store))}, "
          f"{ms:.0f} ms (first run, reads its fixture): {'ok' if ok else 'MISMATCH'}")
    failed += not ok
sys.exit(1 if failed else 0)
