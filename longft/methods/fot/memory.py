"""FoT memory-cache inference (LongLLaMA's `last_context_length` windows).

The input is read in windows of `window` tokens. Inside a window every layer has an ordinary KV
cache with positions 0..window-1. When a window is full, each memory layer moves its keys (turned
back to position 0) and values into a memory that keeps growing, every cache is emptied, and the
next window starts at position 0 again. Non-memory layers therefore see only the local window;
memory layers see the window and everything before it through the memory.

As in LongLLaMA, a read that overflows the local window ends in a fresh window holding only its last
`last_context_length` tokens (the window before it may be partial). Without this, a prompt of exactly
k windows would leave generation to start from an empty local window, where the layers without
memory see nothing of the question; with it there is room to continue without a flush.

`FotMemoryModel` wraps a model so longft's one evaluation path (perplexity, passkey, RULER) runs on
it unchanged: a forward call streams each row, `generate` continues the stream greedily.
"""
from __future__ import annotations

import copy

import torch

from .attention import default_last_context_length, keys_at_start
from ...attention.streamed import StreamedModel


class FotMemory:
    """Per memory layer: keys at position 0 and values of the finished windows, (B, Hkv, M, D)."""

    def __init__(self, memory_layers):
        self.layers = {int(i): None for i in memory_layers}

    def get(self, layer_idx: int):
        return self.layers.get(layer_idx)

    def size(self) -> int:
        first = next(iter(self.layers.values()))
        return 0 if first is None else first[0].shape[2]

    def append(self, layer_idx: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        held = self.layers[layer_idx]
        self.layers[layer_idx] = (keys, values) if held is None else (
            torch.cat([held[0], keys], dim=2), torch.cat([held[1], values], dim=2))


class MemoryStream:
    """One row read window by window, with a local KV cache and a growing FoT memory."""

    def __init__(self, model, window: int, memory_layers, last_context_length: int):
        self.model, self.window = model, window
        self.last_context_length = last_context_length
        self.memory = FotMemory(memory_layers)
        self._new_cache()

    def _new_cache(self) -> None:
        from transformers import DynamicCache

        self.cache = DynamicCache(config=self.model.config)

    def fork(self) -> "MemoryStream":
        """An independent copy: the memory's tensors are never changed in place, only replaced."""
        branch = copy.copy(self)
        branch.memory = copy.copy(self.memory)
        branch.memory.layers = dict(self.memory.layers)
        branch.cache = copy.deepcopy(self.cache)
        return branch

    def local_length(self) -> int:
        return self.cache.get_seq_length()

    def _flush(self) -> None:
        """The local window moves into the memory layers' memory; every local cache starts over."""
        n = self.local_length()
        positions = torch.arange(n, device=self.model.device)[None]
        for layer_idx in self.memory.layers:
            layer = self.cache.layers[layer_idx]
            self.memory.append(layer_idx, keys_at_start(layer.keys, positions, self.model.config, layer_idx), layer.values)
        self._new_cache()

    @torch.no_grad()
    def feed(self, ids: list[int]) -> torch.Tensor:
        """Logits (len(ids), vocab) of each fed token's next-token prediction."""
        if self.local_length() + len(ids) <= self.window:
            return self._read(ids)
        split = len(ids) - min(self.last_context_length, len(ids))
        out = [self._read(ids[:split])] if split else []
        if self.local_length():
            self._flush()
        out.append(self._read(ids[split:]))
        return torch.cat(out)

    def _read(self, ids: list[int]) -> torch.Tensor:
        """Fill the local window, moving it to memory each time it is full."""
        out, i = [], 0
        while i < len(ids):
            if self.local_length() >= self.window:
                self._flush()
            start = self.local_length()
            chunk = ids[i : i + self.window - start]
            pos = torch.arange(start, start + len(chunk), device=self.model.device)[None]
            result = self.model(input_ids=torch.tensor([chunk], device=self.model.device), position_ids=pos,
                                past_key_values=self.cache, use_cache=True, fot_memory=self.memory)
            out.append(result.logits[0])
            i += len(chunk)
        return torch.cat(out)


class FotMemoryModel(StreamedModel):
    """A FoT checkpoint seen through its memory cache."""

    def __init__(self, model, window: int, memory_layers, last_context_length: int | None = None):
        super().__init__(model)
        self.window, self.memory_layers = window, list(memory_layers)
        self.last_context_length = (default_last_context_length(window) if last_context_length is None
                                    else last_context_length)

    def stream(self) -> MemoryStream:
        return MemoryStream(self.model, self.window, self.memory_layers, self.last_context_length)


def memory_model(model, saved: dict) -> FotMemoryModel:
    return FotMemoryModel(model, int(saved["window"]), saved["memory_layers"], saved.get("last_context_length"))
