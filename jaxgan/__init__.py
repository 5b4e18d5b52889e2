"""jaxgan: generative adversarial networks in JAX/Flax.

The loss and regularizer modules are pure and import nothing heavy, so
``from jaxgan import losses, regularizers`` is cheap in a user's own tests.
"""

__version__ = "0.1.0"
