"""Bilinear-pooling fusion heads ("Advanced Optimal Cross-Modal Fusion Mechanism for Audio-Video Based Artificial Emotion Recognition", section 3): FBP, CBP and CBGP.

Seed 004 pools the features of two modalities A (audio) and V (video):

* FBP, factorized bilinear pooling (eq. 1): Z = Σ_{i=1}^{k} (M^T A) ∘ (N^T V), the
  low-rank factorization of the bilinear form, sum-pooled over the k factors
  (as in MFB, Yu et al. 2017, and the cited [55]).
* CBP, compact bilinear pooling (eqs. 7-10): project Z_A = P_A F_A (eq. 7), multiply by
  random sign vectors (eq. 8), scramble with random permutations/hashes h (eq. 9) —
  together a count sketch Ψ — and take the circular convolution of the two sketches,
  Z_CBP = FFT^{-1}(FFT(Z_A'') ∘ FFT(Z_V'')) (eq. 10), the Tensor Sketch of A ⊗ V.
* CBGP, compact bilinear gated pooling (eqs. 12-19, Algorithm 3): CBP whose inputs are
  gated by G' = σ(W_G(A', V') + b_G) with σ a softmax (eqs. 12/16). The paper's text
  is inconsistent about where the gate acts (eq. 17/19 gate the product, Algorithm 3
  steps 2-6 gate the projected features before the sign/permute/FFT); we follow
  Algorithm 3: every projected feature is gated before it is sketched. The softmax is
  taken over the (present) modalities, per dimension, so the gates are modality
  weights: for two modalities g_V = σ(s_V − s_A), g_A = 1 − g_V with s_m = W_m x_m + b_m,
  i.e. σ(W_G[A; V] + b_G).

Every pooled vector then gets the signed square root and L2 normalization of the
bilinear-pooling papers (Gao et al. 2016; Fukui et al. 2016), both with an eps so the
gradients stay finite at 0, and dropout.

Generalization to N modalities (documented choice)
--------------------------------------------------
Bilinear pooling is pairwise. With M ≥ 2 modalities we pool every unordered pair
(i < j) and average over the pairs whose two modalities are both present:
Z = Σ_{i<j} p_i p_j Z_ij / Σ_{i<j} p_i p_j. Absent modalities are replaced by zeros
(`torch.where`, so even NaN rows are ignored) and their pairs get weight 0, so they
contribute nothing. When fewer than two modalities are present (always, for M = 1)
there is no pair; the head then falls back to the present modality's own projection,
computed with the same parameters that feed the bilinear term (FBP: the sum-pooled
factor projection Σ_k W_m x_m; CBP/CBGP: its count sketch Ψ_m(P_m x_m)). The switch is
a `torch.where` on the number of present pairs, not Python control flow.

Export-friendly CBP (no FFT, no complex tensors)
------------------------------------------------
The count sketch (eqs. 8-9) is a fixed dense D × d matrix C with C[a, h(a)] = s(a)
(registered buffer, not trained), so Ψ(z) = z @ C. With d = D (the default) h is a
permutation and C is exactly "multiply by a sign vector, then permute" of eqs. 8-9;
with d ≠ D it is a standard count sketch (h injective when d > D).
The circular convolution (eq. 10) is computed with a real DFT written as constant
cos/sin matrices (`RealDFT`): X = x @ [cos | −sin] gives the d//2 + 1 non-redundant
frequencies, the spectra are multiplied as complex numbers held in (re, im) pairs of
real tensors, and the inverse real DFT is one more constant matmul. Because the inverse
transform is linear, the pair sum is taken in the frequency domain and inverted once.
"""
from __future__ import annotations

import math
from itertools import combinations

import torch
from torch import nn

from sdk.fusion.base import FusionHead, FusionOutput, masked_softmax, uniform_weights


def signed_sqrt(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """sign(x) (sqrt(|x| + eps) − sqrt(eps)): continuous, 0 at 0, gradient ≤ 1 / (2 sqrt(eps))."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + eps) - math.sqrt(eps))


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / sqrt(||x||² + eps) over the last dim (finite value and gradient at x = 0)."""
    return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True) + eps)


def _present_pairs(num_modalities: int) -> list[tuple[int, int]]:
    return list(combinations(range(num_modalities), 2))


