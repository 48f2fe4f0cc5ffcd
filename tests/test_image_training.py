"""Image runs end to end: --data for image sets, options, conv nets chosen from the data, sample-grid snapshots."""
import json
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_config
from mixgan.commands.main import main
from mixgan.config import TrainConfig, make_config
from mixgan.nets.conv import ConvDiscriminator, ConvGenerator
from mixgan.data.registry import data_label, dataset_names, make_data
from mixgan.errors import UsageError
from mixgan.nets.mlp import MLPDiscriminator
from mixgan.nets.registry import make_networks
from mixgan.training import train
from mixgan.training.setup import build_models

# a few seconds on a shared 2-core CPU: tiny nets, tiny batches, one D step
TINY_IMAGES = dict(width=4, batch_size=8, d_steps=1, snapshot_size=16, iterations=3, snapshots=(1, 3), log_every=3)


def write_mnist(raw, n=12, seed=0):
    rng = np.random.RandomState(seed)
    raw.mkdir(parents=True)
    for prefix, count in (("train", n), ("t10k", 4)):
        images = rng.randint(0, 256, size=(count, 28, 28)).astype(np.uint8)
        labels = rng.randint(0, 10, size=count).astype(np.uint8)
        for name, a in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            header = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
            (raw / name).write_bytes(header + a.tobytes())


def test_image_names_are_valid_data_and_folders_need_no_registry_entry(tmp_path):
    assert {"digits", "mnist", "fashion-mnist", "cifar10"} <= set(dataset_names())
    assert TrainConfig(data=f"folder:{tmp_path}").data == f"folder:{tmp_path}"
    with pytest.raises(UsageError, match="unknown dataset 'digitz'"):
        TrainConfig(data="digitz")


def test_width_and_z_dim_follow_the_data_unless_set():
    assert (TrainConfig().width, TrainConfig().z_dim) == (512, 2)
    assert (TrainConfig(data="digits").width, TrainConfig(data="digits").z_dim) == (64, 100)
    assert (TrainConfig(data="digits", width=8, z_dim=3).width, TrainConfig(data="digits", z_dim=3).z_dim) == (8, 3)
    assert make_config({"data": "cifar10", "preset": "figure5"}).z_dim == 2  # a preset's choice wins
    c = make_config({"data": "digits", "preset": "dcgan"})
    assert (c.d_steps, c.lr, c.beta1, c.g_loss, c.width, c.z_dim) == (1, 2e-4, 0.5, "nonsaturating", 64, 100)
    again = TrainConfig(**json.loads(json.dumps(c.to_dict())))  # config.json reproduces the config
    assert again == c


@pytest.mark.parametrize("bad, message", [
    (dict(image_size=28), "image data only"),
    (dict(data="digits", image_size=24), "image_size must be one of 8, 16, 28, 32, 64"),
    (dict(data="digits", download="yes"), "download must be true or false"),
    (dict(data="digits", image_size=True), "image_size must be int"),
])
def test_bad_image_options(bad, message):
    with pytest.raises(UsageError, match=message):
        TrainConfig(**bad)


