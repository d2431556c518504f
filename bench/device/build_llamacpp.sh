#!/usr/bin/env bash
# Builds llama.cpp's llama-server and llama-quantize for the H200 (sm_90 only) from the source
# tree carried as DIR/llama.cpp-src.tar.xz (from the llama-cpp-python 0.3.36 sdist, llama.cpp
# commit 0c1e57098, trimmed to what a CUDA server build needs). Niced: vLLM runs meanwhile.
#
#   bash bench/device/build_llamacpp.sh DIR    -> DIR/build/bin/{llama-server,llama-quantize}
set -euo pipefail
dir=$1
started=$(date +%s)
tar -xJf "$dir/llama.cpp-src.tar.xz" -C "$dir"
nice -n 19 cmake -S "$dir/llama.cpp" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMIT=0c1e57098
nice -n 19 cmake --build "$dir/build" --target llama-server llama-quantize -j 12
echo "built in $(($(date +%s) - started)) s"
touch "$dir/built"
