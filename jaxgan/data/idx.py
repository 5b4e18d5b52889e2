"""The idx file format of MNIST and Fashion-MNIST, read with every check it allows.

An idx file is a 4-byte magic ``00 00 <dtype> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the row-major data. MNIST's are gzipped; a
truncated or flipped byte is caught by gzip's CRC, a wrong file by the magic,
the sizes or the sha256 the caller expects.
"""

from __future__ import annotations

import gzip
import zlib

import numpy as np

from jaxgan.data.source import CorruptDatasetError, sha256_bytes

_UBYTE = 0x08


def parse_idx(raw: bytes, *, where: str, ndim: int) -> np.ndarray:
    """The uint8 array in an uncompressed idx file; ``where`` names it in errors."""
    if len(raw) < 4 + 4 * ndim:
        raise CorruptDatasetError(f"{where}: {len(raw)} bytes is too short for an idx file.")
    zero, dtype, got_ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype != _UBYTE or got_ndim != ndim:
        raise CorruptDatasetError(
            f"{where}: magic {raw[:4].hex()} is not an idx file of {ndim}-D unsigned bytes "
            f"(expected 0000080{ndim}).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)):
        raise CorruptDatasetError(
            f"{where}: header says {shape} = {int(np.prod(shape))} bytes of data but the file "
            f"holds {len(raw) - offset}; the file is truncated or corrupt.")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(shape)


def read_idx_gz(data: bytes, *, where: str, ndim: int, sha256: str | None = None,
                payload_sha256: str | None = None, fix: str = "") -> np.ndarray:
    """Checks and parses one gzipped idx file.

    Args:
      data: the ``.gz`` file's bytes.
      where: the file's name or path, for error messages.
      ndim: 3 for images, 1 for labels.
      sha256: the expected digest of the gzipped bytes, if known.
      payload_sha256: the expected digest of the decompressed bytes, if known
        (for files whose gzip wrapper differs between distributions).
      fix: appended to every error: how to get a good copy.

    Returns:
      The uint8 array.
    """
    suffix = f" {fix}" if fix else ""
    if sha256 is not None and sha256_bytes(data) != sha256:
        raise CorruptDatasetError(
            f"{where}: sha256 {sha256_bytes(data)} differs from the official {sha256}; the file "
            f"is truncated, corrupt or a different file.{suffix}")
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise CorruptDatasetError(f"{where}: not a complete gzip file ({e}).{suffix}") from e
    if payload_sha256 is not None and sha256_bytes(raw) != payload_sha256:
        raise CorruptDatasetError(
            f"{where}: the decompressed sha256 {sha256_bytes(raw)} differs from the known "
            f"{payload_sha256}; this is not the expected file.{suffix}")
    try:
        return parse_idx(raw, where=where, ndim=ndim)
    except CorruptDatasetError as e:
        raise CorruptDatasetError(f"{e}{suffix}") from None
