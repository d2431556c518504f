"""bench/engines/llamacpp_server.parse_log over lines in llama.cpp 0c1e57098's printf formats.

The lines are what `llama-server -lv 4` prints for those formats (src/llama-model.cpp,
src/llama-kv-cache.cpp, src/llama-context.cpp, common/fit.cpp), with a Llama-3.1-8B Q4_K_M
at `-c 32768 -np 4` in mind: every figure is made up but in the printed widths.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "engines"))
from llamacpp_server import BreakdownRow, KvCache, parse_log, server_command  # noqa: E402

START = """\
common_init: build 0 (0c1e57098) with GNU 13.3.0 for Linux x86_64
llama_model_loader: - type  f32:   65 tensors
llama_model_loader: - type q4_K:  193 tensors
llama_model_loader: - type q6_K:   33 tensors
load_tensors: offloading output layer to GPU
load_tensors: offloaded 33/33 layers to GPU
load_tensors:   CPU_Mapped model buffer size =   281.81 MiB
load_tensors:        CUDA0 model buffer size =  4403.49 MiB
llama_context: constructing llama_context
llama_context: n_seq_max             = 4
llama_context: n_ctx                 = 32768
llama_context: n_ctx_seq             = 8192
llama_context: n_batch               = 2048
llama_context: n_ubatch              = 512
llama_context: causal_attn           = 1
llama_context: flash_attn            = auto
llama_context: n_ctx_seq (8192) < n_ctx_train (131072) -- the full capacity of the model will not be utilized
llama_context:  CUDA_Host  output buffer size =     1.96 MiB
llama_kv_cache:      CUDA0 KV buffer size =  4096.00 MiB
llama_kv_cache: size = 4096.00 MiB (  8192 cells,  32 layers,  4/4 seqs), K (f16): 2048.00 MiB, V (f16): 2048.00 MiB
llama_context: Flash Attention enabled
llama_context:      CUDA0 compute buffer size =   304.00 MiB
llama_context:  CUDA_Host compute buffer size =    72.01 MiB
slot   load_model: id  0 | task -1 | new slot, n_ctx = 8192
slot   load_model: id  1 | task -1 | new slot, n_ctx = 8192
"""  # noqa: E501
TABLE = """\
common_memory_breakdown_print: | memory breakdown [MiB] |  total     free    self   model   context   compute    unaccounted |
common_memory_breakdown_print: |   - CUDA0 (H200)       | 143771 = 134500 + (8803 =  4403 +    4098 +     301) +         467 |
common_memory_breakdown_print: |   - Host               |                     355 =   281 +       1 +      72                |
"""  # noqa: E501


def test_model_kv_output_and_compute_buffers_by_buffer_name() -> None:
    facts = parse_log(START)
    assert facts.model_buffers_mib == {"CPU_Mapped": 281.81, "CUDA0": 4403.49}
    assert facts.kv_buffers_mib == {"CUDA0": 4096.0}
    assert facts.output_buffers_mib == {"CUDA_Host": 1.96}
    assert facts.compute_buffers_mib == {"CUDA0": 304.0, "CUDA_Host": 72.01}


def test_kv_cache_line_gives_cells_per_stream_layers_slots_and_types() -> None:
    # -np 4 without --kv-unified: four streams of 8192 cells, 4096 MiB over all of them
    assert parse_log(START).kv_cache == KvCache(
        4096.0, 8192, 32, 4, 4, "f16", 2048.0, "f16", 2048.0
    )


def test_context_settings_and_slots_show_that_c_is_shared_by_the_slots() -> None:
    facts = parse_log(START)
    assert facts.context == {
        "n_seq_max": 4,
        "n_ctx": 32768,
        "n_ctx_seq": 8192,
        "n_batch": 2048,
        "n_ubatch": 512,
    }
    assert facts.slot_contexts == [8192, 8192]


def test_offload_tensor_types_and_build() -> None:
    facts = parse_log(START)
    assert facts.offloaded_layers == (33, 33)
    assert facts.tensor_types == {"f32": 65, "q4_K": 193, "q6_K": 33}
    assert facts.build == (0, "0c1e57098")


def test_flash_attention_auto_resolved_on() -> None:
    facts = parse_log(START)
    assert (facts.flash_attn_asked, facts.flash_attn) == ("auto", True)


def test_flash_attention_auto_that_falls_back_is_off() -> None:
    text = START.replace(
        "llama_context: Flash Attention enabled",
        "llama_context: Flash Attention not supported, set to disabled",
    )
    assert parse_log(text).flash_attn is False


def test_flash_attention_asked_off_is_off() -> None:
    text = START.replace("= auto", "= disabled").replace(
        "llama_context: Flash Attention enabled\n", ""
    )
    assert (parse_log(text).flash_attn_asked, parse_log(text).flash_attn) == ("disabled", False)


def test_quantized_v_cache_forces_flash_attention_on() -> None:
    text = START.replace("= auto", "= disabled").replace(
        "llama_context: Flash Attention enabled",
        "llama_init_from_model: enabling flash_attn since it is required for quantized V cache",
    )
    assert parse_log(text).flash_attn is True


def test_memory_breakdown_tables_before_loading_and_at_exit() -> None:
    facts = parse_log(TABLE + START + TABLE.replace("+         467", "+         469"))
    gpu = BreakdownRow("CUDA0", 8803, 4403, 4098, 301, "H200", 143771, 134500, 467)
    host = BreakdownRow("Host", 355, 281, 1, 72)
    assert facts.breakdowns[0] == [gpu, host]
    assert facts.breakdowns[1][0].unaccounted_mib == 469
    assert len(facts.breakdowns) == 2


def test_breakdown_row_with_negative_unaccounted_memory() -> None:
    row = "|   - CUDA0 (H200) | 143771 = 139986 + (3064 =  1680 +     896 +     488) +   -1 |"
    facts = parse_log("x: | memory breakdown [MiB] | total |\nx: " + row)
    assert facts.breakdowns[0][0].unaccounted_mib == -1


def test_prefixed_and_coloured_lines_still_parse() -> None:
    line = (
        "\x1b[32mI \x1b[0m0.00.123.456 load_tensors:        CUDA0 model buffer size =  4403.49 MiB"
    )
    assert parse_log(line).model_buffers_mib == {"CUDA0": 4403.49}


def test_several_buffers_of_one_name_add_up() -> None:
    text = "a:  CUDA0 model buffer size =  100.50 MiB\nb:  CUDA0 model buffer size =  20.25 MiB"
    assert parse_log(text).model_buffers_mib == {"CUDA0": 120.75}


def test_failures_are_kept_as_errors() -> None:
    text = START + "llama_init_from_model: failed to initialize the context: out of memory\n"
    assert parse_log(text).errors == [
        "llama_init_from_model: failed to initialize the context: out of memory"
    ]


def test_server_command_offloads_every_layer_and_logs_its_buffers() -> None:
    command = server_command(Path("b/llama-server"), Path("m.gguf"), 8080, 32768, 4, "off", "q8_0")
    assert command == [
        "b/llama-server", "-m", "m.gguf", "-ngl", "99", "-c", "32768", "-np", "4", "-fa", "off",
        "-ctk", "q8_0", "-ctv", "q8_0", "--host", "127.0.0.1", "--port", "8080", "--metrics",
        "-lv", "4",
    ]  # fmt: skip


REAL_LOGS = ROOT / "bench" / "results" / "device-2026-12-01-h200-late" / "llamacpp-logs"


def test_a_real_h200_log_with_timestamps_and_levels_parses_whole() -> None:
    facts = parse_log((REAL_LOGS / "llama-3.1-8b-q4km-32k-np4-fa-off.log").read_text())
    assert facts.model_buffers_mib == {"CPU_Mapped": 281.81, "CUDA0": 4403.49}
    assert facts.compute_buffers_mib == {"CUDA0": 564.01, "CUDA_Host": 36.01}
    assert facts.kv_cache == KvCache(4096.0, 8192, 32, 4, 4, "f16", 2048.0, "f16", 2048.0)
    assert (facts.flash_attn_asked, facts.flash_attn, facts.build) == (
        "disabled",
        False,
        (0, "0c1e57098"),
    )
    assert facts.tensor_types == {"f32": 66, "q4_K": 193, "q6_K": 33}
    assert [row.unaccounted_mib for row in facts.breakdowns[1]] == [957, None]
    assert facts.errors == []
