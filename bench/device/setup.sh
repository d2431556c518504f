#!/usr/bin/env bash
# Prepares a bare GPU host for the GPU tests and benchmarks. Source it from the repository root:
#   source bench/device/setup.sh
# It installs the carried wheels (.whl/, the packages the host's python3 lacks: pydantic,
# fastapi, uvicorn, gpustat, nvitop, ...) into /tmp/site, exports PYTHONPATH so that python3
# finds them and this repository, and prints what the benchmarks run on.
# Sourced, so it returns (never exits) on failure; callers check its status.

gpu_insight_setup() {
  local repo site
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd) || return 1
  site=/tmp/site
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "setup: nvidia-smi not found: this host has no NVIDIA driver" >&2
    return 1
  fi
  if ! compgen -G "$repo/.whl/*.whl" >/dev/null; then
    echo "setup: no wheels in $repo/.whl (carry .whl with the working tree)" >&2
    return 1
  fi
  if ! python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$site" "$repo"/.whl/*.whl; then
    echo "setup: installing the carried wheels into $site failed" >&2
    return 1
  fi
  export PYTHONPATH="$site:$repo${PYTHONPATH:+:$PYTHONPATH}"
  export PATH="$site/bin:$PATH"
  export PYTHONUNBUFFERED=1
  echo "== host"
  nvidia-smi --query-gpu=index,name,memory.total,memory.used,driver_version,persistence_mode \
    --format=csv
  echo "CPUs: $(nproc)  kernel: $(uname -r)"
  python3 - <<'PY' || return 1
import platform

import fastapi
import pydantic
import pynvml
import torch
import transformers

pynvml.nvmlInit()
print(f"python {platform.python_version()}  torch {torch.__version__}"
      f"  transformers {transformers.__version__}")
print(f"pydantic {pydantic.VERSION}  fastapi {fastapi.__version__}"
      f"  NVML {pynvml.nvmlSystemGetNVMLVersion()}"
      f"  driver {pynvml.nvmlSystemGetDriverVersion()}")
pynvml.nvmlShutdown()
PY
}

gpu_insight_setup
