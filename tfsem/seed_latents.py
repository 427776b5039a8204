"""tfsem's latent of a seed without TensorFlow (numpy only), for runtimes such
as LiteRT on a phone: ``latent_for_seeds`` (``tfsem.models.base``) draws each
seed's z with ``tf.random.stateless_normal(seed=[seed, stream])``, and this
module draws the same numbers the way TensorFlow's CPU kernel does: its seed
scrambling, the Philox4x32-10 counter generator and the Box-Muller transform
of ``tensorflow/core/lib/random``.

The Philox words are exact. Box-Muller's ``log``, ``sin`` and ``cos`` are
taken here in float64 and rounded to float32; TensorFlow takes them from the
platform's float32 maths library (glibc's ``logf``/``sincosf`` on Linux,
Eigen's on other systems), which is not always correctly rounded. So about 1 value
in 70 differs from TensorFlow's in its last bits (on Linux x86-64: by at most
2.4e-7, 1-3 float32 units in the last place), too little for a generator's
argmax to see in practice (``tests/test_seed_latents.py`` checks the values,
and the demo's maps against Python's).
"""

from __future__ import annotations

import numpy as np

__all__ = ["latent_for_seeds_numpy"]

_MASK32 = (1 << 32) - 1
_MUL = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_WEYL = (0x9E3779B9, 0xBB67AE85)
_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)  # TensorFlow's GenerateKey


def _philox(counters: np.ndarray, key) -> np.ndarray:
    """Philox4x32-10 of ``counters`` [N, 4] uint32 under one ``key`` (2 uint32)."""
    c0, c1, c2, c3 = (counters[:, i].astype(np.uint64) for i in range(4))
    k0, k1 = int(key[0]), int(key[1])
    shift, mask = np.uint64(32), np.uint64(_MASK32)
    for round_ in range(10):
        p0, p1 = _MUL[0] * c0, _MUL[1] * c2
        c0, c1, c2, c3 = ((p1 >> shift) ^ c1 ^ np.uint64(k0), p1 & mask,
                          (p0 >> shift) ^ c3 ^ np.uint64(k1), p0 & mask)
        if round_ < 9:
            k0, k1 = (k0 + _WEYL[0]) & _MASK32, (k1 + _WEYL[1]) & _MASK32
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def _words(value: int):
    """A 64-bit seed as two 32-bit words, low first (int64 seeds wrap as in TF)."""
    value %= 1 << 64
    return value & _MASK32, value >> 32


def _unit_float(words: np.ndarray) -> np.ndarray:
    """uint32 -> float32 in [0, 1) from the low 23 bits (TF's Uint32ToFloat)."""
    bits = (words & np.uint32(0x7FFFFF)) | np.uint32(127 << 23)
    return bits.view(np.float32) - np.float32(1.0)


def _stateless_normal(count: int, seed: int, stream: int) -> np.ndarray:
    """``tf.random.stateless_normal([count], seed=[seed, stream])`` (float32)."""
    counter = np.array([[*_words(seed), *_words(stream)]], np.uint32)
    mixed = _philox(counter, _SCRAMBLE_KEY)[0]
    groups = (count + 3) // 4  # one Philox call gives 4 values
    start = int(mixed[2]) << 64 | int(mixed[3]) << 96  # the 128-bit counter (0, 0, m2, m3)
    counters = np.array([[(start + i) >> (32 * j) & _MASK32 for j in range(4)]
                         for i in range(groups)], np.uint64).astype(np.uint32)
    words = _philox(counters, (mixed[0], mixed[1])).reshape(-1)
    u1 = np.maximum(_unit_float(words[0::2]), np.float32(1e-7))
    # 2.0f * M_PI * u is a double product in C++, stored as float
    v1 = (2.0 * np.pi * _unit_float(words[1::2]).astype(np.float64)).astype(np.float32)
    radius = np.sqrt(np.float32(-2.0) * np.log(u1.astype(np.float64)).astype(np.float32))
    sin = np.sin(v1.astype(np.float64)).astype(np.float32)
    cos = np.cos(v1.astype(np.float64)).astype(np.float32)
    return np.stack([sin * radius, cos * radius], axis=1).reshape(-1)[:count]


def latent_for_seeds_numpy(seeds, z_dim: int, stream: int = 0) -> np.ndarray:
    """z float32 [B, z_dim] for int ``seeds`` [B]: ``latent_for_seeds(seeds,
    z_dim, stream)`` without TensorFlow (stream 0: SemGAN's latent and a VAE
    renderer's style; 1: a VAE renderer's style in ``tfsem.dream``)."""
    seeds, z_dim = [int(s) for s in np.asarray(seeds).reshape(-1)], int(z_dim)
    if z_dim < 1:
        raise ValueError(f"z_dim must be >= 1, got {z_dim}")
    return np.stack([_stateless_normal(z_dim, s, int(stream)) for s in seeds])
