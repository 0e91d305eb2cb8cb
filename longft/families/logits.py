"""Logits from final hidden states as the model gives them: for the losses and scorers that run the
output layer themselves (chunked loss, sequence-parallel loss, LongRoPE's fitness)."""
from __future__ import annotations

import torch

from . import family_of
from .family import text_config


class TransformedHead(torch.nn.Module):
    """The output layer followed by what the family does to its logits (Gemma 2's soft cap, Cohere's
    logit_scale, Granite's logits_scaling), so a chunk's logits are the ones the model gives."""

    def __init__(self, head, transform):
        super().__init__()
        self.head, self.transform = head, transform

    @property
    def weight(self):
        return self.head.weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.transform(self.head(hidden))


def logit_transform(config):
    """What the model's family applies to the output head's logits, or None."""
    return family_of(config).logit_transform(text_config(config))


def output_head(model):
    """Hidden states -> the logits the model gives: its output layer, and the family's transform."""
    head = model.get_output_embeddings()
    transform = logit_transform(model.config)
    return head if transform is None else TransformedHead(head, transform)
