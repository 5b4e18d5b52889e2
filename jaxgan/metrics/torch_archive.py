"""Reads PyTorch zip archives (``torch.save`` files and TorchScript modules) with numpy alone.

A PyTorch archive is a zip holding ``<root>/data.pkl`` (a pickle whose tensors
point, through persistent ids, at raw little-endian storages ``<root>/data/<key>``)
and, for TorchScript, the module's code under ``<root>/code/``. Unpickling such a
file with the stock unpickler would import torch and run arbitrary globals, so
:class:`_ArchiveUnpickler` allows a short list of globals: tensor rebuilders,
``OrderedDict`` and TorchScript module classes (which become plain
:class:`ScriptModule` attribute holders). Anything else stops the load.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from typing import Any, BinaryIO

import numpy as np


class ArchiveError(ValueError):
    """A file that is not a PyTorch archive this reader understands; the message says why."""


# torch storage class name -> numpy dtype. bfloat16 comes from ml_dtypes (a jax dependency).
def _storage_dtypes() -> dict[str, np.dtype]:
    import ml_dtypes

    return {
        "FloatStorage": np.dtype(np.float32), "DoubleStorage": np.dtype(np.float64),
        "HalfStorage": np.dtype(np.float16), "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
        "LongStorage": np.dtype(np.int64), "IntStorage": np.dtype(np.int32),
        "ShortStorage": np.dtype(np.int16), "CharStorage": np.dtype(np.int8),
        "ByteStorage": np.dtype(np.uint8), "BoolStorage": np.dtype(np.bool_),
    }


class ScriptModule:
    """A TorchScript module's pickled state: its attributes, parameters and submodules.

    ``qualname`` is the TorchScript class (e.g. ``__torch__.inceptionv3.Conv2dLayer``).
    """

    qualname = ""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def children(self) -> dict[str, "ScriptModule"]:
        return {k: v for k, v in vars(self).items() if isinstance(v, ScriptModule)}

    def tensors(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}

    def __repr__(self) -> str:
        return f"ScriptModule({self.qualname}, {sorted(vars(self))})"


class _StorageType:
    def __init__(self, name: str):
        self.name = name


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None) -> np.ndarray:
    del requires_grad, backward_hooks, metadata
    size, stride = tuple(size), tuple(stride)
    if not size:
        return storage[offset].copy()
    needed = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if min(size) > 0 and needed > storage.size:
        raise ArchiveError(f"a tensor of size {size} reaches past its storage ({storage.size} "
                           "elements); the archive is truncated or corrupt.")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride])
    return np.ascontiguousarray(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest) -> np.ndarray:
    del requires_grad, backward_hooks, rest
    return data


# TorchScript pickles wrap typed lists (a conv's padding, say) in these builders.
_JIT_LIST_BUILDERS = ("build_intlist", "build_doublelist", "build_boollist", "build_tensorlist",
                      "restore_type_tag")


def _identity(value, *type_tag):
    del type_tag
    return value


class _ArchiveUnpickler(pickle.Unpickler):

    def __init__(self, file: BinaryIO, zf: zipfile.ZipFile, root: str, byteorder: str):
        super().__init__(file)
        self._zf, self._root, self._byteorder = zf, root, byteorder
        self._storages: dict[str, np.ndarray] = {}
        self._dtypes = _storage_dtypes()
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch.jit._pickle" and name in _JIT_LIST_BUILDERS:
            return _identity
        if module == "torch" and name in self._dtypes:
            return _StorageType(name)
        if module.startswith("__torch__"):
            qualname = f"{module}.{name}"
            if qualname not in self._classes:
                self._classes[qualname] = type(name, (ScriptModule,), {"qualname": qualname})
            return self._classes[qualname]
        raise ArchiveError(
            f"the archive's pickle asks for {module}.{name}, which this reader does not allow "
            "(only tensors, OrderedDicts and TorchScript module state); it is not a plain "
            "weights archive.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ArchiveError(f"unsupported persistent id {pid!r} in the archive's pickle.")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise ArchiveError(f"unsupported storage type {storage_type!r}.")
        if key not in self._storages:
            dtype = self._dtypes[storage_type.name].newbyteorder(
                "<" if self._byteorder == "little" else ">")
            raw = self._zf.read(f"{self._root}/data/{key}")
            arr = np.frombuffer(raw, dtype=dtype)
            if arr.size < numel:
                raise ArchiveError(f"storage {key} holds {arr.size} elements, the pickle says "
                                   f"{numel}; the archive is truncated or corrupt.")
            self._storages[key] = arr[:numel].astype(dtype.newbyteorder("="))
        return self._storages[key]


def load_archive(source: str | os.PathLike | bytes | BinaryIO) -> Any:
    """Unpickles a PyTorch zip archive into numpy arrays, without importing torch.

    Args:
      source: a path, the archive's bytes, or a binary file object.

    Returns:
      The pickled object with every tensor as a contiguous ``np.ndarray``: an
      ``OrderedDict`` for a ``torch.save``'d state_dict, a :class:`ScriptModule`
      tree for a TorchScript archive.

    Raises:
      ArchiveError: not a zip, no ``data.pkl``, or a pickle that needs other globals.
    """
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        zf = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise ArchiveError(f"{source!r} is not a zip file; PyTorch files saved before torch 1.6 "
                           "(legacy tar/pickle format) are not supported. Re-save it with a "
                           "recent torch.save.") from None
    with zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkls:
            raise ArchiveError("no <root>/data.pkl in the zip: it is not a PyTorch archive.")
        root = pkls[0].split("/")[0]
        byteorder = "little"
        if f"{root}/byteorder" in zf.namelist():
            byteorder = zf.read(f"{root}/byteorder").decode().strip()
        with zf.open(pkls[0]) as f:
            return _ArchiveUnpickler(io.BytesIO(f.read()), zf, root, byteorder).load()


def flatten_script_module(module: ScriptModule, prefix: str = "") -> dict[str, np.ndarray]:
    """``{'layers.conv.weight': array, ...}``: a TorchScript tree as a state_dict."""
    out = {f"{prefix}{k}": v for k, v in module.tensors().items()}
    for name, child in module.children().items():
        out.update(flatten_script_module(child, f"{prefix}{name}."))
    return out
