"""Carries a trained streaming model over to another latent (latent_study.py), so that a richer
latent starts from what the shipped model learnt instead of from nothing (the streaming model took
hours to learn sync; the vocoder's bar needs a richer latent than the shipped 48 bands).

Both latents are normalised log-mel spectra of the same audio, so each is close to a linear map of
the other: A takes the new latent to the old (z_old ≈ A z_new), B the old to the new (z_new ≈ B
z_old), fitted by ridge regression over the latents of training mixes (both have zero mean per
channel, so no offsets). The denoiser's input convolution reads the new latent through A (its taps
on the noisy and the clean channels, each composed with A), and its output convolution writes
through B; every other weight is kept. The composed model starts near the old one, not at it: A
of the new latent's noise is not the old latent's noise, and B's range misses the new detail,
which is what the training after it must learn. A nested latent (common.nest) holding the old
one is carried over exactly instead (`nested`).

    train_stream.py --from-snapshot --latent latents/mel128x2.json ...
"""

import torch

from common import Frontend, latent_channels

RIDGE = 1e-3  # relative to the mean channel variance: the new latent repeats its lowest bands


def ridge(x, y):
    """W [Cy, Cx] minimising |y - W x|² + λ|W|² over columns x [Cx, N], y [Cy, N]."""
    xx = x @ x.T
    lam = RIDGE * xx.diagonal().mean()
    return torch.linalg.solve(xx + lam * torch.eye(len(xx)), x @ y.T).T


def explained(w, x, y):
    return 1 - ((y - w @ x) ** 2).sum().item() / (y ** 2).sum().item()


def columns(stats, mixes):
    """The latent of stats `stats` of waveforms `mixes` [N, S], each frame a column [C, N · T]."""
    with torch.no_grad():
        z = Frontend(stats)(mixes)
    return z.permute(1, 0, 2).reshape(z.shape[1], -1)


def latent_maps(old, new, mixes):
    """(A, B) between the latents of stats `old` and `new` over waveforms `mixes` [N, S], with the
    share of each target's energy they explain."""
    zo, zn = columns(old, mixes), columns(new, mixes)
    a, b = ridge(zn, zo), ridge(zo, zn)
    return a, b, explained(a, zn, zo), explained(b, zo, zn)


def nested(state, old, new):
    """A StreamFoley state dict in latent `old` → the same model in the nested latent `new` whose
    coarse latent `old` is (common.nest): exactly the same function on the coarse channels, the
    detail channels read with zero weights and written as zero velocity until training learns them."""
    state = dict(state)
    co, cn = latent_channels(old), latent_channels(new)
    w = state["denoiser.inp.weight"].float()  # [width, 2 · co + 1 (noisy, clean, mask), 3]
    unread = torch.zeros(w.shape[0], cn - co, w.shape[2])
    state["denoiser.inp.weight"] = torch.cat([w[:, :co], unread, w[:, co: 2 * co], unread, w[:, 2 * co:]], dim=1)
    out = state["denoiser.out.weight"].float()
    state["denoiser.out.weight"] = torch.cat([out, torch.zeros(cn - co, *out.shape[1:])])
    state["denoiser.out.bias"] = torch.cat([state["denoiser.out.bias"].float(), torch.zeros(cn - co)])
    return state


def nested_difference(state, carried, old, new):
    """The largest difference between the velocity of the model `state` (latent `old`) and the
    coarse channels of `carried`'s (`nested`) on random inputs with random detail, and the
    largest detail velocity: both 0 for an exact carry-over."""
    from stream import loaded, random_step
    co = latent_channels(old)
    x, cond, prev = random_step(2, latent_channels(new), torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = loaded(old, state).eval().denoiser(x[:, :co], *cond, prev[:, :co])
        after = loaded(new, carried).eval().denoiser(x, *cond, prev)
    return (after[:, :co] - before).abs().max().item(), after[:, co:].abs().max().item()


def relatent(state, old, new, mixes):
    """A StreamFoley state dict in latent `old` → the same model reading and writing latent `new`
    (module docstring); exactly the same where `new` nests `old` (`nested`)."""
    if new.get("coarse") == old:
        carried = nested(state, old, new)
        coarse, detail = nested_difference(state, carried, old, new)
        print(f"latent {new['name']} nests the old one: carried over exactly (coarse velocity differs by "
              f"{coarse:.1e}, detail velocity {detail:.1e}), its detail to learn")
        return carried
    a, b, fit_a, fit_b = latent_maps(old, new, mixes)
    print(f"latent maps: new → old explains {fit_a:.3f} of the old latent, old → new {fit_b:.3f} of the new")
    state = dict(state)
    co = a.shape[0]
    w = state["denoiser.inp.weight"].float()  # [width, 2 · co + 1 (noisy, clean, mask), 3]
    noisy = torch.einsum("wok,on->wnk", w[:, :co], a)
    clean = torch.einsum("wok,on->wnk", w[:, co: 2 * co], a)
    state["denoiser.inp.weight"] = torch.cat([noisy, clean, w[:, 2 * co:]], dim=1)
    state["denoiser.out.weight"] = torch.einsum("no,owk->nwk", b, state["denoiser.out.weight"].float())
    state["denoiser.out.bias"] = b @ state["denoiser.out.bias"].float()
    return state
