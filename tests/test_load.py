"""Loading: every mode and format becomes the same grayscale digit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from batchdigits.image.grid import image_to_grid
from batchdigits.image.load import MAX_SIDE, load_image
from helpers import read_csv, run_cli
from imagemaker import digit_array, make_image, save_digit

# (mode drawn in, file extension, mode the file holds when read back, lossless)
CASES = [
    ("1", "png", "1", True),
    ("L", "png", "L", True),
    ("P", "png", "P", True),
    ("LA", "png", "LA", True),
    ("RGB", "png", "RGB", True),
    ("RGBA", "png", "RGBA", True),
    ("I;16", "png", "I;16", True),
    ("CMYK", "tif", "CMYK", True),
    ("I", "tif", "I", True),
    ("F", "tiff", "F", True),
    ("I;16", "tif", "I;16", True),
    ("L", "jpg", "L", False),
    ("RGB", "jpeg", "RGB", False),
    ("CMYK", "jpg", "CMYK", False),
    ("RGB", "bmp", "RGB", True),
    ("L", "bmp", "L", True),
    ("1", "bmp", "1", True),
    ("L", "gif", "P", True),
    ("RGB", "webp", "RGB", False),
    ("L", "pgm", "L", True),
    ("I;16", "pgm", "I", True),
    ("RGB", "ppm", "RGB", True),
    ("1", "pbm", "1", True),
    ("RGB", "pnm", "RGB", True),
]
CASE_IDS = [f"{mode}-{ext}" for mode, ext, _, _ in CASES]


def assert_is_grid(grid) -> None:
    assert grid is not None, "a drawn digit was taken as blank"
    values = np.asarray(grid)
    assert values.size == 64
    assert np.issubdtype(values.dtype, np.integer)
    assert values.min() >= 0 and values.max() <= 16
    assert values.sum() > 0


def assert_same_picture(loaded: np.ndarray, expected: np.ndarray, lossless: bool) -> None:
    assert loaded.dtype == np.uint8 and loaded.shape == expected.shape
    diff = np.abs(loaded.astype(int) - expected.astype(int))
    if lossless:
        assert diff.max() == 0
    else:
        assert diff.mean() < 6


@pytest.mark.parametrize("shape", ["one", "zero"])
@pytest.mark.parametrize(("mode", "ext", "stored", "lossless"), CASES, ids=CASE_IDS)
def test_every_mode_and_format_loads_as_the_drawn_digit(tmp_path, shape, mode, ext, stored, lossless):
    path = save_digit(tmp_path / f"{shape}.{ext}", shape, mode)
    with Image.open(path) as img:
        assert img.mode == stored  # the file really holds this mode

    gray = load_image(path)

    assert gray.ndim == 2
    assert_same_picture(gray, digit_array(shape), lossless)
    assert_is_grid(image_to_grid(gray))


def test_every_mode_and_format_classifies_like_the_plain_png(tmp_path):
    folder = tmp_path / "in"
    for shape in ("one", "zero"):
        save_digit(folder / f"{shape}_reference.png", shape, "L")
        for mode, ext, _, _ in CASES:
            save_digit(folder / f"{shape}_{mode.replace(';', '')}.{ext}", shape, mode)
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    rows = read_csv(out)
    assert len(rows) == 2 * (len(CASES) + 1)
    labels = {r["path"]: r["label"] for r in rows}
    for row in rows:
        assert row["status"] in ("ok", "low_confidence"), row
        shape = row["path"].split("_")[0]
        assert row["label"] == labels[f"{shape}_reference.png"], row
    assert labels["one_reference.png"] != labels["zero_reference.png"]


def ink_mask(shape: str = "one") -> np.ndarray:
    return digit_array(shape) < 128


def save_rgba(path, rgba: np.ndarray):
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_transparent_background_is_composited_on_white(tmp_path):
    ink = ink_mask()
    rgba = np.zeros(ink.shape + (4,), np.uint8)  # fully transparent *black* paper
    rgba[ink] = (20, 20, 20, 255)
    path = save_rgba(tmp_path / "transparent.png", rgba)

    gray = load_image(path)

    assert (gray[~ink] == 255).all()
    assert (gray[ink] == 20).all()


def test_ink_drawn_only_in_the_alpha_channel_appears(tmp_path):
    ink = ink_mask()
    rgba = np.zeros(ink.shape + (4,), np.uint8)  # black everywhere, alpha = the digit
    rgba[ink, 3] = 255
    rgba_path = save_rgba(tmp_path / "alpha_only.png", rgba)
    la = np.zeros(ink.shape + (2,), np.uint8)
    la[ink, 1] = 255
    la_path = tmp_path / "la_alpha_only.png"
    Image.fromarray(la, "LA").save(la_path)

    for path in (rgba_path, la_path):
        gray = load_image(path)
        np.testing.assert_array_equal(gray, digit_array("one"))


def test_palette_transparency_is_composited_on_white(tmp_path):
    ink = ink_mask("zero")
    img = Image.fromarray(ink.astype(np.uint8), "P")
    img.putpalette([0, 0, 0, 0, 0, 0])  # both entries black; entry 0 transparent
    for name in ("p.png", "p.gif"):
        img.save(tmp_path / name, transparency=0)
        np.testing.assert_array_equal(load_image(tmp_path / name), digit_array("zero"))


def test_transparent_images_classify_like_the_opaque_one(tmp_path):
    folder = tmp_path / "in"
    for shape in ("one", "zero"):
        ink = ink_mask(shape)
        save_digit(folder / f"{shape}_opaque.png", shape, "RGBA")
        transparent = np.zeros(ink.shape + (4,), np.uint8)
        transparent[ink] = (0, 0, 0, 255)
        save_rgba(folder / f"{shape}_transparent.png", transparent)
        alpha_only = np.zeros(ink.shape + (4,), np.uint8)  # black; the digit only in alpha
        alpha_only[ink, 3] = 255
        save_rgba(folder / f"{shape}_alpha_only.png", alpha_only)
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    rows = {r["path"]: r for r in read_csv(out)}
    for shape in ("one", "zero"):
        opaque = rows[f"{shape}_opaque.png"]
        assert opaque["status"] in ("ok", "low_confidence")
        for variant in ("transparent", "alpha_only"):
            row = rows[f"{shape}_{variant}.png"]
            assert (row["label"], row["confidence"]) == (opaque["label"], opaque["confidence"])


def asymmetric() -> Image.Image:
    """A wide picture with a dark block in its top-left corner only."""
    arr = np.full((30, 60), 255, np.uint8)
    arr[2:12, 2:22] = 0
    return Image.fromarray(arr)


@pytest.mark.parametrize(
    ("orientation", "transpose"),
    [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_270), (8, Image.Transpose.ROTATE_90)],
)
def test_exif_orientation_is_applied(tmp_path, orientation, transpose):
    original = asymmetric()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"rotated{orientation}.jpg"
    original.save(path, exif=exif, quality=95)

    gray = load_image(path)

    upright = np.asarray(original.transpose(transpose))
    assert gray.shape == upright.shape
    assert np.abs(gray.astype(int) - upright.astype(int)).mean() < 3
    as_stored = np.asarray(original)
    assert gray.shape != as_stored.shape or np.abs(gray.astype(int) - as_stored).mean() > 30


def test_exif_orientation_is_applied_to_a_huge_jpeg(tmp_path):
    big = Image.new("L", (3000, 1500), 255)
    big.paste(0, (0, 0, 1000, 500))  # top-left block
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    path = tmp_path / "big.jpg"
    big.save(path, exif=exif)

    gray = load_image(path)

    h, w = gray.shape
    assert h > w and max(h, w) <= MAX_SIDE
    assert gray[: h // 10, -w // 10 :].mean() < 30  # block now top-right
    assert gray[-h // 10 :, : w // 10].mean() > 225


@pytest.mark.parametrize("frames", [("one", "zero"), ("zero", "one")])
@pytest.mark.parametrize("ext", ["gif", "tif", "png"])
def test_first_frame_of_a_multi_frame_file_is_used(tmp_path, frames, ext):
    first, second = (make_image(shape) for shape in frames)
    path = tmp_path / f"multi.{ext}"
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    with Image.open(path) as img:
        assert getattr(img, "n_frames", 1) == 2

    np.testing.assert_array_equal(load_image(path), digit_array(frames[0]))


def test_huge_jpeg_is_shrunk_to_max_side(tmp_path):
    small = save_digit(tmp_path / "small.png", "one")
    huge = save_digit(tmp_path / "huge.jpg", "one", "L", size=(3000, 3000))

    gray = load_image(huge)

    assert max(gray.shape) <= MAX_SIDE
    assert min(gray.shape) >= MAX_SIDE // 2
    assert_is_grid(image_to_grid(gray))
    out = tmp_path / "out.csv"
    result = run_cli("classify", tmp_path, "--out", out, "--jobs", "1")
    assert result.exit_code == 0, result.stderr
    rows = {r["path"]: r["label"] for r in read_csv(out)}
    assert rows[huge.name] == rows[small.name] != ""


@pytest.mark.parametrize(
    ("mode", "ext"),
    [("P", "png"), ("LA", "png"), ("I;16", "png"), ("F", "tif"), ("CMYK", "tif"), ("1", "png"), ("RGB", "jpg")],
)
def test_large_images_of_every_mode_are_shrunk(tmp_path, mode, ext):
    path = save_digit(tmp_path / f"large.{ext}", "zero", mode, size=(1200, 1600))

    gray = load_image(path)

    assert max(gray.shape) <= MAX_SIDE
    assert gray.shape[0] > gray.shape[1]  # aspect kept: taller than wide
    assert_is_grid(image_to_grid(gray))


@pytest.mark.parametrize("colour", [0, 255])
def test_uniform_images_are_blank(tmp_path, colour):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("L", (40, 50), colour).save(folder / "plain.png")
    Image.new("RGB", (40, 50), (colour,) * 3).save(folder / "plain.jpg")
    save_digit(folder / "digit.png", "one")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    rows = {r["path"]: r for r in read_csv(out)}
    for name in ("plain.png", "plain.jpg"):
        assert (rows[name]["status"], rows[name]["label"], rows[name]["confidence"]) == ("blank", "", "")
    assert rows["digit.png"]["status"] in ("ok", "low_confidence")
    assert image_to_grid(load_image(folder / "plain.png")) is None


def test_white_on_black_gives_the_same_label_as_black_on_white(tmp_path):
    folder = tmp_path / "in"
    for shape in ("one", "zero"):
        save_digit(folder / f"{shape}_dark_ink.png", shape)
        save_digit(folder / f"{shape}_light_ink.png", shape, invert=True)
        save_digit(folder / f"{shape}_light_ink.jpg", shape, "RGB", invert=True)
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    labels = {r["path"]: r["label"] for r in read_csv(out)}
    assert labels["one_dark_ink.png"] != labels["zero_dark_ink.png"]
    for shape in ("one", "zero"):
        reference = labels[f"{shape}_dark_ink.png"]
        assert reference != ""
        assert labels[f"{shape}_light_ink.png"] == labels[f"{shape}_light_ink.jpg"] == reference


@pytest.mark.parametrize(
    ("mode", "ext", "ink", "paper"),
    [
        ("I;16", "png", 5000, 50000),  # 16-bit, not using the full range
        ("I;16", "tif", 300, 4000),  # 12-bit scanner data in a 16-bit file
        ("I", "tif", -20000, 300000),  # signed 32-bit, outside 0..65535
        ("F", "tif", 0.1, 0.9),  # float 0..1
        ("F", "tif", 10.0, 240.0),  # float 0..255
    ],
)
def test_high_bit_depth_images_keep_their_contrast(tmp_path, mode, ext, ink, paper):
    mask = ink_mask("zero")
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    values = np.where(mask, ink, paper).astype(dtype)
    path = tmp_path / f"deep.{ext}"
    img = Image.fromarray(values)
    assert img.mode == mode
    img.save(path)

    gray = load_image(path)

    assert gray.dtype == np.uint8
    assert int(gray[~mask].min()) - int(gray[mask].max()) > 100  # paper clearly lighter
    assert_is_grid(image_to_grid(gray))
