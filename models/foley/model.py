"""The foley model's trained graphs (torch): two video encoders (a sync rate that sees motion and
a semantic rate that sees the scene), an audio encoder for negative audio guidance, and the
flow-matching denoiser over the log-mel latent (common.py). MMAudio's decomposition, scaled down
to train on two CPU cores."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from common import Frontend
from config import FEAT, LATENT_FRAMES, N_MELS, SEMANTIC_FPS, SYNC_FPS, SYNC_SIZE, TEXT_DIM, WINDOW_S


class FrameCnn(nn.Module):
    """[N, C, size, size] → [N, FEAT] (size a multiple of 8: three stride-2 convolutions of
    width, 2 × width and 4 × width channels)."""

    WIDTH = 16  # every shipped encoder's; others only for resolution_gate.py's comparison

    def __init__(self, channels, size=SYNC_SIZE, width=WIDTH):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, 2, 1), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.GELU(),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.GELU())
        self.fc = nn.Linear(4 * width * (size // 8) ** 2, FEAT)

    def forward(self, x):
        return self.fc(self.net(x).flatten(1))


class VideoEncoder(nn.Module):
    """frames [B, n, 3, size, size] in [0, 1] → features [B, n, FEAT]. The sync encoder also sees
    each frame's difference from the previous one (motion), and both mix neighbouring frames.
    `size` other than SYNC_SIZE, `still=False`, `edges` and `width` other than FrameCnn.WIDTH
    only for resolution_gate.py's comparisons and runs I and J (README): without the still frame the sync
    encoder sees the motion alone, each clip's differences divided by their spread, so a look's
    colours and contrast (ink on paper, a disc on a gradient) reach it only as the shape of what
    moves; with `edges` ("luma" or "colour", EDGE_MIX) it sees, instead of the colours, where the
    picture changes (a fixed gradient-magnitude front end), the part of a picture that a filled
    shape and its outline share."""

    # Edges through a fixed colour mix: each pixel's steps to its neighbours mixed by these rows,
    # their magnitudes averaged over the rows. "luma" is the brightness's step alone and misses
    # an edge between two colours of one brightness; "colour" takes every channel's step.
    EDGE_MIX = {"luma": [[0.299, 0.587, 0.114]], "colour": [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]}

    def __init__(self, motion, size=SYNC_SIZE, still=True, width=FrameCnn.WIDTH, edges=False, magnify=0.0):
        super().__init__()
        self.motion, self.still, self.edges, self.magnify = motion, still, bool(edges), magnify
        if edges:
            # A buffer, so that a state dict says which front end its weights were trained on.
            self.register_buffer("edge_mix", torch.tensor(self.EDGE_MIX[edges]))
        if magnify:
            self.register_buffer("motion_gain", torch.tensor(float(magnify)))
        self.cnn = FrameCnn(self.channels(motion, still, edges), size, width)
        self.temporal = nn.Conv1d(FEAT, FEAT, 5, padding=2)

    @staticmethod
    def channels(motion, still=True, edges=False):
        """The CNN's input channels: the still frame, the change into and out of it per colour,
        then three magnitudes (forward)."""
        colours = 1 if edges else 3
        return colours * (3 if still else 2) + 3 if motion else colours

    @classmethod
    def edges_of(cls, state, prefix=""):
        """The `edges` a state dict's encoder was built with (False, "luma" or "colour")."""
        mix = state.get(prefix + "edge_mix")
        return False if mix is None else next(k for k, v in cls.EDGE_MIX.items() if len(v) == mix.shape[0])

    def edge_map(self, frames):
        """[B, n, 3, h, w] → [B, n, 1, h, w] on a frame's scale: a hard edge is 1."""
        mixed = torch.einsum("kc,bnchw->bnkhw", self.edge_mix, frames)
        # Each pixel's step from the one above and the one to its left (0 on the first row and
        # column); slices, not torch.diff, which the ONNX exporter lacks.
        gy = torch.abs(mixed - torch.cat([mixed[:, :, :, :1], mixed[:, :, :, :-1]], dim=3))
        gx = torch.abs(mixed - torch.cat([mixed[:, :, :, :, :1], mixed[:, :, :, :, :-1]], dim=4))
        return (gx + gy).mean(dim=2, keepdim=True)

    def differences(self, d):
        """A frame difference as the CNN sees it: ×4 as shipped; with `magnify` g, tanh(g × d), a
        soft sign under which a third of a pixel's travel (a late, low bounce at 32×32) shows nearly
        as plainly as a whole edge's, where ×4 keeps it a tenth as large and the product of two
        (`turn`) a hundredth (resolution_gate.py's `magnified` input only)."""
        return torch.tanh(self.magnify * d) if self.magnify else 4.0 * d

    def forward(self, frames):
        b, n = frames.shape[0], frames.shape[1]
        x = self.edge_map(frames) if self.edges else frames - 0.5
        if self.motion:
            # The change into and out of each frame side by side: a contact is where motion
            # towards a surface turns into motion away from it, visible within one frame's input.
            # Colours are random, so the signs of the differences say little; their magnitudes
            # and their product do: pixels that the object enters and leaves again (a bounce)
            # have a strongly negative product, an object that stops has motion in and none out.
            prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)
            nxt = torch.cat([x[:, 1:], x[:, -1:]], dim=1)
            d_in, d_out = self.differences(x - prev), self.differences(nxt - x)
            if not self.still:
                gain = 1.0 / (d_in.flatten(1).std(dim=1).view(b, 1, 1, 1, 1) + 0.02)
                d_in, d_out = d_in * gain, d_out * gain
            mag_in = torch.abs(d_in).sum(dim=2, keepdim=True)
            mag_out = torch.abs(d_out).sum(dim=2, keepdim=True)
            turn = (d_in * d_out).sum(dim=2, keepdim=True)
            x = torch.cat(([x] if self.still else []) + [d_in, d_out, mag_in, mag_out, turn], dim=2)
        f = self.cnn(x.reshape(b * n, x.shape[2], x.shape[3], x.shape[4])).reshape(b, n, FEAT)
        f = f + self.temporal(F.gelu(f).transpose(1, 2)).transpose(1, 2)
        return f


