"""Picture styles no scene renderer draws (data/scenes.py), for training video encoders that do not
read a look: what a contact looks like should not depend on colour, tone or edge sharpness. None
draws an edge map, so the held-out sketch look (a line drawing) stays unseen. invariant.py and
train_stream.py (--styles) use them."""

import numpy as np
import torch


def styled(x, rng):
    """x: float [B, n, 3, H, W] in [0, 1], each clip in one draw of styles held over its frames:
    grey, channels swapped, inverted, gamma, contrast, posterised, blurred or sharpened."""
    out = []
    for clip in x:
        if rng.uniform() < 0.25:
            clip = clip.mean(dim=1, keepdim=True).expand_as(clip)
        if rng.uniform() < 0.3:
            clip = clip[:, torch.from_numpy(rng.permutation(3))]
        if rng.uniform() < 0.25:
            clip = 1 - clip
        if rng.uniform() < 0.3:
            clip = clip.clamp(1e-4, 1) ** float(np.exp(rng.uniform(-0.8, 0.8)))
        if rng.uniform() < 0.3:
            clip = ((clip - clip.mean()) * rng.uniform(0.3, 1.5) + clip.mean()).clamp(0, 1)
        if rng.uniform() < 0.15:
            levels = int(rng.integers(3, 7))
            clip = torch.round(clip * (levels - 1)) / (levels - 1)
        r = rng.uniform()
        if r < 0.3:
            soft = torch.nn.functional.avg_pool2d(clip, 3, stride=1, padding=1, count_include_pad=False)
            # Blurred (r < 0.15) or sharpened by an unsharp mask.
            clip = soft if r < 0.15 else (clip + rng.uniform(0.5, 1.5) * (clip - soft)).clamp(0, 1)
        out.append(clip)
    return torch.stack(out)
