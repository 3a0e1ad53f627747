#!/usr/bin/env bash
# Build missing TensorRT engines, then run Triton on the repository (HTTP 8000, gRPC 8001, metrics 8002).
set -euo pipefail
/opt/mcm/build_engines.sh "$MCM_REPOSITORY"
exec tritonserver --model-repository="$MCM_REPOSITORY" --http-port=8000 --grpc-port=8001 --metrics-port=8002 \
  --exit-timeout-secs=20 "$@"
