#!/usr/bin/env bash
# Deploy-time engine build: for every part model of the repository whose config asks for tensorrt_plan, build
# 1/model.plan from the ONNX graph beside it (fp16; the text encoder stays fp32), with one optimisation profile
# over the batch axis (1 .. the model's max_batch_size). Skips a model whose plan exists.
set -euo pipefail
repo="${1:-$MCM_REPOSITORY}"
trtexec="${MCM_TRTEXEC:-trtexec}"
for config in "$repo"/*/config.pbtxt; do
  model_dir=$(dirname "$config")
  grep -q 'platform: "tensorrt_plan"' "$config" || continue
  plan="$model_dir/1/model.plan"
  [ -f "$plan" ] && continue
  onnx=$(find "$model_dir/1" -name '*.onnx' | head -n 1)
  [ -n "$onnx" ] || { echo "build_engines: no ONNX graph in $model_dir/1" >&2; exit 2; }
  max_batch=$(sed -n 's/^max_batch_size: *\([0-9]*\).*/\1/p' "$config")
  shapes=$(python3 - "$onnx" "$max_batch" <<'PY'
import sys, onnx
graph = onnx.load(sys.argv[1], load_external_data=False).graph
def dims(i):
    return [d.dim_value for d in i.type.tensor_type.shape.dim[1:]]
mn, op, mx = [], [], []
for i in graph.input:
    rest = "x".join(str(d) for d in dims(i))
    for out, b in ((mn, 1), (op, max(1, int(sys.argv[2]) // 2)), (mx, int(sys.argv[2]))):
        out.append(f"{i.name}:{b}" + (f"x{rest}" if rest else ""))
print(" ".join(",".join(s) for s in (mn, op, mx)))
PY
)
  read -r min_shapes opt_shapes max_shapes <<<"$shapes"
  precision="--fp16"
  case "$model_dir" in *text_encoder) precision="" ;; esac
  echo "build_engines: $(basename "$model_dir") -> $plan"
  "$trtexec" --onnx="$onnx" --saveEngine="$plan" $precision \
    --minShapes="$min_shapes" --optShapes="$opt_shapes" --maxShapes="$max_shapes"
done
