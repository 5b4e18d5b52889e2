"""Generator and critic architectures: the ``ARCHS`` registry and :func:`build_models`.

Every arch module exports ``Generator``, ``Critic``, ``TINY`` (small
constructor kwargs for tests: ``TINY['generator']``, ``TINY['critic']``),
``SUPPORTED_IMAGE_SIZES`` and ``SUPPORTED_CRITIC_MAPS`` (image size -> the
critic map sizes n it can make). Generators map ``(z [B, z_dim], labels, *,
train)`` to images ``[B, H, W, C]`` in [-1, 1]; critics map ``(x, labels, *,
train, return_features=False)`` to scores ``[B, n, n]`` (higher = more real).
"""

from __future__ import annotations

import jax

from jaxgan.models import dcgan, infogan_arch, resnet
from jaxgan.models.errors import ModelConfigError

ARCHS = {"dcgan": dcgan, "infogan": infogan_arch, "resnet": resnet}
# Optional per-arch choices: an arch module that declares none takes only the default.
_CHOICES = {"conditioning": "CONDITIONINGS", "d_norm": "CRITIC_NORMS",
            "g_activation": "GENERATOR_ACTIVATIONS", "g_norm": "GENERATOR_NORMS"}
GENERATOR_OUTPUTS = ("tanh", "linear")  # The generator's last activation (config.model.g_output).

__all__ = ["ARCHS", "ModelConfigError", "UnknownArchError", "build_models", "check_config", "get_arch"]


class UnknownArchError(ModelConfigError):
    """``model.arch`` names no architecture in :data:`ARCHS`."""


def get_arch(name: str):
    """The arch module registered as ``name``.

    Raises:
      UnknownArchError: naming the valid choices.

    Example:
      >>> get_arch("dcgan").SUPPORTED_IMAGE_SIZES
      (32, 64)
    """
    try:
        return ARCHS[name]
    except (KeyError, TypeError):
        raise UnknownArchError(
            f"unknown model.arch {name!r}; valid choices: {', '.join(sorted(ARCHS))}") from None


def arch_conditionings(arch) -> tuple[str, ...]:
    """How an arch module's models take labels (``model.conditioning``)."""
    return getattr(arch, "CONDITIONINGS", ("projection",))


def arch_critic_norms(arch) -> tuple[str, ...]:
    """The normalizations an arch module's critic takes after its hidden layers (``model.d_norm``)."""
    return getattr(arch, "CRITIC_NORMS", ("none",))


def arch_generator_activations(arch) -> tuple[str, ...]:
    """The hidden activations an arch module's generator takes (``model.g_activation``)."""
    return getattr(arch, "GENERATOR_ACTIVATIONS", ("relu",))


def _check_minibatch(arch, model_cfg) -> None:
    kernels = model_cfg.get("minibatch_kernels", 0)
    group = model_cfg.get("minibatch_std", 0)
    _positive_int(kernels, "model.minibatch_kernels", minimum=0)
    _positive_int(model_cfg.get("minibatch_kernel_dim", 5), "model.minibatch_kernel_dim")
    _positive_int(group, "model.minibatch_std", minimum=0)
    if not (kernels or group):
        return
    if not getattr(arch, "MINIBATCH_LAYERS", False):
        takes = sorted(a for a, m in ARCHS.items() if getattr(m, "MINIBATCH_LAYERS", False))
        raise ModelConfigError(f"model.minibatch_kernels / minibatch_std: arch {model_cfg.arch!r} "
                               f"has no minibatch layers (archs {takes} do): set both to 0.")
    if model_cfg.critic_map != 1:
        raise ModelConfigError(f"the minibatch layers feed a critic's one score, and "
                               f"model.critic_map={model_cfg.critic_map} asks for a map: set "
                               "--config.model.critic_map=1 or the minibatch fields to 0.")


