"""S4D: a diagonal structured state-space layer with an FFT long convolution."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class S4DKernel(nn.Module):
    """Convolution kernels of a diagonal SSM, one per channel (Gu et al. 2022, S4D-Lin).

    x'(t) = A x(t) + B u(t), y(t) = C x(t), A diagonal complex, discretised by
    zero-order hold with a learned step dt: K[l] = 2 Re(sum_n C_n (e^{dt A_n} - 1) / A_n
    e^{l dt A_n}), B folded into C. The kernel depends on neither the input nor the
    diffusion step.
    """

    def __init__(
        self,
        channels: int,
        state_size: int = 64,
        n_kernels: int = 1,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
    ):
        super().__init__()
        if state_size % 2:
            raise ValueError(
                f"state_size must be even (conjugate pairs), got {state_size}"
            )
        half = state_size // 2
        log_dt = torch.rand(channels) * (math.log(dt_max) - math.log(dt_min))
        self.log_dt = nn.Parameter(log_dt + math.log(dt_min))  # (H,)
        c = torch.randn(n_kernels, channels, half, dtype=torch.cfloat) * 0.5**0.5
        self.C = nn.Parameter(torch.view_as_real(c))  # (K, H, N/2, 2)
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(channels, half)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(half).repeat(channels, 1))

    def forward(self, length: int) -> torch.Tensor:
        """Return the kernels, (n_kernels, channels, length) float32."""
        dt = torch.exp(self.log_dt)  # (H,)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag  # (H, N/2)
        dtA = A * dt[:, None]  # (H, N/2)
        C = torch.view_as_complex(self.C) * (torch.exp(dtA) - 1.0) / A  # (K, H, N/2)
        return 2 * vandermonde_product(C, dtA, length).real


def vandermonde_product(
    C: torch.Tensor, dtA: torch.Tensor, length: int
) -> torch.Tensor:
    """sum_n C[k, h, n] exp(dtA[h, n] l) for l = 0..L-1, as (K, H, L) complex.

    With l = a * block + b, exp(dtA l) = exp(dtA a block) exp(dtA b), so the sum is
    a batched matrix product of two (N/2, sqrt L) factors: about 2 sqrt(L)
    exponentials per state instead of L, and no (H, N/2, L) tensor in memory (the
    full Vandermonde matrix of the paper's model would hold gigabytes for autograd).
    """
    block = max(1, math.isqrt(length))
    n_blocks = -(-length // block)
    arange = torch.arange(max(block, n_blocks), device=dtA.device)
    inner = torch.exp(dtA[..., None] * arange[:block])  # (H, N/2, block)
    outer = torch.exp(dtA[..., None] * (block * arange[:n_blocks]))  # (H, N/2, A)
    weighted = C[..., None] * outer  # (K, H, N/2, A)
    k = torch.einsum("khna,hnb->khab", weighted, inner)  # (K, H, A, block)
    return k.flatten(-2)[..., :length]  # (K, H, L)


class S4D(nn.Module):
    """S4D layer: (B, H, L) -> (B, H, L); causal, or bidirectional with two kernels.

    In eval mode without autograd the kernel's FFT is cached per length, so a
    sampling run computes it once rather than once per denoising step. The cache
    is dropped by ``train()``/``eval()``, ``load_state_dict`` and ``.to()``; after
    changing weights in place some other way, call ``eval()`` again.
    """

    def __init__(
        self,
        channels: int,
        state_size: int = 64,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.channels = channels
        self.bidirectional = bidirectional
        self.kernel = S4DKernel(
            channels, state_size, n_kernels=2 if bidirectional else 1
        )
        self.D = nn.Parameter(torch.randn(channels))  # skip term y += D u
        self.dropout = nn.Dropout(dropout)
        self.output_linear = nn.Conv1d(channels, channels, kernel_size=1)
        self.use_kernel_cache = True
        self._kernel_cache: dict[tuple, torch.Tensor] = {}

    def train(self, mode: bool = True) -> S4D:
        self._kernel_cache.clear()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self._kernel_cache.clear()
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, *args, **kwargs):
        self._kernel_cache.clear()  # .to(device) or .half() invalidate cached kernels
        return super()._apply(fn, *args, **kwargs)

    def kernel_fft(self, length: int) -> torch.Tensor:
        """rFFT of the (two-sided if bidirectional) kernel at size 2L, (H, L + 1)."""
        cacheable = self.use_kernel_cache and not self.training
        cacheable = cacheable and not torch.is_grad_enabled()
        key = (length, self.D.device, self.D.dtype)
        if cacheable and key in self._kernel_cache:
            return self._kernel_cache[key]
        k = self.kernel(length)  # (K, H, L)
        if self.bidirectional:
            # forward kernel on the causal half, flipped backward kernel on the other
            k = F.pad(k[0], (0, length)) + F.pad(k[1].flip(-1), (length, 0))  # (H, 2L)
        else:
            k = k[0]  # (H, L)
        k_f = torch.fft.rfft(k, n=2 * length)  # (H, L + 1)
        if cacheable:
            self._kernel_cache[key] = k_f
        return k_f

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if u.ndim != 3 or u.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, L), got {tuple(u.shape)}")
        length = u.shape[-1]
        k_f = self.kernel_fft(length)
        u_f = torch.fft.rfft(u, n=2 * length)  # (B, H, L + 1)
        y = torch.fft.irfft(u_f * k_f, n=2 * length)[..., :length]  # (B, H, L)
        y = y + u * self.D[:, None]
        y = self.dropout(F.gelu(y))
        return self.output_linear(y)


class S4Layer(nn.Module):
    """SSSD's S4 wrapper: S4D, dropout, residual, then LayerNorm over channels."""

    def __init__(
        self,
        channels: int,
        state_size: int = 64,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.s4 = S4D(channels, state_size, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(self.s4(x)) + x  # (B, H, L)
        return self.norm(y.transpose(1, 2)).transpose(1, 2)  # LayerNorm over H
