"""The streaming form of the foley model (issue 16): one generation step makes a hop of audio,
seeing the video from CONTEXT before the hop to LOOKAHEAD after it and the latent it generated
over the context (the contract's `previous_latent`), so v2agen's latency is two hops plus the
lookahead instead of a window plus a hop.

Layout of one step on the latent's 50 Hz grid (frames of 20 ms):

    [ context: CTX frames, clean | hop: HOP_F frames, noisy | lookahead: AHEAD frames, no audio ]

The denoiser is the windowed model's dilated convolution stack run over that span: its input
channels are the noisy hop (zeros elsewhere), the clean context (zeros elsewhere) and a mask
of the hop, plus the sync features of the whole span at every block; the semantic features,
the prompt, the existing audio and the time as FiLM. It predicts the velocity of the hop only.
The decoder is the causal vocoder (vocoder.py) over the context and the hop, keeping the hop's
samples: exactly what decoding the stream whole would give, so hops join without a seam.

The vocoder looks LEAD latent frames ahead (its output lags its input by LEAD frames), so the
latent runs LEAD frames ahead of the audio: the hop's latent for the audio from T to T + hop
covers T + LEAD·20 ms to T + hop + LEAD·20 ms. The denoiser sees the video's lookahead past
that (AHEAD − LEAD frames), and the decoder's last hop of samples is the audio from T.
"""

import torch
import torch.nn.functional as F
from torch import nn

from common import latent_channels, latent_stats, silent_latent
from config import FEAT, GUIDANCE, STEPS, TEXT_DIM, TIME_SHIFT, VOCODER_LOOKAHEAD, VOCODER_PHASE_PERIOD
from model import AudioEncoder, Denoiser, FusedSync, OnsetHead, VideoEncoder

# 400 ms of lookahead (latency 2 × 200 + 400 = 800 ms): the held-out sketch look reads a contact
# better from the rebound after it (run E against D's 80 ms; models/foley/README.md).
HOP_MS, CONTEXT_MS, LOOKAHEAD_MS = 200, 1600, 400
LATENT_MS = 20
HOP_F, CTX, AHEAD = HOP_MS // LATENT_MS, CONTEXT_MS // LATENT_MS, LOOKAHEAD_MS // LATENT_MS
SPAN = CTX + HOP_F + AHEAD  # 110 latent frames
SYNC_N = (CONTEXT_MS + HOP_MS + LOOKAHEAD_MS) * 25 // 1000  # 55 frames at 25 fps
SEMANTIC_N = (CONTEXT_MS + HOP_MS + LOOKAHEAD_MS) * 5 // 1000  # 11 frames at 5 fps
HOP_SAMPLES = HOP_MS * 16  # 3200 at 16 kHz
LEAD = VOCODER_LOOKAHEAD  # latent frames the latent runs ahead of the audio
# The starting noise's standard deviation (the package's sampler.noise_scale, export_stream.py):
# a sampling temperature, chosen on the validation scenes (README, "Noise scale").
NOISE_SCALE = 0.6


def flow_time(k, n=STEPS, s=TIME_SHIFT):
    """Time of Euler step k of n on the warped grid (0 noise, 1 clean)."""
    u = k / n
    return s * u / (1 + (s - 1) * u)


def sample(velocity, x, n=STEPS, alpha=GUIDANCE, method="euler", first=0):
    """n model calls from the noise x; velocity(x, t) → (conditional, unconditional), the latter
    None to sample without guidance. `euler`: n Euler steps; `heun`: n / 2 Heun steps (each an
    Euler step corrected by the velocity at its end), the same number of calls. With `first`
    (Euler only), x is the path's point at step `first`'s time and the steps before are skipped."""
    def guided(x, t):
        v_c, v_u = velocity(x, t)
        return v_c if v_u is None else v_u + alpha * (v_c - v_u)

    if method == "heun":
        m = n // 2
        for k in range(m):
            t, t1 = flow_time(k, m), flow_time(k + 1, m)
            v = guided(x, t)
            x = x + (t1 - t) * 0.5 * (v + guided(x + (t1 - t) * v, t1))
        return x
    for k in range(first, n):
        t = flow_time(k, n)
        x = x + (flow_time(k + 1, n) - t) * guided(x, t)
    return x


def silence_before_stream(z, silence):
    """Latent frames z [B, C, n] that are all zero, as silence [1, C, 1]. The contract
    gives zeros as the previous latent before a stream starts; in this latent (normalised log-mel)
    zero is a mid-level sound, not silence, and an all-zero frame never comes out of the denoiser.
    Read as sound, it made the decoder spill a burst of noise into the first hop and the denoiser
    start every stream with a noise floor that its later hops went on continuing."""
    empty = (z.abs().sum(dim=1, keepdim=True) == 0).to(z.dtype)
    return z + empty * silence


