#!/usr/bin/env python3
"""Runs the example's WebAssembly module under wasmtime (PyPI's `wasmtime`, the Bytecode
Alliance's runtime with its Python bindings): every model's self-check, printing its max |diff|
against onnxruntime and its time. Exits non-zero if any model is off.

    cargo build --release && python3 run.py [path/to/module.wasm]
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

engine = wasmtime.Engine()
store = wasmtime.Store(engine)
instance = wasmtime.Instance(store, wasmtime.Module.from_file(engine, str(wasm)), [])
ex = instance.exports(store)
assert ex["models"](store) == len(NAMES), "the module's models are not this script's"
print(f"{wasm.name}: {wasm.stat().st_size / 1e6:.2f} MB, wasmtime {version('wasmtime')}")
failed = 0
for i, name in enumerate(NAMES):
    t = time.perf_counter()
    ok = ex["check"](store, i)
    ms = (time.perf_counter() - t) * 1e3
    print(f"{name}: max |diff| {ex['max_diff'](store):.3e} (tolerance "
          f"{ex['tolerance'](store):.3e}), same top-5: {bool(ex['same_top5'](store))}, "
          f"{ms:.0f} ms (first run, reads its fixture): {'ok' if ok else 'MISMATCH'}")
    failed += not ok
sys.exit(1 if failed else 0)
