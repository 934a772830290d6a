#!/bin/sh
# Seeds the corpus of the `pipeline` fuzz target with the small synthetic models (the GhostNet
# fixtures are megabytes: too slow per execution to be useful seeds).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$here/corpus/pipeline"
for m in "$root"/examples/synthetic/*/model.onnx; do
    cp "$m" "$here/corpus/pipeline/$(basename "$(dirname "$m")").onnx"
done
echo "seeded $(ls "$here/corpus/pipeline" | wc -l) files into $here/corpus/pipeline"