def _clean(pooled: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
    """Rows of absent modalities set to exactly 0, whatever they held."""
    return torch.where(presence.unsqueeze(-1) > 0, pooled, torch.zeros_like(pooled))


class RealDFT(nn.Module):
    """Real DFT of length n as constant matmuls, and circular convolution with it.

    forward(x) -> (re, im) of the n//2 + 1 non-redundant frequencies
        re_k = Σ_t x_t cos(2πkt/n),  im_k = −Σ_t x_t sin(2πkt/n)   (= torch.fft.rfft(x))
    inverse(re, im) -> x_t = (1/n) Σ_k w_k (re_k cos(2πkt/n) − im_k sin(2πkt/n)),
        w_0 = w_{n/2} = 1, all other w_k = 2                        (= torch.fft.irfft(·, n))
    circular_convolution(a, b) = inverse(rdft(a) · rdft(b))       (= (a ⊛ b)_t = Σ_s a_s b_{(t−s) mod n})
    """

    def __init__(self, n: int):
        super().__init__()
        self.n = n
        self.freqs = n // 2 + 1
        t = torch.arange(n, dtype=torch.float64)
        k = torch.arange(self.freqs, dtype=torch.float64)
        # (k t) mod n keeps the angles small, so the float64 tables are exact to rounding.
        angle = 2 * math.pi * torch.remainder(k[:, None] * t[None, :], n) / n  # (F, n)
        cos, sin = torch.cos(angle), torch.sin(angle)
        forward = torch.cat([cos.T, -sin.T], dim=1)  # (n, 2F): x @ forward = [re | im]
        w = torch.full((self.freqs, 1), 2.0, dtype=torch.float64)
        w[0] = 1.0
        if n % 2 == 0:
            w[-1] = 1.0
        inverse = torch.cat([w * cos, -w * sin], dim=0) / n  # (2F, n): [re | im] @ inverse = x
        self.register_buffer("forward_matrix", forward.float(), persistent=False)
        self.register_buffer("inverse_matrix", inverse.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spec = torch.matmul(x, self.forward_matrix)
        return spec[..., : self.freqs], spec[..., self.freqs :]

    def inverse(self, re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.cat([re, im], dim=-1), self.inverse_matrix)

    @staticmethod
    def complex_mul(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]):
        (ar, ai), (br, bi) = a, b
        return ar * br - ai * bi, ar * bi + ai * br

    def circular_convolution(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.inverse(*self.complex_mul(self(a), self(b)))


def count_sketch_matrix(in_dim: int, out_dim: int, seed: int) -> torch.Tensor:
    """Dense (in_dim, out_dim) count-sketch matrix C[a, h(a)] = s(a), s(a) = ±1.

    h(a) = perm[a] mod out_dim for a random permutation of max(in_dim, out_dim): a
    permutation when out_dim == in_dim (eqs. 8-9: sign vector, then permutation),
    injective when out_dim > in_dim, balanced collisions when out_dim < in_dim.
    """
    gen = torch.Generator().manual_seed(seed)
    h = torch.randperm(max(in_dim, out_dim), generator=gen)[:in_dim] % out_dim
    s = torch.randint(0, 2, (in_dim,), generator=gen).float() * 2 - 1
    c = torch.zeros(in_dim, out_dim)
    c[torch.arange(in_dim), h] = s
    return c


class FactorizedBilinearPooling(FusionHead):
    """FBP ("Advanced Optimal Cross-Modal Fusion Mechanism for Audio-Video Based Artificial Emotion Recognition" eq. 1): Z_ij = Σ_k (W_i x_i + b_i) ∘ (W_j x_j + b_j), pair-averaged.

    Each modality has one factor projection W_m: D → k·D (k = ``factors``); the
    Hadamard product of two projections is sum-pooled over the k factors (eq. 1's sum),
    followed by signed sqrt and L2 normalization. out_dim = dim.
    """

    def __init__(self, num_modalities, dim, num_classes, dropout=0.0, factors: int = 4):
        super().__init__(num_modalities, dim, num_classes, dropout)
        self.factors = factors
        self.proj = nn.ModuleList(nn.Linear(dim, factors * dim) for _ in range(num_modalities))
        self.pairs = _present_pairs(num_modalities)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = dim

    def _sum_pool(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(z.shape[0], self.dim, self.factors).sum(dim=-1)

    def forward(self, pooled, sequences, presence):
        presence = presence.to(pooled.dtype)
        x = _clean(pooled, presence)
        proj = [lin(x[:, m]) for m, lin in enumerate(self.proj)]  # (B, k·D) each
        n_present = presence.sum(dim=-1, keepdim=True)
        own = sum(presence[:, m : m + 1] * self._sum_pool(proj[m]) for m in range(self.num_modalities))
        own = own / n_present.clamp_min(1.0)
        if self.pairs:
            pair_sum = torch.zeros_like(own)
            n_pairs = torch.zeros_like(n_present)
            for i, j in self.pairs:
                pij = presence[:, i : i + 1] * presence[:, j : j + 1]
                pair_sum = pair_sum + pij * self._sum_pool(proj[i] * proj[j])
                n_pairs = n_pairs + pij
            z = torch.where(n_pairs > 0, pair_sum / n_pairs.clamp_min(1.0), own)
        else:
            z = own
        z = l2_normalize(signed_sqrt(z))
        return FusionOutput(self.dropout(z), uniform_weights(presence))


class _CompactBilinear(FusionHead):
    """Shared CBP/CBGP machinery (see the module docstring)."""

    gated: bool = False

    def __init__(self, num_modalities, dim, num_classes, dropout=0.0, sketch_dim: int | None = None, seed: int = 0):
        super().__init__(num_modalities, dim, num_classes, dropout)
        d = sketch_dim or dim
        self.sketch_dim = d
        self.proj = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_modalities))  # P_m, eq. 7
        if self.gated:
            self.gate = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_modalities))  # W_G, eq. 12
        sketch = torch.stack([count_sketch_matrix(dim, d, seed * 1000 + m) for m in range(num_modalities)])
        self.register_buffer("sketch", sketch)  # (M, D, d): sign (eq. 8) + permutation/hash (eq. 9)
        self.dft = RealDFT(d)
        self.pairs = _present_pairs(num_modalities)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = d

    def forward(self, pooled, sequences, presence):
        presence = presence.to(pooled.dtype)
        x = _clean(pooled, presence)
        z = torch.stack([lin(x[:, m]) for m, lin in enumerate(self.proj)], dim=1)  # (B, M, D)
        if self.gated:
            scores = torch.stack([lin(x[:, m]) for m, lin in enumerate(self.gate)], dim=1)
            g = masked_softmax(scores.transpose(1, 2), presence.unsqueeze(1)).transpose(1, 2)  # (B, M, D)
            z = g * z
            weights = g.mean(dim=-1)
        else:
            weights = uniform_weights(presence)
        # Count sketch of every modality: (B, M, D) x (M, D, d) -> (B, M, d).
        sk = torch.einsum("bmd,mde->bme", z, self.sketch)
        n_present = presence.sum(dim=-1, keepdim=True)
        own = (presence.unsqueeze(-1) * sk).sum(dim=1) / n_present.clamp_min(1.0)
        if self.pairs:
            re, im = self.dft(sk)  # (B, M, F) each
            acc_re = torch.zeros_like(re[:, 0])
            acc_im = torch.zeros_like(im[:, 0])
            n_pairs = torch.zeros_like(n_present)
            for i, j in self.pairs:
                pij = presence[:, i : i + 1] * presence[:, j : j + 1]
                pr, pi = RealDFT.complex_mul((re[:, i], im[:, i]), (re[:, j], im[:, j]))
                acc_re = acc_re + pij * pr
                acc_im = acc_im + pij * pi
                n_pairs = n_pairs + pij
            pair = self.dft.inverse(acc_re, acc_im) / n_pairs.clamp_min(1.0)  # mean of eq. 10 over pairs
            y = torch.where(n_pairs > 0, pair, own)
        else:
            y = own
        y = l2_normalize(signed_sqrt(y))
        return FusionOutput(self.dropout(y), weights)


class CompactBilinearPooling(_CompactBilinear):
    """CBP ("Advanced Optimal Cross-Modal Fusion Mechanism for Audio-Video Based Artificial Emotion Recognition" eqs. 7-10): P_m projections, fixed count sketches, circular convolution."""

    gated = False


class CompactGatedBilinearPooling(_CompactBilinear):
    """CBGP ("Advanced Optimal Cross-Modal Fusion Mechanism for Audio-Video Based Artificial Emotion Recognition" eqs. 12-19, Algorithm 3): CBP with presence-softmax gates on the projections."""

    gated = True