class FusedSync(nn.Module):
    """Two sync encoders read together (run K, README): `base` as trained on the colours and
    `edges` on the colour edges, the second's features added through `mix`, which starts at zero
    so that the fused model begins exactly as the model whose `base` it took. The colours read the
    training looks best, the edges every look alike (resolution_gate.py); the denoiser learns how
    much of each to trust. With `extra`, a third, colour encoder (one pretrained on more clips:
    train_stream.py --add-from) is added the same way through `extra_mix`, so that a model grows
    from the one it starts as rather than losing what its denoiser learnt of the base (run G,
    README). Same interface as a VideoEncoder: frames → [B, n, FEAT]."""

    def __init__(self, extra=False):
        super().__init__()
        self.base = VideoEncoder(motion=True)
        self.edges = VideoEncoder(motion=True, edges="colour")
        self.mix = zero_linear()
        self.has_extra = extra
        if extra:
            self.extra = VideoEncoder(motion=True)
            self.extra_mix = zero_linear()

    def mixes(self):
        """The mixes (what a frozen fused encoder still learns)."""
        return [self.mix] + ([self.extra_mix] if self.has_extra else [])

    def parts(self, frames):
        """The base's features and what the other encoders add to them (training drops the first
        per example)."""
        added = self.mix(self.edges(frames))
        if self.has_extra:
            added = added + self.extra_mix(self.extra(frames))
        return self.base(frames), added

    def forward(self, frames):
        base, added = self.parts(frames)
        return base + added


def zero_linear():
    """FEAT → FEAT, all zero: an added encoder's features start at nothing."""
    mix = nn.Linear(FEAT, FEAT)
    nn.init.zeros_(mix.weight)
    nn.init.zeros_(mix.bias)
    return mix


