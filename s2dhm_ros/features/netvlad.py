"""NetVLAD pooling and the VGG16-NetVLAD network whose layers give S2DHM's hypercolumns.

NetVLAD as in the S2DHM code (germain-hug/S2DHM s2dhm/network/netvlad.py): the conv5_3 map is
L2-normalised per location, soft-assigned to K clusters by a bias-free 1x1 conv followed by a softmax
over clusters, residuals to the centroids are summed per cluster, each cluster's residual is
L2-normalised (intra-normalisation), and the flattened K*D vector is L2-normalised. The flattened
order is cluster-major (index k * D + d), as in S2DHM's checkpoints; the Pitts30k MATLAB model's
whitening, which expects the dimension-major order of MATLAB/hloc, is permuted when loaded
(see weights.py), so one forward serves both.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .vgg16 import IMAGENET_MEAN_255, IMAGENET_STD_255, vgg16_trunk


class NetVLAD(nn.Module):
    """(B, D, h, w) local features -> (B, K * D) unit-norm VLAD vector (cluster-major)."""

    def __init__(self, num_clusters: int = 64, dim: int = 512):
        super().__init__()
        self.num_clusters, self.dim = num_clusters, dim
        self.conv = nn.Conv2d(dim, num_clusters, kernel_size=1, bias=False)  # soft-assignment scores
        self.centroids = nn.Parameter(torch.rand(num_clusters, dim))  # (K, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(x, dim=1)
        assign = F.softmax(self.conv(x).flatten(2), dim=1)  # (B, K, N)
        feats = x.flatten(2)  # (B, D, N)
        # sum_n a_kn (x_n - c_k) = (A X^T)_k - (sum_n a_kn) c_k: one batched product, no (B, K, D, N) tensor.
        vlad = torch.bmm(assign, feats.transpose(1, 2)) - assign.sum(-1, keepdim=True) * self.centroids[None]
        vlad = F.normalize(vlad, dim=2)  # intra-normalisation, (B, K, D)
        return F.normalize(vlad.flatten(1), dim=1)


class VGG16NetVLAD(nn.Module):
    """VGG16 trunk (`encoder`) + NetVLAD (`pool`) + optional learned whitening (`whitening`, Pitts30k).

    `mean` / `std` (3,) are the input normalisation on the 0..255 RGB scale that the weights were
    trained with: torchvision's ImageNet statistics for S2DHM, the MATLAB model's average image
    (std 1) for Pitts30k. They are buffers set by the loader, not part of any checkpoint.
    """

    def __init__(self, num_clusters: int = 64, whitening_dim: int | None = None):
        super().__init__()
        self.encoder = vgg16_trunk()
        self.pool = NetVLAD(num_clusters, 512)
        self.whitening = nn.Linear(num_clusters * 512, whitening_dim) if whitening_dim else None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN_255), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD_255), persistent=False)

    def global_descriptor(self, conv5_3: torch.Tensor) -> torch.Tensor:
        """(B, 512, h, w) trunk output -> (B, D) unit-norm descriptor (whitened when the model has whitening)."""
        g = self.pool(conv5_3)
        if self.whitening is not None:
            g = F.normalize(self.whitening(g), dim=1)
        return g
