"""The SSSD-ECG denoiser: (x_t, t, labels) -> the diffusion target (eps or v)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from generator.config import DictConfig
from generator.s4 import S4Layer

LABEL_EMBEDDINGS = ("sssd", "nle")
# Where the waves sit relative to the beats, in seconds since the last R peak or
# until the next one: each timing value is spread over Gaussian bumps centred here,
# so the morphology around a beat is close to a linear function of the features.
TIMING_CENTRES_S = (0.0, 0.03, 0.06, 0.1, 0.14, 0.18, 0.23, 0.28, 0.34, 0.4, 0.5, 0.65)
# Beat pooling: positions are grouped by their signed distance to the nearest R
# peak in bins this wide, out to BEAT_POOL_REACH_S either side; farther ones
# (long diastole) are left out
BEAT_POOL_BIN_S = 0.04
BEAT_POOL_REACH_S = 0.6


@dataclass
class ModelConfig(DictConfig):
    n_leads: int = 8  # generated leads (I, aVF, V1-V6); the other four are derived
    length: int = 1000  # samples per ECG (10 s at 100 Hz)
    patch: int = 4  # time samples folded into channels before the S4 stack
    n_labels: int = 9  # size of the multi-hot label vocabulary
    label_embedding: str = "sssd"  # "sssd" (multi-hot @ matrix) or "nle" (Skorik 2024)
    label_dim: int = 128  # width of the label embedding
    res_channels: int = 96  # residual and skip channels
    s4_channels: int = 192  # channels inside a block (S4 width), 2 * res_channels
    n_blocks: int = 8  # residual blocks
    s4_state: int = 64  # S4D state size N
    bidirectional: bool = True  # S4 looks both ways along time
    dropout: float = 0.0  # dropout inside the S4 layers
    step_embed_in: int = 128  # sinusoidal diffusion-step embedding width
    step_embed_hidden: int = 256  # width of the step-embedding MLP
    timing_channels: int = 0  # 2: beat timing given as input (generator.rhythm)
    amplitude_input: bool = False  # per-lead voltage given (generator.amplitude)
    amplitude_leads: int = 8  # of how many leads: 8 generated, or 12 with derived
    # and, after the 12, the Fisher z of the correlation of leads I and aVF (the
    # frontal axis, which the derived leads' SDs only imply)
    amplitude_axis: bool = False
    # each block also sees, at every position, the mean of its features over all
    # positions as far from their nearest R peak (beat_mean): what an ECG machine's
    # median beat is, a path by which one beat's QRS can follow the others
    # (needs timing_channels)
    beat_pool: bool = False

    def __post_init__(self):
        if self.label_embedding not in LABEL_EMBEDDINGS:
            raise ValueError(
                f"label_embedding must be one of {LABEL_EMBEDDINGS}, "
                f"got {self.label_embedding!r}"
            )
        if self.length % self.patch:
            raise ValueError(
                f"length {self.length} is not a multiple of patch {self.patch}"
            )
        if self.timing_channels not in (0, 2):
            raise ValueError(
                f"timing_channels must be 0 or 2, got {self.timing_channels}"
            )
        if self.amplitude_leads not in (8, 12):
            raise ValueError(
                f"amplitude_leads must be 8 or 12, got {self.amplitude_leads}"
            )
        if self.amplitude_axis and self.amplitude_leads != 12:
            raise ValueError("amplitude_axis needs amplitude_leads 12")
        if self.beat_pool and not self.timing_channels:
            raise ValueError("beat_pool needs timing_channels: it pools by beat")
        if self.s4_channels % 2:
            raise ValueError(f"s4_channels must be even, got {self.s4_channels}")

    @property
    def amplitude_width(self) -> int:
        """How many values the amplitude input takes per ECG."""
        return self.amplitude_leads + int(self.amplitude_axis)


MODEL_PRESETS: dict[str, ModelConfig] = {
    # Alcaraz & Strodthoff 2023: 36 blocks, 256 residual / 512 S4 channels, no patching
    "sssd-ecg": ModelConfig(
        patch=1,
        n_labels=71,
        res_channels=256,
        s4_channels=512,
        n_blocks=36,
        step_embed_hidden=512,
    ),
    # small enough to train on two CPU cores: S4 runs on 250 steps instead of 1000
    "cpu": ModelConfig(),
    # for tests and smoke runs only
    "tiny": ModelConfig(
        length=200,
        patch=4,
        res_channels=16,
        s4_channels=32,
        n_blocks=2,
        s4_state=8,
        label_dim=16,
        step_embed_in=16,
        step_embed_hidden=32,
    ),
}


def step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of diffusion steps, (B,) -> (B, dim) (Vaswani et al.)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0)
        * torch.arange(half, device=t.device, dtype=torch.float32)
        / half
    )
    args = t.float()[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class LabelEmbedding(nn.Module):
    """Multi-hot labels (B, K) -> (B, label_dim); a learned null vector for guidance.

    "sssd": y @ W with a learned K x D matrix (Alcaraz & Strodthoff 2023).
    "nle": each label has a learned "absent" vector and a zero "present" vector; a
    learned per-label weight (a 1x1 convolution over the label axis) mixes the K
    vectors into one (Skorik & Avetisyan 2024).
    """

    def __init__(self, n_labels: int, dim: int, kind: str):
        super().__init__()
        self.kind = kind
        self.n_labels = n_labels
        if kind == "sssd":
            self.weight = nn.Parameter(torch.randn(n_labels, dim) / math.sqrt(n_labels))
        else:
            self.absent = nn.Parameter(torch.randn(n_labels, dim))
            self.mix = nn.Conv1d(n_labels, 1, kernel_size=1)
        self.null = nn.Parameter(torch.zeros(dim))

    def forward(
        self, labels: torch.Tensor, drop: torch.Tensor | None = None
    ) -> torch.Tensor:
        if labels.ndim != 2 or labels.shape[1] != self.n_labels:
            raise ValueError(
                f"labels must be (B, {self.n_labels}) multi-hot, "
                f"got {tuple(labels.shape)}"
            )
        labels = labels.float()
        if self.kind == "sssd":
            emb = labels @ self.weight  # (B, D)
        else:
            per_label = (1.0 - labels)[..., None] * self.absent  # (B, K, D)
            emb = self.mix(per_label).squeeze(1)  # (B, D)
        if drop is not None:
            emb = torch.where(drop[:, None], self.null.expand_as(emb), emb)
        return emb


class ResidualBlock(nn.Module):
    """One SSSD block: step embedding, k=3 conv, S4, label, S4, gate, residual/skip."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.step_proj = nn.Linear(cfg.step_embed_hidden, cfg.res_channels)
        self.conv_in = nn.Conv1d(cfg.res_channels, cfg.s4_channels, 3, padding=1)
        self.s4_first = S4Layer(
            cfg.s4_channels, cfg.s4_state, cfg.bidirectional, cfg.dropout
        )
        self.label_proj = nn.Linear(cfg.label_dim, cfg.s4_channels)
        self.timing_conv = None
        if cfg.timing_channels:
            # Zero at first: a network trained without timing computes what it did.
            features = cfg.timing_channels * len(TIMING_CENTRES_S) * cfg.patch
            self.timing_conv = nn.Conv1d(features, cfg.s4_channels, 1)
            nn.init.zeros_(self.timing_conv.weight)
            nn.init.zeros_(self.timing_conv.bias)
        self.beat_pool_conv = None
        if cfg.beat_pool:
            # zero at first, like timing_conv: a trained network is unchanged
            self.beat_pool_conv = nn.Conv1d(cfg.s4_channels, cfg.s4_channels, 1)
            nn.init.zeros_(self.beat_pool_conv.weight)
            nn.init.zeros_(self.beat_pool_conv.bias)
        self.s4_second = S4Layer(
            cfg.s4_channels, cfg.s4_state, cfg.bidirectional, cfg.dropout
        )
        gated = cfg.s4_channels // 2
        self.res_conv = nn.Conv1d(gated, cfg.res_channels, 1)
        self.skip_conv = nn.Conv1d(gated, cfg.res_channels, 1)

    def forward(
        self,
        x: torch.Tensor,
        step_emb: torch.Tensor,
        label_emb: torch.Tensor,
        timing: torch.Tensor | None = None,
        beat_bins: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = x + self.step_proj(step_emb)[..., None]  # (B, C, L)
        h = self.s4_first(self.conv_in(h))  # (B, H, L)
        if self.beat_pool_conv is not None:
            h = h + self.beat_pool_conv(beat_mean(h, beat_bins))
        h = h + self.label_proj(label_emb)[..., None]
        if timing is not None:
            h = h + timing  # this block's timing_conv output, like SSSD's conditioning
        h = self.s4_second(h)
        a, b = h.chunk(2, dim=1)  # (B, H/2, L) each
        h = torch.tanh(a) * torch.sigmoid(b)
        return (x + self.res_conv(h)) * math.sqrt(0.5), self.skip_conv(h)


class SSSD(nn.Module):
    """The denoiser network; it knows nothing of the noise schedule."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        patched = cfg.n_leads * cfg.patch
        self.init_conv = nn.Conv1d(patched, cfg.res_channels, 1)
        self.step_mlp = nn.Sequential(
            nn.Linear(cfg.step_embed_in, cfg.step_embed_hidden),
            nn.SiLU(),
            nn.Linear(cfg.step_embed_hidden, cfg.step_embed_hidden),
            nn.SiLU(),
        )
        self.label_embedding = LabelEmbedding(
            cfg.n_labels, cfg.label_dim, cfg.label_embedding
        )
        self.amplitude_mlp = None
        if cfg.amplitude_input:
            # Added to the label embedding after label dropout, so guidance leaves
            # it alone; zero at first, so a network trained without it computes
            # what it did.
            self.amplitude_mlp = nn.Sequential(
                nn.Linear(cfg.amplitude_width, cfg.label_dim),
                nn.SiLU(),
                nn.Linear(cfg.label_dim, cfg.label_dim),
            )
            nn.init.zeros_(self.amplitude_mlp[2].weight)
            nn.init.zeros_(self.amplitude_mlp[2].bias)
        self.blocks = nn.ModuleList(ResidualBlock(cfg) for _ in range(cfg.n_blocks))
        # (timing input, its per-block terms) of the last call in eval mode without
        # autograd: the timing is the same at every denoising step of a sampling run
        self._timing_cache: tuple[torch.Tensor, tuple, list[torch.Tensor]] | None = None
        self.final_conv = nn.Conv1d(cfg.res_channels, cfg.res_channels, 1)
        self.out_conv = nn.Conv1d(cfg.res_channels, patched, 1)
        nn.init.zeros_(self.out_conv.weight)  # start by predicting zero
        nn.init.zeros_(self.out_conv.bias)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor,
        drop_labels: torch.Tensor | None = None,
        timing: torch.Tensor | None = None,
        amplitude: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x_t (B, n_leads, L), t (B,) steps, labels (B, K) -> (B, n_leads, L).

        ``drop_labels`` (B,) bool replaces the label embedding by the learned null
        vector: label dropout in training, the unconditional branch of guidance.
        ``timing`` (B, timing_channels, L) is the beat timing when the config asks
        for it (see generator.rhythm); it is never dropped. ``amplitude`` (B,
        amplitude_width) is each lead's log voltage (and the frontal axis) when the
        config asks for it (see generator.amplitude); never dropped either.
        """
        cfg = self.cfg
        if x_t.ndim != 3 or x_t.shape[1:] != (cfg.n_leads, cfg.length):
            raise ValueError(
                f"x_t must be (B, {cfg.n_leads}, {cfg.length}), got {tuple(x_t.shape)}"
            )
        B, C, L = x_t.shape
        if cfg.timing_channels:
            expected = (B, cfg.timing_channels, L)
            if timing is None or tuple(timing.shape) != expected:
                got = None if timing is None else tuple(timing.shape)
                raise ValueError(f"timing must be {expected}, got {got}")
            block_timing = self.block_timing(timing.to(x_t.dtype))
            bins = beat_bins(timing, cfg.patch) if cfg.beat_pool else None
        elif timing is not None:
            raise ValueError("this model takes no timing channels")
        else:
            block_timing, bins = [None] * len(self.blocks), None
        x = patchify(x_t, cfg.patch)
        h = F.relu(self.init_conv(x))  # (B, res, L/p)
        step_emb = self.step_mlp(step_embedding(t, cfg.step_embed_in))  # (B, hidden)
        label_emb = self.label_embedding(labels, drop_labels)  # (B, label_dim)
        if self.amplitude_mlp is not None:
            expected = (B, cfg.amplitude_width)
            if amplitude is None or tuple(amplitude.shape) != expected:
                got = None if amplitude is None else tuple(amplitude.shape)
                raise ValueError(f"amplitude must be {expected}, got {got}")
            label_emb = label_emb + self.amplitude_mlp(amplitude.to(label_emb.dtype))
        elif amplitude is not None:
            raise ValueError("this model takes no amplitude input")
        skip = torch.zeros_like(h)
        for block, timing_term in zip(self.blocks, block_timing, strict=True):
            h, s = block(h, step_emb, label_emb, timing_term, bins)
            skip = skip + s
        h = skip * math.sqrt(1.0 / len(self.blocks))
        h = self.out_conv(F.relu(self.final_conv(h)))  # (B, C * p, L/p)
        p = cfg.patch
        return h.view(B, C, p, L // p).permute(0, 1, 3, 2).reshape(B, C, L)

    def block_timing(self, timing: torch.Tensor) -> list[torch.Tensor]:
        """Each block's term for the beat timing (B, 2, L); reused while the same
        tensor comes back in eval mode without autograd (a sampling run)."""
        cacheable = not self.training and not torch.is_grad_enabled()
        # in-place changes of the weights (an optimiser or EMA step, loading a
        # state dict) bump their version and so miss the cache
        versions = tuple(
            p._version for block in self.blocks for p in block.timing_conv.parameters()
        )
        cached = self._timing_cache
        if cacheable and cached and cached[0] is timing and cached[1] == versions:
            return cached[2]
        features = patchify(timing_features(timing), self.cfg.patch)
        terms = [block.timing_conv(features) for block in self.blocks]
        self._timing_cache = (timing, versions, terms) if cacheable else None
        return terms


def timing_features(timing: torch.Tensor) -> torch.Tensor:
    """(B, T, L) seconds -> (B, T * K, L) Gaussian bumps at TIMING_CENTRES_S, each
    as wide as the gap to the next centre."""
    centres = torch.tensor(TIMING_CENTRES_S, dtype=timing.dtype, device=timing.device)
    widths = torch.diff(centres, append=centres[-1:] + 0.2)
    z = (timing[:, :, None, :] - centres[:, None]) / widths[:, None]  # (B, T, K, L)
    return torch.exp(-0.5 * z.square()).flatten(1, 2)


def beat_bins(timing: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, 2, L) seconds since the last R peak and until the next -> (B, L / patch,
    n_bins) one-hot: each patch's signed distance to its nearest R peak (at the
    patch's middle sample) in BEAT_POOL_BIN_S bins; a patch farther than
    BEAT_POOL_REACH_S from every R peak is in none."""
    middle = timing[:, :, patch // 2 :: patch]  # (B, 2, L / patch)
    since, until = middle[:, 0], middle[:, 1]
    offset = torch.where(since <= until, since, -until)
    reach = round(BEAT_POOL_REACH_S / BEAT_POOL_BIN_S)
    index = torch.round(offset / BEAT_POOL_BIN_S).long() + reach
    inside = (index >= 0) & (index <= 2 * reach)
    one_hot = F.one_hot(index.clamp(0, 2 * reach), 2 * reach + 1).to(timing.dtype)
    return one_hot * inside[..., None]


def beat_mean(h: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """(B, C, L) features, (B, L, n_bins) one-hot -> (B, C, L): at each position,
    the mean of the features over all positions in its bin (zero where none)."""
    sums = h @ bins  # (B, C, n_bins)
    counts = bins.sum(dim=1).clamp(min=1)  # (B, n_bins)
    return (sums / counts[:, None]) @ bins.transpose(1, 2)


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, L) -> (B, C * patch, L / patch): each run of ``patch`` samples folded
    into channels (channel c * patch + j holds sample j of the run)."""
    B, C, L = x.shape
    return (
        x.view(B, C, L // patch, patch).permute(0, 1, 3, 2).reshape(B, -1, L // patch)
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
