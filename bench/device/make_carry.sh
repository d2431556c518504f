#!/usr/bin/env bash
# Makes the carried folder that bench/device/engine_call.sh takes to a GPU host without internet:
# vLLM 0.24.0 slimmed, with the wheels that host lacks, as one xz stream in parts of at most
# PART_MB (default 52) megabytes, and vLLM's MoE extension as its own archive; sha256 sums of all.
# One call carries 64 MiB with the working tree, so each call takes one part.
#
#   bash bench/device/make_carry.sh [CARRY]        (default .devcarry; needs PyPI)
#
# CARRY/vparts/vllm.tar.xz.part0.., CARRY/moe/vllm-moe.tar.xz, CARRY/SHA256SUMS
set -euo pipefail
cd "$(dirname "$0")/../.."
carry=${1:-.devcarry}
part_mb=${PART_MB:-52}
python=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

download() {
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_31_x86_64 \
    --platform manylinux_2_34_x86_64 -d "$@"
}

# vLLM pins torch 2.11.0, the host's. The others: what vLLM imports that the host's image lacks,
# at versions that work together there (fastapi < 0.137, openai < 3, tvm-ffi >= 0.1.10 for
# xgrammar); compressed-tensors and loguru for --quantization fp8.
download "$work/vllm" vllm==0.24.0
download "$work/v/whl" annotated-types==0.8.0 apache-tvm-ffi==0.1.15.post2 cachetools==8.0.2 \
  cbor2==6.3.0 distro==1.9.0 fastapi==0.136.3 jmespath==1.1.0 llguidance==1.7.6 \
  model-hosting-container-standards==0.1.16 msgspec==0.23.0 openai==2.54.0 openai-harmony==0.0.8 \
  partial-json-parser==0.2.1.1.post7 prometheus-fastapi-instrumentator==8.1.0 pybase64==1.5.1 \
  pydantic==2.14.4 pydantic-core==2.50.5 python-multipart==0.0.34 pyzmq==27.3.0 \
  setproctitle==1.3.8 sniffio==1.3.1 starlette==1.10.0 typing-extensions==4.16.0 \
  typing-inspection==0.4.5 uvicorn==0.54.0 watchfiles==1.3.0 xgrammar==0.2.9 \
  compressed-tensors==0.17.0 loguru==0.7.3

mkdir -p "$work/v/site" "$work/moe"
"$python" -m zipfile -e "$work"/vllm/vllm-0.24.0-*.whl "$work/v/site"
site=$work/v/site/vllm
# What the H200 never loads: FlashAttention 2 (it runs FA3), the Rust front end, DeepGEMM and
# the SM100 kernels, FlashMLA and QuTLASS (vLLM warns and falls back).
rm -rf "$site"/vllm_flash_attn/_vllm_fa2_C.abi3.so "$site"/third_party/deep_gemm \
  "$site"/third_party/fmha_sm100 "$site"/_flashmla_C.abi3.so \
  "$site"/_flashmla_extension_C.abi3.so "$site"/_qutlass_C.abi3.so "$site"/vllm-rs
find "$work/v/site" -name __pycache__ -prune -exec rm -rf {} +
mv "$site"/_moe_C_stable_libtorch.abi3.so "$work/moe/"

rm -rf "$carry/vparts" "$carry/moe"
mkdir -p "$carry/vparts" "$carry/moe"
tar -C "$work/v" -cf - site whl | xz -1 -T0 | split -b "${part_mb}M" -d -a 1 - \
  "$carry/vparts/vllm.tar.xz.part"
tar -C "$work/moe" -cf - _moe_C_stable_libtorch.abi3.so | xz -1 -T0 >"$carry/moe/vllm-moe.tar.xz"
(cd "$carry" && sha256sum vparts/* moe/* >SHA256SUMS)
ls -l "$carry"/vparts "$carry"/moe
