"""Writes a model folder that vLLM serves with `--load-format dummy`: no weights are downloaded.

    python3 bench/engines/dummy_model.py MODEL_ID OUT_DIR

The folder holds the model's published config.json (from `models.json` beside this file), a
WordLevel tokenizer whose vocabulary `t0` … `t{V-1}` covers the model's whole `vocab_size`
(every sampled token decodes), and,
for a multimodal model, its image processor's config with the special image tokens at their
published ids. `prompt_ids` builds a prompt as token ids.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

MODELS_FILE = Path(__file__).resolve().with_name("models.json")
FIRST_PROMPT_ID = 10  # clear of the special tokens models keep at low ids


def published(model_id: str) -> dict[str, Any]:
    """The entry of `models.json` for a model id: source, config, processor, special tokens."""
    models = json.loads(MODELS_FILE.read_text())["models"]
    if model_id not in models:
        known = ", ".join(sorted(models))
        raise SystemExit(f"dummy_model: {model_id!r} is not in {MODELS_FILE.name}: {known}")
    return models[model_id]


def vocab_size(config: dict[str, Any]) -> int:
    text = config.get("text_config") or {}
    return int(config.get("vocab_size") or text["vocab_size"])


def token_name(token_id: int) -> str:
    return f"t{token_id}"


def _first_id(value: Any) -> int | None:
    if isinstance(value, list):
        return int(value[0]) if value else None
    return int(value) if value is not None else None


def write_tokenizer(folder: Path, config: dict[str, Any], special: dict[str, list]) -> None:
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    size = vocab_size(config)
    vocab = {token_name(i): i for i in range(size)}
    for token_id, text in special.values():
        del vocab[token_name(token_id)]
        vocab[text] = token_id
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=token_name(0)))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens([AddedToken(text, special=True) for _, text in special.values()])
    tokenizer.save(str(folder / "tokenizer.json"))
    settings: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": token_name(0),
        "model_max_length": 1_048_576,
    }
    text = config.get("text_config") or {}
    for role in ("bos", "eos", "pad"):
        key = f"{role}_token_id"
        token_id = _first_id(config.get(key, text.get(key)))
        if token_id is not None:
            settings[f"{role}_token"] = token_name(token_id)
    if special:
        settings["extra_special_tokens"] = {role: text for role, (_, text) in special.items()}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings, indent=1))


def write_model(model_id: str, folder: Path) -> Path:
    entry = published(model_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(entry["config"], indent=1))
    if "processor" in entry:
        processor = entry["processor"]
        (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=1))
        (folder / "processor_config.json").write_text(
            json.dumps(
                {
                    "processor_class": processor["processor_class"],
                    "image_seq_length": processor["image_seq_length"],
                }
            )
        )
    write_tokenizer(folder, entry["config"], entry.get("special_tokens", {}))
    return folder


def prompt_ids(count: int, seed: int, vocab: int = 1000) -> list[int]:
    """`count` token ids for a completion's `prompt`: with Qwen2 model types transformers
    re-tokenizes text its own way and even vocabulary words can encode to nothing."""
    pick = random.Random(seed)
    return [pick.randrange(FIRST_PROMPT_ID, vocab) for _ in range(count)]


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(write_model(sys.argv[1], Path(sys.argv[2])))


if __name__ == "__main__":
    main()
