"""`train.offload_activations`: what the forward pass keeps for the backward pass lives in host memory.

torch's `save_on_cpu` hooks move every saved tensor to the CPU (pinned where a GPU is present)
as the forward pass saves it and bring it back as the backward pass needs it. With activation
checkpointing the saved tensors are each decoder layer's input, so this is ALST's
activation-checkpoint offload: the GPU holds one recomputed layer's activations at a time and the
inputs of all layers sit in host memory. It wraps the Trainer's forward through
`compute_loss_context_manager`, the Trainer's hook for exactly this.
"""
from __future__ import annotations

import torch


def offloading_trainer(base):
    class OffloadingTrainer(base):
        def compute_loss_context_manager(self):
            stack = super().compute_loss_context_manager()
            if self.model.training:
                stack.enter_context(torch.autograd.graph.save_on_cpu(pin_memory=torch.cuda.is_available()))
            return stack

    return OffloadingTrainer