class StreamDenoiser(Denoiser):
    """x [B, C, HOP_F] (noisy hop), t [B], text [B, 384], sync [B, SYNC_N, FEAT], semantic
    [B, SEMANTIC_N, FEAT], audio [B, FEAT], prev [B, C, CTX] → velocity of the hop, C the latent's
    channels (`stats`: N_MELS for the shipped latent). The windowed denoiser's blocks and
    conditioning; its input takes the noisy hop, the clean context and the hop's mask, and the
    semantic features are pooled into the FiLM."""

    def __init__(self, width=128, blocks=Denoiser.BLOCKS, stats=None):
        stats = stats or latent_stats()
        channels = latent_channels(stats)
        super().__init__(width, blocks, channels)
        self.inp = nn.Conv1d(2 * channels + 1, width, 3, padding=1)
        self.semantic = nn.Sequential(nn.Linear(FEAT, width), nn.GELU(), nn.Linear(width, width))
        mask = torch.zeros(1, 1, SPAN)
        mask[..., CTX: CTX + HOP_F] = 1.0
        self.register_buffer("mask", mask, persistent=False)  # the layout's, not a weight
        self.register_buffer("silence", silent_latent(1, stats), persistent=False)

    def forward(self, x, t, text, sync, semantic, audio, prev):
        """One step of the stream: `span` with the hop noisy after the clean context, read for
        the hop. Computed without what is known to be zero or is not read: the input
        convolution's noisy taps over the hop and its clean taps over the context (each input is
        zero elsewhere), the output convolution over the hop and a frame each side. The same
        velocity as `span` (`step_error`, checked by every export), for a fraction of the input and output
        convolutions' cost over the 110-frame span, which grows with the latent's channels."""
        c = self.out.out_channels
        w = self.inp.weight  # [width, noisy C | clean C | mask 1, 3]
        prev = silence_before_stream(prev, self.silence)
        # Padded by 2, a part's convolution also gives the frame on either side its share.
        noisy = F.conv1d(x, w[:, :c], padding=2)  # frames CTX - 1 .. CTX + HOP_F
        clean = F.conv1d(prev, w[:, c: 2 * c], padding=2)[:, :, 1:]  # frames 0 .. CTX
        h = (F.conv1d(self.mask, w[:, 2 * c:], self.inp.bias, padding=1)
             + F.pad(noisy, (CTX - 1, AHEAD - 1)) + F.pad(clean, (0, HOP_F + AHEAD - 1)))
        sync, cond = self.conditioning(t, text, sync, semantic, audio)
        y = self.trunk(h + self.sync(sync), sync, cond)[:, :, CTX - 1: CTX + HOP_F + 1]
        return F.conv1d(y, self.out.weight, self.out.bias)

    def span(self, noisy, clean, mask, t, text, sync, semantic, audio):
        """The velocity over the whole span [B, C, SPAN] from the noisy frames, the clean
        ones and the mask [B, 1, SPAN] of the noisy: a step of the stream is the hop noisy after
        a clean context; training also denoises longer stretches (train_stream.py)."""
        sync, cond = self.conditioning(t, text, sync, semantic, audio)
        h = self.inp(torch.cat([noisy, clean, mask], dim=1)) + self.sync(sync)
        return self.stack(h, sync, cond)

    def step_error(self, batch=3):
        """The largest difference between `forward` and `span` read for the hop, relative to the
        velocity's peak, on random inputs (a stream's start: zeros in part of the context)."""
        c, g = self.out.out_channels, torch.Generator().manual_seed(0)
        x, cond, prev = random_step(batch, c, g)
        prev[0, :, : CTX // 2] = 0
        with torch.no_grad():
            step = self(x, *cond, prev)
            noisy = F.pad(x, (CTX, AHEAD))
            clean = F.pad(silence_before_stream(prev, self.silence), (0, HOP_F + AHEAD))
            whole = self.span(noisy, clean, self.mask.expand(batch, -1, -1), *cond)[:, :, CTX: CTX + HOP_F]
        return ((step - whole).abs().max() / whole.abs().max()).item()

    def conditioning(self, t, text, sync, semantic, audio):
        """The sync features on the latent's grid [B, FEAT, SPAN] (25 fps onto 50 Hz: each video
        frame covers two latent frames) and the FiLM condition [B, width]."""
        sync = F.interpolate(sync.transpose(1, 2), scale_factor=2.0, mode="nearest")
        return sync, self.condition(t, text, audio) + self.semantic(semantic.mean(dim=1))


def random_step(batch, channels, gen):
    """Random inputs of a stream step, for checks: the noisy hop [batch, channels, HOP_F], the
    conditions (t, text, sync, semantic, audio) and the previous latent [batch, channels, CTX]."""
    x, prev = torch.randn(batch, channels, HOP_F, generator=gen), torch.randn(batch, channels, CTX, generator=gen)
    cond = (torch.rand(batch, generator=gen), torch.randn(batch, TEXT_DIM, generator=gen),
            torch.randn(batch, SYNC_N, FEAT, generator=gen), torch.randn(batch, SEMANTIC_N, FEAT, generator=gen),
            torch.randn(batch, FEAT, generator=gen))
    return x, cond, prev


class BranchedDenoiser(nn.Module):
    """A nested latent's denoiser (common.nest) with a detail branch: `coarse`, a StreamDenoiser
    in the coarse latent (run K's, frozen while the branch trains), gives the coarse channels'
    velocity exactly as it does alone, so the onsets it times stay its own; `detail`, a smaller
    StreamDenoiser over the whole nested latent (it reads the noisy coarse channels too), gives
    the detail channels'. The same inputs and output as one StreamDenoiser of the nested latent."""

    def __init__(self, stats, blocks, branch):
        super().__init__()
        self.split = latent_channels(stats["coarse"])
        self.coarse = StreamDenoiser(blocks=blocks, stats=stats["coarse"])
        self.detail = StreamDenoiser(width=branch[0], blocks=branch[1], stats=stats)

    def forward(self, x, t, text, sync, semantic, audio, prev):
        c = self.split
        return torch.cat([self.coarse(x[:, :c], t, text, sync, semantic, audio, prev[:, :c]),
                          self.detail(x, t, text, sync, semantic, audio, prev)[:, c:]], dim=1)

    def span(self, noisy, clean, mask, t, text, sync, semantic, audio):
        c = self.split
        return torch.cat([self.coarse.span(noisy[:, :c], clean[:, :c], mask, t, text, sync, semantic, audio),
                          self.detail.span(noisy, clean, mask, t, text, sync, semantic, audio)[:, c:]], dim=1)

    def step_error(self):
        return max(self.coarse.step_error(), self.detail.step_error())


def branch_of(state):
    """(width, blocks) of a state dict's detail branch (BranchedDenoiser), or None."""
    if "denoiser.detail.inp.weight" not in state:
        return None
    blocks = sum(1 for k in state if k.startswith("denoiser.detail.blocks.") and k.endswith(".mix.weight"))
    return state["denoiser.detail.inp.weight"].shape[0], blocks


def branched(state, stats, branch):
    """A StreamFoley state dict in the coarse latent of the nested latent `stats` → one with a
    detail branch of `branch` = (width, blocks): its denoiser is the coarse one as it was, the
    branch fresh (its output at zero: no detail velocity until it learns)."""
    state = weights(state)
    fresh = StreamFoley(stats, blocks_of(state), sync_input_of(state), branch).state_dict()
    out = {("denoiser.coarse." + k[len("denoiser."):] if k.startswith("denoiser.") else k): v
           for k, v in state.items()}
    out.update({k: v for k, v in fresh.items() if k.startswith("denoiser.detail.")})
    assert set(out) == set(fresh), set(out) ^ set(fresh)
    return out


def weights(state):
    """A checkpoint's state dict for StreamFoley: the first checkpoints kept the hop's mask in it,
    which is the layout's (a checkpoint trained with another lookahead goes on with this one)."""
    return {k: v for k, v in state.items() if not k.endswith("denoiser.mask")}


def blocks_of(state):
    """The denoiser's depth in a StreamFoley state dict (a branched one's coarse denoiser's)."""
    prefix = "denoiser.coarse.blocks." if branch_of(state) else "denoiser.blocks."
    return sum(1 for k in state if k.startswith(prefix) and k.endswith(".mix.weight"))


def sync_input_of(state):
    """What a state dict's sync encoder reads: "fused" (model.FusedSync), "fused-extra" (one with
    a third encoder added), else the edges of its one encoder (model.VideoEncoder.edges_of:
    False, "luma" or "colour")."""
    if "sync.mix.weight" in state:
        return "fused-extra" if "sync.extra_mix.weight" in state else "fused"
    return VideoEncoder.edges_of(state, "sync.")


def fused(sync_input):
    """Whether a sync input (sync_input_of) is a model.FusedSync."""
    return sync_input in ("fused", "fused-extra")


def loaded(stats, state):
    """A StreamFoley as deep as the state dict's denoiser, with its sync encoder's input, and its
    weights."""
    model = StreamFoley(stats, blocks_of(state), sync_input_of(state), branch_of(state))
    model.load_state_dict(weights(state))
    return model


def from_checkpoint(path):
    """(the model a checkpoint or snapshot holds, its EMA weights, in eval mode; its latent's
    stats): a model trained in a candidate latent (train_stream.py --latent) carries its latent,
    the others are in the shipped one."""
    ck = torch.load(path)
    stats = ck.get("latent") or latent_stats()
    return loaded(stats, ck["ema"]).eval(), stats


def deepened(state, stats, blocks):
    """The state dict with blocks appended to the denoiser's stack that leave its output as it was:
    each new block's last convolution and its sync input start at zero (a residual block that adds
    nothing until it learns to), its FiLM rows at zero; their other weights as a fresh model's."""
    grown = StreamFoley(stats, blocks, sync_input_of(state)).state_dict()
    state = weights(state)
    for k, v in grown.items():
        if k not in state:
            if k.endswith(".mix.weight") or k.endswith(".mix.bias") or k.startswith("denoiser.sync_in."):
                v.zero_()
            state[k] = v
        elif state[k].shape != v.shape:  # the FiLM projection: rows for the new blocks
            assert k.startswith("denoiser.film."), k
            v.zero_()
            v[: state[k].shape[0]] = state[k]
            state[k] = v
    return state


class StreamFoley(nn.Module):
    """Everything trained together (the video and audio encoders as in the windowed model). The
    denoiser works in the latent of `stats`; the audio encoder reads its waveform through the
    shipped latent's frontend whatever the denoiser's latent is (its input is audio, not a
    latent, so the two need not agree). With `branch` (width, blocks), a nested latent's
    denoiser is a BranchedDenoiser."""

    def __init__(self, stats, blocks=Denoiser.BLOCKS, sync_input=False, branch=None):
        super().__init__()
        self.sync = (FusedSync(extra=sync_input == "fused-extra") if fused(sync_input)
                     else VideoEncoder(motion=True, edges=sync_input))
        self.semantic = VideoEncoder(motion=False)
        self.audio = AudioEncoder(latent_stats())
        self.denoiser = (BranchedDenoiser(stats, blocks, branch) if branch
                         else StreamDenoiser(blocks=blocks, stats=stats))
        self.onset = OnsetHead()


class StreamDecoder(nn.Module):
    """latent [B, C, HOP_F] + prev [B, C, CTX] → the hop's waveform [B, HOP_SAMPLES]:
    the causal vocoder's convolutions over the hop and the context's last `context` frames (its
    receptive field for the SPILL frames before the hop), its head and inverse STFT over the hop
    and those SPILL frames, whose windows reach into the hop (the rest of the context feeds
    nothing)."""

    SPILL = 2

    def __init__(self, vocoder, stats=None, refine=0):
        super().__init__()
        self.vocoder = vocoder
        self.context = self.SPILL + vocoder.receptive - 1
        assert self.context <= CTX, "the vocoder sees further back than the stream's context"
        self.register_buffer("inv_wss", vocoder.istft.inv_wss(2 * (self.SPILL + HOP_F)))
        self.register_buffer("silence", silent_latent(1, stats), persistent=False)
        # A vocoder with absolute phase (vocoder.phase_advance) needs each frame's place in its
        # period: hops start at multiples of it.
        assert HOP_F % VOCODER_PHASE_PERIOD == 0, "the stream's hop is not a multiple of the vocoder's phase period"
        self.start = -self.context % VOCODER_PHASE_PERIOD
        # `refine` Griffin-Lim steps over the hop's frames (vocoder.HopGriffinLim).
        self.refine = None
        if refine:
            from vocoder import SPILL_FRAMES, HopGriffinLim
            assert 2 * self.SPILL >= SPILL_FRAMES, "the kept frames miss some that reach into the hop"
            self.touching = SPILL_FRAMES + 2 * HOP_F
            self.refine = HopGriffinLim(refine, self.touching)

    def forward(self, latent, prev):
        z = torch.cat([prev[:, :, CTX - self.context:], latent], dim=2)
        z = silence_before_stream(z, self.silence)
        keep = self.SPILL + HOP_F
        if self.refine is None:
            return self.vocoder(z, self.inv_wss, keep=keep, start=self.start)[:, -HOP_SAMPLES:]
        re, im = self.vocoder.spectrum(z, keep, self.start)
        mag = self.vocoder.target(z, keep)
        n = self.touching
        return self.refine(re[:, :, -n:], im[:, :, -n:], mag[:, :, -n:])
