"""Hostile image folders (``folder:PATH``): each odd file is either converted, with the values
checked, or refused with one line naming it (exit status 2 from the command line, nothing written).
The rule is in mixgan/data/image_folder.py and docs/IMAGES.md."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from mixgan.commands.main import main
from mixgan.data.image_folder import MAX_IMAGE_PIXELS
from mixgan.data.images import load_image_data
from mixgan.errors import UsageError


def train_on(folder, out, capsys):
    """``mixgan train`` on the folder with a tiny budget: (exit status, stderr)."""
    code = main(["train", "--data", f"folder:{folder}", "--image-size", "8", "--width", "4", "--batch-size", "4",
                 "--d-steps", "1", "--snapshot-size", "4", "--iterations", "2", "--quiet", "--device", "cpu",
                 "--out", str(out)])
    return code, capsys.readouterr().err


def refused(folder, tmp_path, capsys, *needles):
    out = tmp_path / "out"
    code, err = train_on(folder, out, capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert all(n in err for n in needles), err
    assert not out.exists()  # refused before anything is written


@pytest.fixture
def pics(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.new("RGB", (10, 10), (10, 200, 30)).save(folder / "good.png")
    return folder


@pytest.mark.parametrize("name, content", [
    ("corrupt.png", b"\x89PNG\r\n\x1a\n but then nothing a PNG holds"),
    ("text.jpg", b"just some words, saved under an image's name"),
    ("empty.png", b""),
])
def test_a_file_that_is_not_an_image_is_refused_by_name(pics, tmp_path, capsys, name, content):
    (pics / name).write_bytes(content)
    refused(pics, tmp_path, capsys, str(pics / name))
    if not content:
        with pytest.raises(UsageError, match="empty"):
            load_image_data(f"folder:{pics}")


def test_a_decompression_bomb_is_refused_unread_and_pils_limit_stays(pics, tmp_path, capsys):
    limit = Image.MAX_IMAGE_PIXELS
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    Image.new("1", (side, side)).save(pics / "bomb.png")  # a few KB on disk, 67 million pixels
    refused(pics, tmp_path, capsys, str(pics / "bomb.png"), "refused undecoded")
    assert Image.MAX_IMAGE_PIXELS == limit and limit is not None  # mixgan never turns PIL's check off


def test_mixed_modes_and_sizes_are_converted(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (7, 7), 255).save(folder / "a-grey.png")
    palette = Image.new("P", (12, 20))
    palette.putpalette([0, 0, 255] + [0] * 765)  # index 0 is blue
    palette.save(folder / "b-palette.png")
    rgba = Image.new("RGBA", (9, 5), (255, 0, 0, 0))  # red, fully transparent: transparency is dropped
    rgba.save(folder / "c-rgba.png")
    Image.fromarray(np.full((6, 6), 65535, dtype=np.uint16)).save(folder / "d-16bit.png")
    Image.new("LA", (30, 3), (0, 255)).save(folder / "e-grey-alpha.png")
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(folder / "f-cmyk.jpg", quality=100)
    data = load_image_data(f"folder:{folder}", image_size=8, split="all")
    assert data.event_shape == (3, 8, 8) and len(data) == 6
    x = data.images
    expected = [(1, 1, 1), (-1, -1, 1), (1, -1, -1), (1, 1, 1), (-1, -1, -1), (1, 1, 1)]
    for k, rgb in enumerate(expected):
        torch.testing.assert_close(x[k].mean(dim=(1, 2)), torch.tensor(rgb, dtype=torch.float32), atol=0.02, rtol=0)


def test_a_grey_folder_with_16_bit_files_stays_grey(tmp_path):
    folder = tmp_path / "grey"
    folder.mkdir()
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024).save(folder / "ramp16.png")
    Image.new("L", (8, 8), 0).save(folder / "zero.png")
    data = load_image_data(f"folder:{folder}", image_size=8, split="all")
    assert data.event_shape == (1, 8, 8)
    ramp = (np.arange(64).reshape(8, 8) * 1024) >> 8  # the top 8 bits
    torch.testing.assert_close(data.images[0, 0], torch.tensor(ramp / 127.5 - 1, dtype=torch.float32))


def test_an_empty_folder_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("no pictures here")
    refused(empty, tmp_path, capsys, "no images", str(empty))


def test_a_symlink_loop_is_refused_by_name(pics, tmp_path, capsys):
    (pics / "sub").mkdir()
    Image.new("RGB", (4, 4)).save(pics / "sub" / "x.png")
    os.symlink(pics, pics / "sub" / "back")
    refused(pics, tmp_path, capsys, str(pics / "sub" / "back"), "loop")


def test_a_link_to_itself_or_nowhere_is_refused_by_name(pics, tmp_path, capsys):
    os.symlink(pics / "self.png", pics / "self.png")
    refused(pics, tmp_path, capsys, str(pics / "self.png"), "leads nowhere")
    os.unlink(pics / "self.png")
    os.symlink(tmp_path / "gone.jpg", pics / "dangling.jpg")
    refused(pics, tmp_path, capsys, str(pics / "dangling.jpg"))


def test_links_to_images_and_folders_are_followed(pics, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("RGB", (4, 4), (255, 255, 255)).save(elsewhere / "white.png")
    os.symlink(elsewhere, pics / "linked")
    os.symlink(elsewhere / "white.png", pics / "also-white.png")
    data = load_image_data(f"folder:{pics}", image_size=4, split="all")
    assert len(data) == 3 and data.dataset.paths[-1] == str(pics / "linked" / "white.png")


def test_headers_read_by_several_processes_refuse_the_first_bad_file_and_see_every_mode(tmp_path, monkeypatch):
    """The header pass split over processes (two files per task here) gives what one process
    gives: the mode of the whole folder and, with bad files in several tasks, the first one's line;
    and no process is left behind."""
    import multiprocessing
    from mixgan.data import image_folder
    monkeypatch.setattr(image_folder, "HEADERS_PER_TASK", 2)
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(9):
        Image.new("L", (6, 6), 20 * k).save(folder / f"{k:02d}-grey.png")
    paths = image_folder.list_images(folder)
    assert image_folder.grey_or_rgb(paths, processes=3) == "L"
    Image.new("RGB", (6, 6), (1, 2, 3)).save(folder / "07-colour.png")  # in the fourth task of five
    paths = image_folder.list_images(folder)
    assert image_folder.grey_or_rgb(paths, processes=3) == image_folder.grey_or_rgb(paths, processes=1) == "RGB"
    (folder / "03-bad.png").write_bytes(b"not an image")
    (folder / "06-empty.png").write_bytes(b"")
    paths = image_folder.list_images(folder)
    for processes in (1, 2, 3):
        with pytest.raises(UsageError, match="03-bad.png") as refusal:
            image_folder.grey_or_rgb(paths, processes=processes)
        assert "06-empty" not in str(refusal.value)
    (folder / "03-bad.png").unlink()
    with pytest.raises(UsageError, match=r"06-empty.png: the file is empty \(0 bytes\)"):
        image_folder.grey_or_rgb(image_folder.list_images(folder), processes=2)
    assert multiprocessing.active_children() == []
