"""Where longft keeps what it builds once and reuses (testbed corpus, tokenizer, base, packed data)."""
import os
from pathlib import Path


def cache_home() -> Path:
    return Path(os.environ.get("LONGFT_HOME", Path.home() / ".cache" / "longft"))
