"""Oracle tests: our batched augmentations against torchvision.transforms.v2.functional
for fixed parameters, plus the randomness (independent draws per sample)."""

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from playground.data import augment as A
from playground.data import augment_functional as AF
from playground.errors import ConfigError

BIL = InterpolationMode.BILINEAR


@pytest.fixture
def batch():
    return torch.rand(4, 3, 20, 24, generator=torch.Generator().manual_seed(0))


def test_affine_matches_torchvision(batch):
    angle = torch.tensor([30.0, -45.0, 10.0, 0.0])
    tx, ty = torch.tensor([2.0, -3.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, -2.0, 3.0])
    scale = torch.tensor([1.0, 0.8, 1.2, 1.0])
    out = AF.warp(batch, AF.affine_matrix(angle, tx, ty, scale))
    for i in range(len(batch)):
        # torchvision's affine counts the angle clockwise, its rotate counter-clockwise (as we do)
        ref = TF.affine(
            batch[i],
            angle=-float(angle[i]),
            translate=[float(tx[i]), float(ty[i])],
            scale=float(scale[i]),
            shear=[0.0, 0.0],
            interpolation=BIL,
        )
        torch.testing.assert_close(out[i], ref, atol=1e-4, rtol=0)


def test_rotation_matches_torchvision_rotate(batch):
    angle = torch.tensor([90.0, 15.0, -30.0, 180.0])
    zero = torch.zeros(4)
    out = AF.warp(batch, AF.affine_matrix(angle, zero, zero, torch.ones(4)))
    for i in range(4):
        ref = TF.rotate(batch[i], float(angle[i]), interpolation=BIL)
        torch.testing.assert_close(out[i], ref, atol=1e-4, rtol=0)


def test_resized_crop_matches_torchvision_inside_the_crop(batch):
    # The two differ only on the outermost output pixels: grid_sample blends in the
    # neighbours just outside the box, torchvision's resize clamps to the box edge.
    top, left = torch.tensor([2.0, 1.0, 3.0, 1.0]), torch.tensor([1.0, 2.0, 4.0, 1.0])
    h, w = torch.tensor([10.0, 15.0, 12.0, 18.0]), torch.tensor([12.0, 20.0, 16.0, 22.0])
    out = AF.warp(batch, AF.crop_matrix(top, left, h, w, 20, 24))
    for i in range(4):
        ref = TF.resized_crop(
            batch[i], int(top[i]), int(left[i]), int(h[i]), int(w[i]), [20, 24], interpolation=BIL, antialias=False
        )
        torch.testing.assert_close(out[i, :, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], atol=1e-4, rtol=0)


def test_flips_match_torchvision(batch):
    which = torch.tensor([True, False, True, False])
    h = AF.flip(batch, which, -1)
    v = AF.flip(batch, which, -2)
    torch.testing.assert_close(h[0], TF.horizontal_flip(batch[0]))
    torch.testing.assert_close(v[2], TF.vertical_flip(batch[2]))
    torch.testing.assert_close(h[1], batch[1])


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (AF.adjust_brightness, TF.adjust_brightness),
        (AF.adjust_contrast, TF.adjust_contrast),
        (AF.adjust_saturation, TF.adjust_saturation),
    ],
)
@pytest.mark.parametrize("channels", [1, 3])
def test_colour_adjustments_match_torchvision(ours, theirs, channels):
    x = torch.rand(3, channels, 8, 8, generator=torch.Generator().manual_seed(1))
    factors = torch.tensor([0.5, 1.0, 1.7])
    out = ours(x.clone(), factors)
    for i in range(3):
        torch.testing.assert_close(out[i], theirs(x[i], float(factors[i])), atol=1e-5, rtol=0)


def test_erase_matches_torchvision(batch):
    top, left = torch.tensor([0, 5, 3, 10]), torch.tensor([1, 0, 20, 4])
    h, w = torch.tensor([4, 6, 10, 0]), torch.tensor([5, 3, 4, 7])
    out = AF.erase(batch, top, left, h, w, value=0.0)
    for i in range(4):
        ref = TF.erase(batch[i], int(top[i]), int(left[i]), int(h[i]), int(w[i]), torch.tensor(0.0))
        torch.testing.assert_close(out[i], ref)


