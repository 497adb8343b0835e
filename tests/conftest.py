"""Test-session settings shared by every test module."""

import torch

# The tests run on 2-core machines next to Ray workers; one intra-op thread avoids the
# oversubscription that made small torch models 3x slower there.
torch.set_num_threads(1)
