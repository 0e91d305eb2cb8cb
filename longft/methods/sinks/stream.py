"""Attention sinks / StreamingLLM (Xiao et al. 2023) as an evaluation baseline.

The model reads its input token by token with a KV cache that keeps the first `sinks` tokens and
the most recent ones, `sinks + window` entries in all. Positions are assigned inside the cache,
as the paper does: when the oldest recent entry is evicted, the remaining recent keys move one
slot down and are rotated back by one position, so a new token always sits at slot
`sinks + window - 1`. Perplexity stays flat past the window; nothing beyond it can be retrieved.

`StreamingSinkModel` wraps a model so longft's one evaluation path (perplexity, passkey) runs on
it unchanged: a forward call streams each row, `generate` continues the stream greedily.
"""
from __future__ import annotations

import copy

import torch

from ...attention.rope_angles import layer_rotary, rotate_back
from ...attention.streamed import StreamedModel


class SinkCacheStream:
    """One row streamed through the model with a sink + recent-window cache."""

    def __init__(self, model, sinks: int, window: int):
        from transformers import DynamicCache

        self.model, self.sinks, self.window = model, sinks, window
        self.cache = DynamicCache(config=model.config)
        self.rotary = [layer_rotary(model.config, i, model.device) for i in range(model.config.num_hidden_layers)]

    def size(self) -> int:
        return self.cache.get_seq_length()

    def fork(self) -> "SinkCacheStream":
        branch = copy.copy(self)
        branch.cache = copy.deepcopy(self.cache)
        return branch

    def _evict(self) -> None:
        """Drop the oldest recent entry; the recent keys move one slot down."""
        for layer, rotary in zip(self.cache.layers, self.rotary):
            keep_sinks = layer.keys[:, :, : self.sinks]
            recent_k, recent_v = layer.keys[:, :, self.sinks + 1 :], layer.values[:, :, self.sinks + 1 :]
            layer.keys = torch.cat([keep_sinks, rotate_back(recent_k, 1.0, rotary)], dim=2)
            layer.values = torch.cat([layer.values[:, :, : self.sinks], recent_v], dim=2)

    @torch.no_grad()
    def feed(self, ids: list[int]) -> torch.Tensor:
        """Logits (len(ids), vocab) of each fed token's next-token prediction."""
        out, i = [], 0
        capacity = self.sinks + self.window
        while i < len(ids):
            if self.size() >= capacity:
                self._evict()
            take = max(1, capacity - self.size())  # fill the cache in one call while there is room
            chunk = ids[i : i + take]
            start = self.size()
            pos = torch.arange(start, start + len(chunk), device=self.model.device)[None]
            result = self.model(input_ids=torch.tensor([chunk], device=self.model.device), position_ids=pos,
                                past_key_values=self.cache, use_cache=True)
            out.append(result.logits[0])
            i += len(chunk)
        return torch.cat(out)


class StreamingSinkModel(StreamedModel):
    """A model seen through a sink cache."""

    def __init__(self, model, sinks: int = 4, window: int = 252):
        super().__init__(model)
        self.sinks, self.window = sinks, window

    def stream(self) -> SinkCacheStream:
        return SinkCacheStream(self.model, self.sinks, self.window)
