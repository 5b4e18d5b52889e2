"""What a GAN system declares to the engine: networks, groups, phases, state, sampling.

A system (``jaxgan/systems/<name>.py``) is a subclass of :class:`System` built
from a config. It says *what* is trained; the engine (:mod:`jaxgan.engine`)
says *how*, once for every system: the jitted, ``shard_map``-ped, donated
step, the train state, the loop, checkpoints and sampling.

* **networks**: named Flax modules, e.g. ``{"g": ..., "d": ...}``. A module
  with a ``bn_axis_name`` attribute gets the data axis inside the step, so its
  batch statistics are those of the global batch.
* **groups**: one optimizer update each. A group names the networks whose
  parameters it updates, their optimizer, how many times it runs per step
  (``repeats``, e.g. ``n_critic``), whether each repeat consumes a real batch
  (``data``), its cadence (``every``: lazy regularization) and its loss, a pure
  function ``loss(ctx, batch) -> (scalar, metrics)``: the per-replica mean
  loss, which the engine ``pmean``-s before differentiating, and named
  per-replica scalars for the log. The loss reaches every network through
  ``ctx`` (:class:`jaxgan.engine.context.Context`), which threads the mutable
  collections and draws randomness for the global batch.
* **phases**: named spans of steps, each with the groups it runs in order
  (Stacked GAN: encoder, independent, joint). The engine compiles one step
  per phase.
* **extra state**: anything neither a parameter nor an optimizer state
  (BEGAN's k, a fade-in alpha, an image pool), from :meth:`System.init_extra`,
  updated once per step by :meth:`System.update_extra`, or by a group's loss
  with ``ctx.set_extra`` (an image pool queried with that update's fakes).
* **sampling**: :meth:`System.latents` draws what :meth:`System.render` turns
  into images; ``ema`` names the networks that keep an exponential moving
  average, which sampling uses. A system whose latents carry named factors
  (InfoGAN's codes) lists them in ``sample_options`` (each can be fixed, as
  ``jaxgan.sample --code K``) and reports each sample's values with
  :meth:`System.sample_record`.
* **structural fields**: config fields a resumed run must not change.

docs/systems.md walks through a complete small system.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

PyTree = Any
GRID_SALT = 0x5A3  # Folded into key(seed) for the fixed latents of every sample grid.
Metrics = dict[str, jax.Array]
LossFn = Callable[[Any, Any], tuple[jax.Array, Metrics]]


def tile_rows(latents: PyTree, rows: int) -> PyTree:
    """``latents`` of ``n`` samples repeated ``rows`` times (``rows * n`` samples): the same
    columns in every row of a grid."""
    return jax.tree.map(lambda z: jnp.tile(z, (rows,) + (1,) * (z.ndim - 1)), latents)


@dataclasses.dataclass(frozen=True)
class Group:
    """One optimizer update: the networks it trains, how often, and the loss it minimises.

    Attributes:
      name: the group's name; its loss is logged as ``<name>_loss`` and its
        gradient norm as ``<name>_grad_norm``. Groups of one name (e.g. a phase's
        variant of a loss) share one optimizer state: declare them over the same networks.
      networks: the networks whose parameters this update changes.
      loss: ``loss(ctx, batch) -> (loss, metrics)``; ``batch`` is this repeat's
        real batch (``None`` for a group with ``data=False``). ``loss`` is the
        per-replica mean; metrics are per-replica scalars.
      optimizer: the optax transformation over ``{network: params}``.
      repeats: updates per step (each with its own key; ``n_critic``).
      data: whether repeat ``r`` consumes real batch ``r`` of the step.
      every: run only on steps whose number (counted from 0) is a multiple of
        ``every`` (lazy regularization); 1 runs every step.
      constrain: applied to the updated parameters (e.g. WGAN's weight clipping).
    """

    name: str
    networks: tuple[str, ...]
    loss: LossFn
    optimizer: optax.GradientTransformation
    repeats: int = 1
    data: bool = False
    every: int = 1
    constrain: Callable[[PyTree], PyTree] | None = None


@dataclasses.dataclass(frozen=True)
class Phase:
    """A named span of ``steps`` steps that runs ``groups`` (names) in order, each step."""

    name: str
    steps: int
    groups: tuple[str, ...]


class System:
    """The base of every system: subclasses set the attributes and override the hooks.

    Attributes a subclass sets in ``__init__(config)``:
      config: the run's config.
      networks: ``{name: flax module}``, in a fixed order (it orders the init keys).
      groups: ``{name: Group}``.
      phases: a tuple of :class:`Phase`; the run's length is the sum of their steps.
      ema: the networks that keep an EMA of their parameters (decay ``ema_decay``).
      num_classes: > 0 for a system that samples by class label.
      structural_fields: dotted config fields a resumed run must not change.
      sample_options: the latent factors a sampler may fix (keyword arguments of
        :meth:`latents`, flags of ``jaxgan.sample``), e.g. InfoGAN's ``("code",)``.
    """

    config: Any
    networks: Mapping[str, Any]
    groups: Mapping[str, Group]
    phases: tuple[Phase, ...]
    ema: tuple[str, ...] = ()
    ema_decay: float = 0.0
    num_classes: int = 0
    structural_fields: tuple[str, ...] = ()
    sample_options: tuple[str, ...] = ()

    @property
    def historical_weight(self) -> float:
        """``reg.historical_weight``: the engine's historical averaging of every player."""
        config = getattr(self, "config", None)
        reg = config.get("reg") if config is not None else None
        return float(reg.get("historical_weight", 0.0)) if reg is not None else 0.0

    # ---- initialisation ---------------------------------------------------------------
    def init_inputs(self, name: str) -> tuple[tuple, dict]:
        """``(args, kwargs)`` with which network ``name`` is initialised (a batch of two)."""
        raise NotImplementedError

    def init_extra(self) -> PyTree:
        """The system's non-differentiable state at step 0 (arrays only)."""
        return {}

    def update_extra(self, extra: PyTree, metrics: Metrics, step: jax.Array) -> PyTree:
        """The extra state after a step, from this step's (global) metrics; runs in the step."""
        del metrics, step
        return extra

    # ---- sampling ---------------------------------------------------------------------
    def latents(self, key: jax.Array, num: int, **fixed) -> PyTree:
        """The random inputs of ``num`` samples (everything but the label); ``fixed`` sets
        factors named in :attr:`sample_options` (checked by :meth:`check_sample_options`)."""
        raise NotImplementedError

    def check_sample_options(self, options: Mapping[str, Any]) -> None:
        """Raises ValueError (cause and fix) for a factor this system cannot fix as asked."""
        for name, value in options.items():
            if value is not None and name not in self.sample_options:
                raise ValueError(f"This system has no latent factor {name!r} to fix: drop --{name}"
                                 + (f" (it takes {', '.join('--' + o for o in self.sample_options)})."
                                    if self.sample_options else "."))

    def sample_record(self, latents: PyTree) -> dict[str, jax.Array]:
        """Per-sample arrays ``[num, ...]`` to store beside the images (InfoGAN: its codes)."""
        del latents
        return {}

    def render(self, apply: Callable, latents: PyTree, labels: jax.Array | None) -> jax.Array:
        """Images in [-1, 1] from ``latents`` (and labels); ``apply(name, *args, **kwargs)``
        calls a network in inference mode with its sampling parameters (EMA where kept)."""
        raise NotImplementedError

    def grid_inputs(self, seed: int, num: int) -> tuple[PyTree, jax.Array | None, int | None]:
        """``(latents, labels, columns)`` of every sample grid of a run, from fixed latents;
        ``columns`` None for a square grid. A conditional system's grid has one row per
        class, the same latents repeated down each column (so a column shows one latent
        drawn as every class)."""
        key = jax.random.fold_in(jax.random.key(seed), GRID_SALT)
        if not self.num_classes:
            return self.latents(key, num), None, None
        columns = max(1, num // self.num_classes)
        latents = tile_rows(self.latents(key, columns), self.num_classes)
        labels = jnp.repeat(jnp.arange(self.num_classes, dtype=jnp.int32), columns)
        return latents, labels, columns

    # ---- hooks of the loop ------------------------------------------------------------
    @classmethod
    def check_config(cls, config) -> None:
        """Raises :class:`jaxgan.config.ConfigError` (field and fix) for a config this system
        cannot train; called by :func:`jaxgan.config.validate` before anything is built."""

    def grids(self, sampler, state, step: int, *, final: bool) -> dict[str, Any]:
        """Extra ``{tag: uint8 images}`` to write beside the fixed-latent sample grid."""
        del sampler, state, step, final
        return {}

    def load_data(self):
        """The training data source (default: ``config.data``'s split, whole)."""
        from jaxgan import data  # Lazy: declaring a system needs no data code.

        return data.load_dataset(self.config.data)

    def preflight(self, abstract_state) -> None:
        """Checks (and reads) the system's own input files before any compute."""
        del abstract_state

    def initial_state(self, state, mesh):
        """The freshly initialised state, adjusted before the first step (not on resume)."""
        del mesh
        return state

    def on_phase_end(self, phase: Phase, state, run) -> dict[str, float]:
        """Called on every host when a phase other than the last finishes; returns scalars
        to log. ``run`` is the loop's :class:`jaxgan.engine.trainer.RunInfo`."""
        del phase, state, run
        return {}

    # ---- derived ----------------------------------------------------------------------
    @property
    def total_steps(self) -> int:
        return sum(p.steps for p in self.phases)

    def phase_at(self, step: int) -> Phase:
        """The phase that step ``step`` (1-based) belongs to."""
        end = 0
        for phase in self.phases:
            end += phase.steps
            if step <= end:
                return phase
        return self.phases[-1]

    def batches_per_step(self, phase: Phase) -> int:
        """Real batches one step of ``phase`` consumes: the most repeats of a data group."""
        return max((self.groups[g].repeats for g in phase.groups if self.groups[g].data),
                   default=0)
