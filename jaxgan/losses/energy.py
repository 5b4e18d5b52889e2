"""Energy-based losses with an autoencoder discriminator: EBGAN and BEGAN.

Sign convention (opposite to the critic scores of the other loss modules): the
inputs here are *energies*, an autoencoder's reconstruction errors, where
LOWER = more real. An energy of shape ``[B, ...]`` (e.g. a per-pixel error map)
is first reduced to one energy per example by its mean over the non-batch
dimensions; the margin and the equilibrium terms act on that per-example energy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgan.losses._common import as_float, check_same_batch, is_concrete_number, per_example_mean


def _energy(e, name):
    return per_example_mean(as_float(e, name))


def reconstruction_energy(x, reconstruction, *, power):
    r"""Per-example autoencoder energy ``mean |x - Dec(Enc(x))|^power``.

    .. math::
        E(x) = \frac{1}{d} \sum_{i=1}^{d} |x_i - \mathrm{Dec}(\mathrm{Enc}(x))_i|^{p}

    EBGAN uses the mean squared error (``power=2``); BEGAN uses ``power=1``
    (its ``eta``). Lower = more real.

    Args:
      x: inputs of the autoencoder discriminator, ``[B, ...]``.
      reconstruction: its output, the shape of ``x``.
      power: the exponent ``p > 0``.

    Returns:
      ``[B]`` per-example energies.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> x = jnp.array([[1.0, 2.0], [0.0, 0.0]])
      >>> print(losses.reconstruction_energy(x, jnp.zeros_like(x), power=2))
      [2.5 0. ]

    References:
      Zhao et al., "Energy-based Generative Adversarial Network", ICLR 2017.
      Berthelot et al., "BEGAN: Boundary Equilibrium Generative Adversarial Networks",
      arXiv:1703.10717, 2017.
    """
    if is_concrete_number(power) and not float(power) > 0:
        raise ValueError(f"power={power} must be positive (2 for EBGAN's MSE, 1 for BEGAN's L1).")
    x = as_float(x, "x")
    reconstruction = as_float(reconstruction, "reconstruction")
    if x.shape != reconstruction.shape:
        raise ValueError(
            f"x has shape {x.shape} but reconstruction has {reconstruction.shape}; the "
            f"autoencoder must reconstruct its input at the same shape.")
    return per_example_mean(jnp.abs(x - reconstruction) ** power)


def ebgan_d(real_energy, fake_energy, *, margin):
    r"""EBGAN discriminator loss: low energy on data, at least ``margin`` on samples.

    .. math::
        \ell_D = E(x) + \max(0, m - E(G(z)))

    Sign convention: energies, lower = more real; minimized by the discriminator.

    Args:
      real_energy: energies of real data, ``[B]`` or ``[B, ...]`` (mean-reduced
        per example first).
      fake_energy: energies of generated data, same batch size.
      margin: the margin ``m > 0``.

    Returns:
      ``[B]`` per-example losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.ebgan_d(jnp.array([0.5, 0.1]), jnp.array([2.0, 0.25]), margin=1.0))
      [0.5  0.85]

    References:
      Zhao et al., "Energy-based Generative Adversarial Network", ICLR 2017.
    """
    if is_concrete_number(margin) and not float(margin) > 0:
        raise ValueError(f"margin={margin} must be positive (the EBGAN paper uses 1 to 80).")
    real = _energy(real_energy, "real_energy")
    fake = _energy(fake_energy, "fake_energy")
    check_same_batch(real, fake, "real_energy", "fake_energy")
    return real + jax.nn.relu(margin - fake)


def ebgan_g(fake_energy):
    r"""EBGAN generator loss: the energy of the generated samples.

    .. math::
        \ell_G = E(G(z))

    Sign convention: energies, lower = more real; minimized by the generator.
    Add ``lambda * pullaway_term(...)`` for the paper's EBGAN-PT.

    Args:
      fake_energy: energies of generated data, ``[B]`` or ``[B, ...]``.

    Returns:
      ``[B]`` per-example losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.ebgan_g(jnp.array([[1.0, 3.0], [0.5, 0.5]])))
      [2.  0.5]

    References:
      Zhao et al., "Energy-based Generative Adversarial Network", ICLR 2017.
    """
    return _energy(fake_energy, "fake_energy")


def pullaway_term(embeddings):
    r"""EBGAN's repelling regularizer: mean squared cosine similarity between distinct samples.

    .. math::
        f_{PT}(S) = \frac{1}{N(N-1)} \sum_{i} \sum_{j \ne i}
                    \left(\frac{S_i^\top S_j}{\|S_i\| \|S_j\|}\right)^2

    ``S`` are the encoder's embeddings of a generated batch; the generator adds
    ``lambda * f_PT`` (the paper uses 0.1) to discourage mode collapse. An
    all-zero embedding has no direction and counts as orthogonal to every other.

    Args:
      embeddings: ``[N, ...]`` with ``N >= 2``; flattened to ``[N, d]``.

    Returns:
      A scalar in ``[0, 1]``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> s = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
      >>> print(losses.pullaway_term(s))  # squared cosines 0, 1/2, 1/2: (2 * 1) / (3 * 2)
      0.33333334

    References:
      Zhao et al., "Energy-based Generative Adversarial Network", ICLR 2017.
    """
    s = as_float(embeddings, "embeddings")
    n = s.shape[0]
    if n < 2:
        raise ValueError(f"pullaway_term needs at least 2 embeddings to compare; got {n}.")
    s = s.reshape(n, -1)
    sq = jnp.sum(s * s, axis=1, keepdims=True)
    # The double-where keeps the gradient finite at an all-zero embedding.
    safe = jnp.where(sq > 0, sq, 1.0)
    unit = jnp.where(sq > 0, s / jnp.sqrt(safe), 0.0)
    cos2 = jnp.square(unit @ unit.T)
    off_diagonal = jnp.sum(cos2) - jnp.sum(jnp.diagonal(cos2))
    return off_diagonal / (n * (n - 1))


def began_d(real_recon, fake_recon, *, k):
    r"""BEGAN discriminator loss: reconstruct data well and samples badly, weighted by ``k``.

    .. math::
        \ell_D = \mathcal L(x) - k_t \, \mathcal L(G(z))

    Sign convention: reconstruction losses, lower = more real; minimized by the
    discriminator. ``k`` is a controller state (see :func:`began_update_k`),
    treated as a constant (no gradient flows into it).

    Args:
      real_recon: reconstruction losses of real data, ``[B]`` or ``[B, ...]``.
      fake_recon: reconstruction losses of generated data, same batch size.
      k: the equilibrium weight ``k_t`` in ``[0, 1]``, a scalar.

    Returns:
      ``[B]`` per-example losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.began_d(jnp.array([1.0, 0.5]), jnp.array([2.0, 4.0]), k=0.25))
      [ 0.5 -0.5]

    References:
      Berthelot et al., "BEGAN: Boundary Equilibrium Generative Adversarial Networks",
      arXiv:1703.10717, 2017.
    """
    real = _energy(real_recon, "real_recon")
    fake = _energy(fake_recon, "fake_recon")
    check_same_batch(real, fake, "real_recon", "fake_recon")
    return real - jax.lax.stop_gradient(jnp.asarray(k, real.dtype)) * fake


def began_g(fake_recon):
    r"""BEGAN generator loss: the reconstruction loss of the generated samples.

    .. math::
        \ell_G = \mathcal L(G(z))

    Sign convention: reconstruction losses, lower = more real; minimized by the generator.

    Args:
      fake_recon: reconstruction losses of generated data, ``[B]`` or ``[B, ...]``.

    Returns:
      ``[B]`` per-example losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.began_g(jnp.array([2.0, 4.0])))
      [2. 4.]

    References:
      Berthelot et al., "BEGAN: Boundary Equilibrium Generative Adversarial Networks",
      arXiv:1703.10717, 2017.
    """
    return _energy(fake_recon, "fake_recon")


def _batch_means(real_recon, fake_recon):
    real = jax.lax.stop_gradient(_energy(real_recon, "real_recon"))
    fake = jax.lax.stop_gradient(_energy(fake_recon, "fake_recon"))
    return jnp.mean(real), jnp.mean(fake)


def began_update_k(k, real_recon, fake_recon, *, gamma, lambda_k, clip=True):
    r"""One step of BEGAN's proportional controller for ``k``, clipped to ``[0, 1]``.

    .. math::
        k_{t+1} = \operatorname{clip}\big(k_t + \lambda_k (\gamma \mathcal L(x) - \mathcal L(G(z))),
                  0, 1\big)

    with the losses averaged over the batch. It drives the losses towards the
    equilibrium ``E[L(G(z))] = gamma * E[L(x)]``. No gradient flows through it.
    ``clip=False`` leaves out the clip, as Lucic et al.'s code does: there ``k``
    can turn negative, and the critic then lowers the energy of generated data too.

    Args:
      k: the current ``k_t``, a scalar (the paper starts at 0).
      real_recon: reconstruction losses of real data, ``[B]`` or ``[B, ...]``.
      fake_recon: reconstruction losses of generated data, ``[B]`` or ``[B, ...]``.
      gamma: the diversity ratio ``gamma`` in ``(0, 1]`` (the paper uses 0.3 to 0.7).
      lambda_k: the controller gain (the paper uses 0.001).
      clip: clip to ``[0, 1]`` (the paper) or not.

    Returns:
      ``k_{t+1}``, a scalar (in ``[0, 1]`` when clipped).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> k = losses.began_update_k(0.5, jnp.array([1.0, 3.0]), jnp.array([0.5, 0.5]),
      ...                           gamma=0.5, lambda_k=0.1)
      >>> print(k)  # 0.5 + 0.1 * (0.5 * 2 - 0.5)
      0.55

    References:
      Berthelot et al., "BEGAN: Boundary Equilibrium Generative Adversarial Networks",
      arXiv:1703.10717, 2017.
    """
    if is_concrete_number(gamma) and not 0.0 < float(gamma) <= 1.0:
        raise ValueError(f"gamma={gamma} must lie in (0, 1] (the BEGAN paper uses 0.3 to 0.7).")
    if is_concrete_number(lambda_k) and not float(lambda_k) >= 0.0:
        raise ValueError(f"lambda_k={lambda_k} must be non-negative (the BEGAN paper uses 0.001).")
    real, fake = _batch_means(real_recon, fake_recon)
    k = jax.lax.stop_gradient(jnp.asarray(k, real.dtype))
    k = k + lambda_k * (gamma * real - fake)
    return jnp.clip(k, 0.0, 1.0) if clip else k


def began_convergence(real_recon, fake_recon, *, gamma):
    r"""BEGAN's global convergence measure ``M_global`` (lower = closer to equilibrium and better).

    .. math::
        \mathcal M_{global} = \mathcal L(x) + |\gamma \mathcal L(x) - \mathcal L(G(z))|

    with the losses averaged over the batch.

    Args:
      real_recon: reconstruction losses of real data, ``[B]`` or ``[B, ...]``.
      fake_recon: reconstruction losses of generated data, ``[B]`` or ``[B, ...]``.
      gamma: the diversity ratio used in training.

    Returns:
      A scalar.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.began_convergence(jnp.array([1.0, 3.0]), jnp.array([2.0, 2.0]), gamma=0.5))
      3.0

    References:
      Berthelot et al., "BEGAN: Boundary Equilibrium Generative Adversarial Networks",
      arXiv:1703.10717, 2017.
    """
    real, fake = _batch_means(real_recon, fake_recon)
    return real + jnp.abs(gamma * real - fake)