@pytest.mark.parametrize(
    "spec",
    [
        "hflip",
        "vflip",
        "rotation:30",
        "translate:0.2",
        "scale:min=0.7,max=1.3",
        "random_resized_crop",
        "color_jitter",
        "gaussian_noise:0.2",
        "erasing:p=1",
        "cutout",
    ],
)
def test_each_sample_gets_its_own_draw(spec):
    img = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    x = img.repeat(64, 1, 1, 1)
    out = A.build_pipeline([spec])(x.clone(), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1
    distinct = torch.unique(out.flatten(1), dim=0)
    assert len(distinct) >= 2, f"{spec}: all 64 samples got the same draw"
    if spec not in ("hflip", "vflip"):  # two outcomes only for flips
        assert len(distinct) >= 10


def test_flip_probability_is_respected():
    x = torch.arange(16.0).view(1, 1, 1, 16).repeat(4000, 1, 1, 1) / 16
    out = A.build_pipeline(["hflip:0.3"])(x, torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, 0] != x[:, 0, 0, 0]).float().mean().item()
    assert abs(flipped - 0.3) < 0.03


def test_gaussian_noise_statistics():
    x = torch.full((64, 1, 32, 32), 0.5)
    out = A.build_pipeline(["gaussian_noise:0.1"])(x, torch.Generator().manual_seed(0))
    d = out - x
    assert abs(d.mean().item()) < 0.002 and abs(d.std().item() - 0.1) < 0.002


def test_geometric_steps_are_fused_into_one_warp(monkeypatch):
    calls = []
    real = A.warp
    monkeypatch.setattr(A, "warp", lambda x, m, mode="bilinear": calls.append(1) or real(x, m, mode))
    pipe = A.build_pipeline(["rotation:10", "translate:0.1", "scale", "hflip", "rotation:5"])
    pipe(torch.rand(8, 1, 12, 12), torch.Generator().manual_seed(0))
    assert len(calls) == 2  # [rotation, translate, scale] fused, then hflip, then rotation


def test_same_seed_same_draws():
    x = torch.rand(16, 3, 12, 12, generator=torch.Generator().manual_seed(3))
    pipe = A.build_pipeline(["random_resized_crop", "color_jitter", "cutout"])
    a = pipe(x.clone(), torch.Generator().manual_seed(5))
    b = pipe(x.clone(), torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("spin", "Unknown augmentation 'spin'"),
        ("rotation:400", "degrees"),
        ("rotation:fast", "not a number"),
        ("hflip:p=2", "probability"),
        ("rotation:angle=3", "no parameter 'angle'"),
        ("scale:min=2,max=1", "min <= max"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, words):
    with pytest.raises(ConfigError, match=words):
        A.build_pipeline([spec])


def test_parse_spec_positional_and_named():
    assert A.parse_spec("rotation:15") == ("rotation", {"degrees": 15})
    assert A.parse_spec("scale:min=0.8,max=1.2") == ("scale", {"min": 0.8, "max": 1.2})
    assert A.parse_spec("random_resized_crop:scale=0.3/1") == ("random_resized_crop", {"scale": [0.3, 1]})


@pytest.mark.parametrize(
    "b,h,w,dtype",
    [(1, 1, 1, torch.float32), (5, 20, 24, torch.float32), (3, 7, 32, torch.float64), (128, 28, 28, torch.float32)],
)
def test_affine_grid_is_torchs(b, h, w, dtype):
    theta = torch.randn(b, 2, 3, generator=torch.Generator().manual_seed(b), dtype=dtype)
    ours = AF.affine_grid(theta, h, w)
    assert ours.shape == (b, h, w, 2) and ours.is_contiguous() and ours.dtype == dtype
    torch.testing.assert_close(ours, F.affine_grid(theta, [b, 1, h, w], align_corners=False))


def test_rotation_interpolation_is_a_parameter():
    """Nearest (torchvision's RandomRotation default) only moves pixels: every output value is an input value
    or the zero fill; bilinear blends neighbours into new values."""
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    near = A.build_pipeline(["rotation:30,interpolation=nearest"])(x, torch.Generator().manual_seed(2))
    blend = A.build_pipeline(["rotation:30"])(x, torch.Generator().manual_seed(2))
    values = set(x.flatten().tolist()) | {0.0}
    assert set(near.flatten().tolist()) <= values
    assert not set(blend.flatten().tolist()) <= values
    with pytest.raises(ConfigError, match="interpolation must be bilinear or nearest"):
        A.build_pipeline(["rotation:10,interpolation=cubic"])
    with pytest.raises(ConfigError, match="not a number"):
        A.build_pipeline(["rotation:fast"])