def _positive_int(value, field: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelConfigError(f"{field} must be an integer >= {minimum}, got {value!r}")


def check_config(model_cfg, data_cfg) -> None:
    """Raise :class:`ModelConfigError` (cause and fix) unless the models can be built; no compute.

    Args:
      model_cfg: ``config.model`` (``arch, z_dim, g_width, d_width, critic_map,
        spectral_norm, fast_cpu_layers``).
      data_cfg: ``config.data`` (``image_size, channels, num_classes``).

    Example:
      >>> import ml_collections
      >>> m = ml_collections.ConfigDict(dict(arch="dcgan", z_dim=8, g_width=4, d_width=4,
      ...                                    critic_map=2, spectral_norm=False, fast_cpu_layers=True))
      >>> d = ml_collections.ConfigDict(dict(image_size=32, channels=1, num_classes=0))
      >>> check_config(m, d)
      Traceback (most recent call last):
      ...
      jaxgan.models.errors.ModelConfigError: dcgan at image size 32 makes critic maps (1, 4, 8), not 2: ...
    """
    arch = get_arch(model_cfg.arch)
    _positive_int(model_cfg.z_dim, "model.z_dim")
    if model_cfg.get("g_output", "tanh") not in GENERATOR_OUTPUTS:
        raise ModelConfigError(f"model.g_output={model_cfg.g_output!r} is not one of "
                               f"{GENERATOR_OUTPUTS}; set --config.model.g_output=tanh or linear")
    _positive_int(model_cfg.g_width, "model.g_width")
    _positive_int(model_cfg.d_width, "model.d_width")
    _positive_int(model_cfg.critic_map, "model.critic_map")
    _positive_int(data_cfg.image_size, "data.image_size")
    _positive_int(data_cfg.channels, "data.channels")
    _positive_int(data_cfg.num_classes, "data.num_classes", minimum=0)
    arch.check(data_cfg.image_size, model_cfg.critic_map)
    for field, allowed, default in (("conditioning", arch_conditionings(arch), "projection"),
                                    ("d_norm", arch_critic_norms(arch), "none"),
                                    ("g_activation", arch_generator_activations(arch), "relu"),
                                    ("g_norm", getattr(arch, "GENERATOR_NORMS", ("batch",)),
                                     "batch")):
        value = model_cfg.get(field, default)
        if value not in allowed:
            others = sorted(a for a, m in ARCHS.items() if value in getattr(m, _CHOICES[field], ()))
            where = (f"archs {others} take {value!r}" if others else
                     f"no arch takes {value!r}")
            raise ModelConfigError(
                f"model.{field}={value!r} is not one of {allowed}, the choices of arch "
                f"{model_cfg.arch!r} ({where}): set --config.model.{field}={default}.")
    _check_minibatch(arch, model_cfg)
    if model_cfg.get("g_norm", "batch") == "virtual":
        _positive_int(model_cfg.get("vbn_reference", 64), "model.vbn_reference")
        if data_cfg.num_classes:
            raise ModelConfigError("model.g_norm='virtual' keeps a reference batch of latents "
                                   "without labels; a conditional generator "
                                   f"(data.num_classes={data_cfg.num_classes}) would need reference "
                                   "labels too: set --config.model.g_norm=batch.")
    if model_cfg.get("critic_global", False):
        if arch is not dcgan:
            raise ModelConfigError(f"model.critic_global is built for arch 'dcgan' only, not "
                                   f"{model_cfg.arch!r}: set --config.model.critic_global=False")
        if model_cfg.critic_map == 1:
            raise ModelConfigError("model.critic_global adds a whole-image score to each cell of a "
                                   "map, and model.critic_map=1 is one score already: set "
                                   "--config.model.critic_map=4 or 8, or critic_global=False")


def build_models(model_cfg, data_cfg, *, generator_classes: int | None = None,
                 critic_classes: int | None = None, critic_channels: int | None = None):
    """The ``(generator, critic)`` Flax modules a config asks for, after :func:`check_config`.

    Both are conditional on ``data.num_classes`` labels unless ``generator_classes``
    / ``critic_classes`` say otherwise (AC-GAN: a conditional generator, a critic
    that is told no label and predicts it). ``critic_channels`` (default
    ``data.channels``) is what the critic reads per pixel: more when it judges
    packed examples (``model.pack``).

    Example:
      >>> import ml_collections
      >>> m = ml_collections.ConfigDict(dict(arch="resnet", z_dim=8, g_width=2, d_width=2,
      ...                                    critic_map=4, spectral_norm=True, fast_cpu_layers=True))
      >>> d = ml_collections.ConfigDict(dict(image_size=32, channels=3, num_classes=10))
      >>> g, c = build_models(m, d)
      >>> type(g).__module__, c.critic_map, c.num_classes
      ('jaxgan.models.resnet', 4, 10)
    """
    check_config(model_cfg, data_cfg)
    arch = ARCHS[model_cfg.arch]
    # The rewrites pay off on XLA:CPU only and are unmeasured elsewhere; both forms are
    # exact and share one parameter tree, so a checkpoint moves freely between them.
    fast = bool(model_cfg.fast_cpu_layers) and jax.default_backend() == "cpu"
    conditioning = model_cfg.get("conditioning", "projection")
    extra = {"conditioning": conditioning} if hasattr(arch, "CONDITIONINGS") else {}
    if hasattr(arch, "GENERATOR_ACTIVATIONS"):
        extra_g = {"activation": model_cfg.get("g_activation", "relu")}
    else:
        extra_g = {}
    if hasattr(arch, "GENERATOR_NORMS"):
        extra_g.update(norm=model_cfg.get("g_norm", "batch"),
                       vbn_reference=model_cfg.get("vbn_reference", 64),
                       z_prior=model_cfg.get("z_prior", "normal"))
    critic_extra = {"norm": model_cfg.get("d_norm", "none")} if hasattr(arch, "CRITIC_NORMS") else {}
    if getattr(arch, "MINIBATCH_LAYERS", False):
        critic_extra.update(minibatch_kernels=model_cfg.get("minibatch_kernels", 0),
                            minibatch_kernel_dim=model_cfg.get("minibatch_kernel_dim", 5),
                            minibatch_std=model_cfg.get("minibatch_std", 0))
    generator = arch.Generator(image_size=data_cfg.image_size, channels=data_cfg.channels,
                               width=model_cfg.g_width, z_dim=model_cfg.z_dim,
                               num_classes=(data_cfg.num_classes if generator_classes is None
                                            else generator_classes),
                               output=model_cfg.get("g_output", "tanh"), fast_cpu_layers=fast,
                               **extra, **extra_g)
    critic = arch.Critic(image_size=data_cfg.image_size,
                         channels=critic_channels or data_cfg.channels,
                         width=model_cfg.d_width, critic_map=model_cfg.critic_map,
                         num_classes=(data_cfg.num_classes if critic_classes is None
                                      else critic_classes),
                         **extra, **critic_extra,
                         # The SNGAN discriminator is always spectrally normalized.
                         spectral_norm=True if arch is resnet else bool(model_cfg.spectral_norm),
                         fast_cpu_layers=fast,
                         **({"global_score": True} if model_cfg.get("critic_global", False) else {}))
    return generator, critic
