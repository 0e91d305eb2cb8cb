"""A byte-level BPE tokenizer trained on the testbed corpus, saved in the fast-tokenizer format."""
from __future__ import annotations

from pathlib import Path

from ..outputs import recover_folder, replace_folder, staging_folder
from ..paths import cache_home
from .corpus import corpus_files, corpus_fingerprint, read_text

VOCAB_SIZE = 2048
TRAIN_BYTES = 6_000_000  # enough text for stable merges; training takes seconds
PROBE_TEXT = "def passkey(x):\n    return x + 71432  # keep\n"


def testbed_tokenizer_dir() -> Path:
    return cache_home() / "testbed" / f"tokenizer-v{VOCAB_SIZE}-{corpus_fingerprint()}"


def _training_texts():
    total = 0
    for path in corpus_files("train"):
        text = read_text(path)
        total += len(text)
        yield text
        if total > TRAIN_BYTES:
            return


def build_testbed_tokenizer() -> Path:
    """Train once and cache; return the directory `AutoTokenizer.from_pretrained` loads."""
    out = testbed_tokenizer_dir()
    if (out / "tokenizer.json").is_file():
        return out
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    print(f"[testbed] training a {VOCAB_SIZE}-token BPE tokenizer on the standard library sources", flush=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_texts(), trainer)
    # A BOS marks each document start, as in Llama; EOS is appended by the packer.
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=1 << 30
    )
    recover_folder(out)
    tmp = staging_folder(out)
    fast.save_pretrained(tmp)
    check_round_trip(tmp)
    replace_folder(tmp, out)
    return out


def check_round_trip(path: Path) -> None:
    """A tokenizer saved only as vocab/merges can load and silently encode to nothing: refuse that."""
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(str(path))
    ids = loaded(PROBE_TEXT, add_special_tokens=False)["input_ids"]
    if len(ids) < 5 or loaded.decode(ids) != PROBE_TEXT:
        raise RuntimeError(f"tokenizer saved at {path} does not round-trip through AutoTokenizer (got {ids[:10]})")