class OnsetHead(nn.Module):
    """Training only (not exported): predicts from the sync features how sharply the sound rises
    at each frame, as Synchformer-style sync features are trained for synchrony before MMAudio
    uses them. The flow-matching loss alone spreads its gradient over every latent frame, and the
    few frames of an impact barely count."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(FEAT, 1)

    def forward(self, sync):
        return self.fc(sync)[..., 0]


class AudioEncoder(nn.Module):
    """waveform [B, S] → features [B, FEAT]: what is already in the mix (pooled over time)."""

    def __init__(self, stats):
        super().__init__()
        self.front = Frontend(stats)
        self.net = nn.Sequential(
            nn.Conv1d(N_MELS, 64, 5, 2, 2), nn.GELU(),
            nn.Conv1d(64, 64, 5, 2, 2), nn.GELU())
        self.fc = nn.Linear(64, FEAT)

    def forward(self, wave):
        return torch.tanh(self.fc(self.net(self.front(wave)).mean(dim=2)))


class Block(nn.Module):
    def __init__(self, width, dilation):
        super().__init__()
        self.norm = nn.GroupNorm(8, width)
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(width, width, 1)

    def forward(self, h, film):
        scale, shift = film.chunk(2, dim=1)
        y = self.norm(h) * (1 + scale) + shift
        return h + self.mix(F.gelu(self.conv(F.gelu(y))))


class Denoiser(nn.Module):
    """One flow-matching velocity over a window: x [B, channels, 200] (the latent's: N_MELS for the
    shipped one), t [B] in [0, 1), pooled prompt [B, 384], sync features [B, 100, FEAT], semantic
    [B, 20, FEAT], existing audio [B, FEAT]."""

    CYCLE = (1, 2, 4, 8, 16)  # one cycle's receptive field: 63 frames
    BLOCKS = 10

    def __init__(self, width=128, blocks=BLOCKS, channels=N_MELS):
        super().__init__()
        self.width = width
        self.dilations = tuple(self.CYCLE[i % len(self.CYCLE)] for i in range(blocks))
        self.inp = nn.Conv1d(channels, width, 3, padding=1)
        self.sync = nn.Conv1d(FEAT, width, 3, padding=1)
        self.semantic = nn.Conv1d(FEAT, width, 1)
        self.time = nn.Sequential(nn.Linear(64, width), nn.GELU(), nn.Linear(width, width))
        self.text = nn.Sequential(nn.Linear(TEXT_DIM, width), nn.GELU(), nn.Linear(width, width))
        self.audio = nn.Sequential(nn.Linear(FEAT, width), nn.GELU(), nn.Linear(width, width))
        self.film = nn.Linear(width, 2 * width * len(self.dilations))
        self.blocks = nn.ModuleList(Block(width, d) for d in self.dilations)
        # The sync features again at every block, so that timing reaches deep layers directly.
        self.sync_in = nn.ModuleList(nn.Conv1d(FEAT, width, 1) for _ in self.dilations)
        for conv in self.sync_in:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.out_norm = nn.GroupNorm(8, width)
        self.out = nn.Conv1d(width, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        freqs = torch.exp(-math.log(1000.0) * torch.arange(32) / 32)
        self.register_buffer("freqs", freqs)

    def forward(self, x, t, text, sync, semantic, audio):
        sync = sync.transpose(1, 2)
        semantic = semantic.transpose(1, 2)
        sync = F.interpolate(sync, scale_factor=float(LATENT_FRAMES // (SYNC_FPS * WINDOW_S)), mode="nearest")
        semantic = F.interpolate(semantic, scale_factor=float(LATENT_FRAMES // (SEMANTIC_FPS * WINDOW_S)),
                                 mode="nearest")
        h = self.inp(x) + self.sync(sync) + self.semantic(semantic)
        return self.stack(h, sync, self.condition(t, text, audio))

    def condition(self, t, text, audio):
        """The global condition [B, width]: timestep embedding, prompt and existing audio."""
        arg = (t * 1000.0)[:, None] * self.freqs[None]
        temb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
        return self.time(temb) + self.text(text) + self.audio(audio)

    def stack(self, h, sync, c):
        """The blocks over h [B, width, T], FiLM'd by c, the sync features [B, FEAT, T] again at
        each; then the output projection."""
        return self.out(self.trunk(h, sync, c))

    def trunk(self, h, sync, c):
        """`stack` up to the output convolution's input [B, width, T]."""
        films = self.film(F.gelu(c))
        for i, block in enumerate(self.blocks):
            f = films[:, i * 2 * self.width: (i + 1) * 2 * self.width, None]
            h = block(h + self.sync_in[i](sync), f)
        return F.gelu(self.out_norm(h))


class Foley(nn.Module):
    """Everything trained together."""

    def __init__(self, stats):
        super().__init__()
        self.sync = VideoEncoder(motion=True)
        self.semantic = VideoEncoder(motion=False)
        self.audio = AudioEncoder(stats)
        self.denoiser = Denoiser()
        self.onset = OnsetHead()
