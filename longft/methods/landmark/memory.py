"""Landmark inference: the block cache and a model read through it as a stream.

The stream inserts a landmark after every `mem_freq` text tokens, as training did, and feeds the
model one block (or the rest of one) at a time. Each layer's attention function (attention.py)
attends through `BlockMemory`: the finished blocks (keys at position 0 and values, kept on
`memory_device`, the CPU by default, with only their landmark keys beside the model) and the
current block's keys so far. The chunk's positions are the compacted ones retrieval.py gives.

The logits a fed text token returns predict the next text token: where a landmark follows it, they
are the landmark's or the token's own, as training asked (the setting next_token_from).
`LandmarkMemoryModel` wraps a model so that longft's one evaluation path (perplexity, passkey,
RULER) runs on it unchanged: a forward call streams each row, `generate` continues the stream.
"""
from __future__ import annotations

import copy

import torch

from ...attention.rope_angles import layer_rotary, rotate_back
from ...attention.streamed import StreamedModel
from .retrieval import slot_count


class BlockMemory:
    """Per layer: finished blocks (B, Hkv, M, T, D) keys at 0 / values, their landmarks' keys at 0,
    and the current block's keys at 0 / values so far."""

    def __init__(self, mem_freq: int, top_k: int, local_blocks: int, memory_device="cpu"):
        self.block_size, self.top_k, self.local_blocks = mem_freq + 1, top_k, local_blocks
        self.memory_device = torch.device(memory_device)
        self.blocks: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.current: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.finished = 0  # blocks in the cache
        self.filled = 0  # tokens of the current block so far
        self._rotary = {}

    def first_position(self) -> int:
        """The current block's first position: after the slots a query attends to."""
        return slot_count(self.finished, self.top_k, self.local_blocks) * self.block_size

    def rotary(self, config, layer_idx: int, device):
        if layer_idx not in self._rotary:
            self._rotary[layer_idx] = layer_rotary(config, layer_idx, device)
        return self._rotary[layer_idx]

    def layer_state(self, layer_idx: int, like: torch.Tensor):
        """(landmarks at 0, block keys at 0, block values, current keys at 0, current values)."""
        B, Hkv, _, D = like.shape
        empty = like.new_zeros(B, Hkv, 0, D)
        lm, bk, bv = self.blocks.get(layer_idx) or (
            empty, empty.new_zeros(B, Hkv, 0, self.block_size, D).to(self.memory_device),
            empty.new_zeros(B, Hkv, 0, self.block_size, D).to(self.memory_device))
        ck, cv = self.current.get(layer_idx) or (empty, empty)
        return lm, bk, bv, ck, cv

    def store(self, layer_idx: int, keys0: torch.Tensor, values: torch.Tensor) -> None:
        """The current block's keys at 0 / values after this chunk; a full block moves to the cache."""
        if keys0.shape[2] < self.block_size:
            self.current[layer_idx] = (keys0, values)
            return
        lm, bk, bv, _, _ = self.layer_state(layer_idx, keys0)
        dev = self.memory_device
        self.blocks[layer_idx] = (torch.cat([lm, keys0[:, :, -1:]], dim=2),
                                  torch.cat([bk, keys0[:, :, None].to(dev)], dim=2),
                                  torch.cat([bv, values[:, :, None].to(dev)], dim=2))
        self.current.pop(layer_idx, None)

    def advance(self, tokens: int) -> None:
        """After every layer has read a chunk of `tokens`."""
        self.filled += tokens
        if self.filled == self.block_size:
            self.finished, self.filled = self.finished + 1, 0

    def fork(self) -> "BlockMemory":
        """An independent copy: tensors are never changed in place, only replaced."""
        branch = copy.copy(self)
        branch.blocks, branch.current = dict(self.blocks), dict(self.current)
        return branch


def turned_to_start(keys: torch.Tensor, first: int, rotary) -> torch.Tensor:
    """keys (B, H, c, D) rotated at first .. first + c - 1 -> as if at position 0."""
    positions = torch.arange(first, first + keys.shape[2], device=keys.device).float()
    return rotate_back(keys, positions, rotary)


def placed_from(keys0: torch.Tensor, first: int, rotary) -> torch.Tensor:
    """keys (B, H, c, D) at position 0 -> rotated at first .. first + c - 1."""
    positions = torch.arange(first, first + keys0.shape[2], device=keys0.device).float()
    return rotate_back(keys0, -positions, rotary)


class LandmarkStream:
    """One row read block by block through a `BlockMemory`."""

    def __init__(self, model, mem_freq: int, top_k: int, local_blocks: int, landmark: int, memory_device="cpu",
                 from_landmark: bool = True):
        self.model, self.mem_freq, self.landmark, self.from_landmark = model, mem_freq, landmark, from_landmark
        self.memory = BlockMemory(mem_freq, top_k, local_blocks, memory_device)

    def fork(self) -> "LandmarkStream":
        branch = copy.copy(self)
        branch.memory = self.memory.fork()
        return branch

    def _forward(self, ids: list[int]) -> torch.Tensor:
        memory = self.memory
        first = memory.first_position() + memory.filled
        device = self.model.device
        pos = torch.arange(first, first + len(ids), device=device)[None]
        out = self.model(input_ids=torch.tensor([ids], device=device), position_ids=pos, use_cache=False,
                         landmark_memory=memory)
        memory.advance(len(ids))
        return out.logits[0]

    @torch.no_grad()
    def feed(self, ids: list[int]) -> torch.Tensor:
        """Logits (len(ids), vocab) of each fed text token's next-token prediction."""
        out, i = [], 0
        while i < len(ids):
            take = min(self.mem_freq - self.memory.filled, len(ids) - i)
            chunk = list(ids[i : i + take])
            closes = self.memory.filled + take == self.mem_freq
            logits = self._forward(chunk + [self.landmark] if closes else chunk)
            if closes:  # one of the block's last text token and its landmark predicts the next text token
                logits = torch.cat([logits[: take - 1], logits[take:]]) if self.from_landmark else logits[:take]
            out.append(logits)
            i += take
        return torch.cat(out)


class LandmarkMemoryModel(StreamedModel):
    """A landmark checkpoint seen through its block cache."""

    def __init__(self, model, mem_freq: int, top_k: int, local_blocks: int, landmark: int, memory_device="cpu",
                 from_landmark: bool = True):
        super().__init__(model)
        self.mem_freq, self.top_k, self.local_blocks, self.landmark = mem_freq, top_k, local_blocks, landmark
        self.memory_device, self.from_landmark = memory_device, from_landmark

    def stream(self) -> LandmarkStream:
        return LandmarkStream(self.model, self.mem_freq, self.top_k, self.local_blocks, self.landmark, self.memory_device,
                              self.from_landmark)


def memory_model(model, saved: dict) -> LandmarkMemoryModel:
    block = saved["mem_freq"] + 1
    from_landmark = saved.get("next_token_from", "landmark") == "landmark"  # checkpoints before the setting
    return LandmarkMemoryModel(model, saved["mem_freq"], saved["top_k"], saved["local_window"] // block,
                               saved["landmark_id"], from_landmark=from_landmark)
