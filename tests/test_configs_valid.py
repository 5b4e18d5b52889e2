"""Every experiment file in configs/ loads as jaxgan.train loads it and passes validation."""

import importlib.util
import os

import pytest

from jaxgan import config as config_lib

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
# Variants each file documents besides its default (its docstring's commands).
VARIANTS = {"cgan_mnist.py": ["fashion"], "acgan_mnist.py": ["fashion"],
            "infogan_mnist.py": ["fashion"], "ebgan_mnist.py": ["fashion"],
            "began_mnist.py": ["fashion"], "lucic_mnist.py": ["began,fashion", "wgan_gp"]}


def _load(name):
    spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(CONFIGS, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(CONFIGS) if n.endswith(".py")))
def test_config_file_is_valid(name):
    module = _load(name)
    for variant in [None] + VARIANTS.get(name, []):
        c = module.get_config() if variant is None else module.get_config(variant)
        config_lib.validate(c)
        assert c.train.num_steps > 0
