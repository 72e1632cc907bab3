"""VGG16 convolutional trunk (conv1_1 .. conv5_3) in plain torch.nn, with torchvision's module indices.

The published S2DHM and NetVLAD weights address layers by their index in torchvision's
`vgg16().features` (conv layers at 0, 2, 5, ..., 28), so the trunk is a flat nn.Sequential with the
same indices: its state_dict keys are `<i>.weight` / `<i>.bias`. It stops at conv5_3 *before* its
ReLU, as both the S2DHM code (`features.children()[:-2]`, germain-hug/S2DHM s2dhm/network/network.py)
and hloc's NetVLAD (hloc/extractors/netvlad.py, "Remove last ReLU + MaxPool2d") do: NetVLAD pools the
raw conv5_3 responses.
"""
from __future__ import annotations

import torch
from torch import nn

# Output channels per conv layer, "M" = 2x2 max-pool (stride 2); conv5_3 is the last entry.
_LAYOUT: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                  512, 512, 512, "M", 512, 512, 512)
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)

# Hypercolumn taps: the INPUTS of these modules, as S2DHM's `hypercolumn_layers = [14, 17, 21, 24, 28]`
# (germain-hug/S2DHM s2dhm/configs/network/network.gin; network.py appends the feature map *before*
# applying module i). They are relu3_2, pool3, relu4_2, pool4, relu5_2.
HYPERCOLUMN_TAPS = (14, 17, 21, 24, 28)
TAP_NAMES = ("relu3_2", "pool3", "relu4_2", "pool4", "relu5_2")
TAP_CHANNELS = (256, 256, 512, 512, 512)  # 2048 in total
TAP_STRIDES = (4, 8, 8, 16, 16)

# torchvision's ImageNet statistics on RGB in [0, 1] (what S2DHM's ImagesFromList normalises with),
# expressed on the 0..255 scale used by `preprocess`.
IMAGENET_MEAN_255 = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255 = (0.229 * 255, 0.224 * 255, 0.225 * 255)


def vgg16_trunk() -> nn.Sequential:
    """Modules 0..28 of torchvision's vgg16().features: conv1_1 .. conv5_3 without the last ReLU."""
    layers: list[nn.Module] = []
    in_ch = 3
    for item in _LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_ch = int(item)
    return nn.Sequential(*layers[:-1])


def preprocess(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 `(rgb - mean) / std`, mean/std (3,) on the 0..255 scale."""
    x = image.permute(2, 0, 1).to(torch.float32)
    return ((x - mean[:, None, None]) / std[:, None, None])[None]


def forward_taps(trunk: nn.Sequential, x: torch.Tensor,
                 taps: tuple[int, ...] = HYPERCOLUMN_TAPS) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Run the trunk once; return the inputs of modules `taps` and the trunk's output (conv5_3, pre-ReLU).

    In-place ReLUs only ever overwrite conv outputs, never a tapped tensor (each tap feeds a conv).
    """
    tapped = []
    for i, module in enumerate(trunk):
        if i in taps:
            tapped.append(x)
        x = module(x)
    return tapped, x