def test_cli_download_flag_and_image_size(capsys):
    assert main(["train", "--data", "mnist", "--download", "--image-size", "32", "--dry-run"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert c["download"] is True and c["image_size"] == 32 and c["data_root"] == "data"
    assert main(["train", "--data", "mnist", "--download", "false", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["download"] is False
    assert main(["train", "--data", "mnist", "--download", "maybe", "--dry-run"]) == 2
    assert "expected true or false" in capsys.readouterr().err


def test_run_folder_names_are_safe_for_folders():
    assert data_label("folder:/home/me/pics/cats/") == "folder-cats"
    assert data_label("folder:~/my pics") == "folder-my_pics"
    assert data_label("digits") == "digits"


@pytest.mark.parametrize("shape, conv", [((2,), False), (2, False), ((1, 16, 16), True), ((3, 64, 64), True)])
def test_networks_follow_the_shape_of_one_example(shape, conv):
    G, D = make_networks(shape, tiny_config(data="digits" if conv else "spiral", width=4))
    assert isinstance(G, ConvGenerator) == conv and isinstance(D, ConvDiscriminator) == conv
    assert conv or isinstance(D, MLPDiscriminator)
    x = G(torch.randn(5, G.z_dim))
    assert x.shape == (5, *((shape,) if isinstance(shape, int) else shape)) and D(x).shape == (5,)


def test_image_models_are_seeded_and_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    a = build_models(tiny_config(data="digits", width=4), (1, 16, 16))[0].state_dict()
    b = build_models(tiny_config(data="digits", width=4), (1, 16, 16))[0].state_dict()
    c = build_models(tiny_config(data="digits", width=4, seed=9), (1, 16, 16))[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["project.weight"], c["project.weight"])
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("objective, pairing", [("mixup", "real-fake"), ("mixup", "shuffled"), ("standard", "real-fake")])
def test_digits_smoke_run_writes_grids_and_tensors(tmp_path, objective, pairing):
    run = train(tiny_config(out=str(tmp_path), data="digits", objective=objective, pairing=pairing, **TINY_IMAGES),
                progress=False)
    assert run.name == f"00000-digits-{objective}-s3"
    config = json.loads((run / "config.json").read_text())
    assert (config["width"], config["z_dim"], config["image_size"]) == (4, 100, None)
    assert [line["iteration"] for line in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())] == [3]
    with np.load(run / "real.npz") as z:  # the fixed real digits (16x16, in [-1, 1]), saved once
        assert z.files == ["real"] and z["real"].shape == (16, 1, 16, 16) and np.abs(z["real"]).max() <= 1
    for it in (1, 3):
        with np.load(run / "snapshots" / f"iter_{it:06d}.npz") as z:
            assert sorted(z.files) == ["fake", "iteration"]  # generated images only
            assert z["fake"].shape == (16, 1, 16, 16) and int(z["iteration"]) == it and np.abs(z["fake"]).max() <= 1
        png = run / "snapshots" / f"iter_{it:06d}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
    weights = torch.load(run / "generator.pt")
    assert weights["project.weight"].shape[1] == 100


def test_same_seed_same_images(tmp_path):
    fakes = [np.load(train(tiny_config(out=str(tmp_path), data="digits", seed=s, **TINY_IMAGES), progress=False)
                     / "snapshots" / "iter_000003.npz")["fake"] for s in (5, 5, 6)]
    assert np.array_equal(fakes[0], fakes[1]) and not np.array_equal(fakes[0], fakes[2])


def test_mnist_files_train_at_28_and_resize_to_32(tmp_path):
    write_mnist(tmp_path / "data" / "MNIST" / "raw")
    for size, expected in ((None, 28), (32, 32)):
        run = train(tiny_config(out=str(tmp_path / "out"), data="mnist", data_root=str(tmp_path / "data"),
                                image_size=size, **TINY_IMAGES), progress=False)
        assert np.load(run / "snapshots" / "iter_000003.npz")["fake"].shape == (16, 1, expected, expected)


def test_folder_of_colour_images_trains(tmp_path):
    rng = np.random.RandomState(0)
    for cls in ("a", "b"):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(rng.randint(0, 256, (10, 12, 3)).astype(np.uint8)).save(tmp_path / "pics" / cls / f"{k}.png")
    run = train(tiny_config(out=str(tmp_path / "out"), data=f"folder:{tmp_path / 'pics'}", image_size=8,
                            **TINY_IMAGES), progress=False)
    assert run.name == "00000-folder-pics-mixup-s3" and run.parent == tmp_path / "out"
    assert np.load(run / "snapshots" / "iter_000003.npz")["fake"].shape == (16, 3, 8, 8)


def test_cli_errors_name_the_folder_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train", "--data", "cifar10", "--data-root", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "nowhere" / "cifar-10-batches-py") in err and "data_batch_1" in err
    assert main(["train", "--data", f"folder:{tmp_path / 'missing'}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder" in err
    assert not out.exists()


def test_make_data_passes_the_options(tmp_path):
    write_mnist(tmp_path / "FashionMNIST" / "raw")
    c = tiny_config(data="fashion-mnist", data_root=str(tmp_path), image_size=16)
    assert make_data(c.data, c).event_shape == (1, 16, 16) and len(make_data(c.data, c, split="test")) == 4
    # --download with the files already there: torchvision finds them and fetches nothing
    fetched = make_data(c.data, tiny_config(data="fashion-mnist", data_root=str(tmp_path), download=True))
    assert len(fetched) == 12
