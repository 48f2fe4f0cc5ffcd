"""What image runs store, and where: the real images once in ``real.npz``, generated images in
snapshots and frames, no data in checkpoints, and image folders streamed from their paths."""
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import crash_at_generator_step, tiny_config
from mixgan import load_run, resume, train
from mixgan.commands.main import main
from mixgan.data.image_folder import ImageFiles
from mixgan.data.images import ImageData, load_image_data
from mixgan.errors import UsageError
from mixgan.evaluation import image_classifier
from mixgan.evaluation.image_metrics import run_image_metrics
from mixgan.nets import make_networks
from mixgan.rng import run_generators
from mixgan.runs import checkpoints, snapshots, status
from mixgan.training.setup import snapshot_batch

TINY = dict(data="digits", width=4, batch_size=8, d_steps=1, snapshot_size=40, iterations=4, log_every=4,
            checkpoint_every=1000)


def npz_bytes(run):
    return {p.relative_to(run).as_posix(): p.stat().st_size for p in run.rglob("*.npz")}


def tensors(obj):
    """Every tensor inside a checkpoint's nested dicts and lists."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from tensors(v)


def to_old_layout(run):
    """The run as mixgan wrote it before ``real.npz``: the real images inside every file."""
    real = np.load(run / "real.npz")["real"]
    for path in [*run.glob("snapshots/*.npz"), *run.glob("frames/*.npz")]:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        np.savez(path, real=real, **arrays)
    (run / "real.npz").unlink()
    return real


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return train(tiny_config(out=str(out), snapshots=(2, 4), frames=3, **TINY), progress=False)


def test_real_images_are_saved_once_and_snapshots_and_frames_hold_generated_images(digits_run):
    with np.load(digits_run / "real.npz") as z:
        assert z.files == ["real"] and z["real"].shape == (40, 1, 16, 16)
        real = z["real"]
    files = [*digits_run.glob("snapshots/*.npz"), *digits_run.glob("frames/*.npz")]
    assert len(files) == 5
    for path in files:
        with np.load(path) as z:
            assert sorted(z.files) == ["fake", "iteration"]
            assert all(not np.array_equal(z[k], real) for k in z.files)
    for kind in ("snapshots", "frames"):  # every reader gets the real images from their one place
        run = load_run(digits_run)
        a = run.arrays(run.iterations(kind)[-1], kind)
        assert np.array_equal(a["real"], real) and a["fake"].shape == real.shape


def test_the_run_folder_grows_by_the_generated_images_per_snapshot_not_by_the_data(tmp_path):
    one = train(tiny_config(out=str(tmp_path), snapshots=(4,), **TINY), progress=False)
    four = train(tiny_config(out=str(tmp_path), snapshots=(1, 2, 3, 4), **TINY), progress=False)
    fake_bytes = np.load(one / "snapshots" / "iter_000004.npz")["fake"].nbytes
    data_bytes = len(load_image_data("digits")) * 16 * 16 * 4
    grown = sum(npz_bytes(four).values()) - sum(npz_bytes(one).values())
    assert 3 * fake_bytes <= grown <= 3 * (fake_bytes + 1024)  # three more snapshots, npz headers aside
    # all of its arrays: the 40 real images once and the generated ones of four snapshots
    assert sum(npz_bytes(four).values()) <= 5 * (fake_bytes + 1024) < data_bytes


def test_a_checkpoint_of_an_image_run_holds_no_data(digits_run):
    (_, path), *_ = checkpoints.list_checkpoints(digits_run)
    ckpt = checkpoints.load(path)
    assert "fixed_real" not in ckpt
    run = load_run(digits_run)
    G, D = make_networks((1, 16, 16), run.training_config())
    weights = {tuple(t.shape) for m in (G, D) for t in m.state_dict().values()}
    for t in tensors(ckpt):  # weights and their Adam moments, the noise, random states, loss sums: no images
        assert (tuple(t.shape) in weights or t.shape == ckpt["fixed_z"].shape or t.dim() == 0
                or (t.dim() == 1 and t.dtype == torch.uint8)), t.shape
    assert ckpt["fixed_z"].shape == (40, 100)


def test_runs_saved_before_real_npz_still_plot_sample_animate_and_measure(digits_run, tmp_path, monkeypatch, capsys):
    old = tmp_path / "runs" / digits_run.name
    shutil.copytree(digits_run, old)
    real = to_old_layout(old)
    assert not (old / "real.npz").exists()
    run = load_run(old)
    assert np.array_equal(run.arrays(4)["real"], real) and np.array_equal(run.arrays(1, "frames")["real"], real)
    assert main(["plot", str(old), "--out", str(tmp_path / "p")]) == 0
    assert main(["animate", str(old), "--out", str(tmp_path / "a")]) == 0
    assert main(["sample", str(old), "--n", "9", "--out", str(tmp_path / "s.png")]) == 0
    from mixgan.viz.image_plots import draw_image_snapshot
    draw_image_snapshot(old / "snapshots" / "iter_000004.npz", tmp_path / "old.png")
    assert (tmp_path / "old.png").stat().st_size > 1000
    monkeypatch.setattr(image_classifier, "TRAIN_IMAGES", 100)  # two epochs: enough to measure with
    assert run_image_metrics(old) == run_image_metrics(digits_run)  # the same generated images, the same numbers
    capsys.readouterr()


def test_an_image_run_without_its_real_images_is_one_line(digits_run, tmp_path):
    broken = tmp_path / digits_run.name
    shutil.copytree(digits_run, broken)
    (broken / "real.npz").unlink()
    with pytest.raises(UsageError, match="real.npz has no 'real'"):
        snapshots.load(broken, "snapshots", 4)


# ------------------------------------------------------------------ folders, streamed
@pytest.fixture(scope="module")
def big_folder(tmp_path_factory):
    """2000 tiny images in two classes: values that tell every file apart."""
    root = tmp_path_factory.mktemp("pics")
    for cls in ("a", "b"):
        (root / cls).mkdir()
        for k in range(1000):
            Image.new("RGB", (6, 5), (k % 256, k // 256, 200 if cls == "b" else 0)).save(root / cls / f"{k:04d}.png")
    return root


def test_a_folder_data_set_holds_paths_not_pixels(big_folder):
    data = load_image_data(f"folder:{big_folder}", image_size=8)
    assert isinstance(data, ImageData) and isinstance(data.dataset, ImageFiles)
    assert len(data) == 1800 and data.event_shape == (3, 8, 8)
    held = [v for obj in (data, data.dataset) for v in vars(obj).values()]
    assert all(not isinstance(v, np.ndarray) for v in held)
    assert [v for v in held if isinstance(v, torch.Tensor)] == [data.labels]  # 1800 int64: the only tensor
    assert all(isinstance(p, str) for p in data.dataset.paths)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    (x1, y1), (x2, y2) = data.sample_with_labels(64, g1), data.sample_with_labels(64, g2)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.shape == (64, 3, 8, 8)
    # the batch is what the images read whole would give at the same draws
    idx = torch.randint(len(data), (64,), generator=torch.Generator().manual_seed(5))
    whole = data.images
    assert torch.equal(whole[idx], x1) and torch.equal(data.labels[idx], y1)
    assert torch.equal(x1[:, 2].amax(dim=(1, 2)) > 0, y1 == 1)  # the blue channel tells the classes apart


@pytest.mark.parametrize("workers", [0, 2])
def test_training_batches_depend_on_the_seed_and_iteration_only(big_folder, workers):
    """The DataLoader's batch for an iteration is the same with or without worker processes and
    wherever the stream starts (as when a run resumes), and it is the images at its indices."""
    data = load_image_data(f"folder:{big_folder}", image_size=8)
    from_one = data.training_batches(16, seed=3, start=1, device="cpu", workers=0)
    first = [next(from_one) for _ in range(3)]
    from_three = data.training_batches(16, seed=3, start=3, device="cpu", workers=workers)
    assert torch.equal(next(from_three), first[2]) and not torch.equal(first[1], first[2])
    from mixgan.data.loader import IterationSampler
    assert torch.equal(first[1], data.decode(IterationSampler(len(data), 16, 3).indices(2)))
    other_seed = next(data.training_batches(16, seed=4, start=1, device="cpu", workers=0))
    assert not torch.equal(other_seed, first[0])


def test_a_folder_run_trains_and_resumes_bitwise(big_folder, tmp_path, monkeypatch):
    config = tiny_config(out=str(tmp_path), data=f"folder:{big_folder}", image_size=8, width=4, batch_size=8,
                         d_steps=1, snapshot_size=16, iterations=8, log_every=2, checkpoint_every=3, snapshots=(4, 8))
    reference = train(config, progress=False)
    crash_at_generator_step(monkeypatch, "mixup", 7)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, progress=False)
    monkeypatch.undo()
    run = sorted(tmp_path.glob("0*"))[1]
    assert status.read_status(run)["checkpoint_iteration"] == 6
    assert resume(run, progress=False) == (run, True)
    for name in ("real.npz", "snapshots/iter_000004.npz", "snapshots/iter_000008.npz", "metrics.jsonl"):
        a, b = (run / name).read_bytes(), (reference / name).read_bytes()
        if name.endswith(".jsonl"):  # elapsed times differ
            a, b = ([{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in x.splitlines()]
                    for x in (a, b))
        assert a == b, name
    for name in ("generator.pt", "discriminator.pt"):
        wa, wb = torch.load(run / name), torch.load(reference / name)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_damaged_file_met_in_training_is_one_line_naming_it(tmp_path, capsys):
    pics = tmp_path / "pics"
    pics.mkdir()
    Image.new("L", (6, 6), 90).save(pics / "a-good.png")
    Image.fromarray(np.arange(36 * 36, dtype=np.uint16).reshape(36, 36).astype(np.uint8)).save(pics / "b-bad.png")
    whole = (pics / "b-bad.png").read_bytes()
    (pics / "b-bad.png").write_bytes(whole[:len(whole) // 2])  # the header reads, the pixels do not
    data = load_image_data(f"folder:{pics}", image_size=8)  # headers only: accepted at start
    with pytest.raises(UsageError, match="b-bad.png"):
        data.images
    # A seed whose one snapshot image is the good file, so the bad one is met by a training batch.
    seed = next(s for s in range(100) if draws_good_snapshot(data, s))

    def train_args(seed, snapshot_size, out):
        return ["train", "--data", f"folder:{pics}", "--image-size", "8", "--width", "4", "--batch-size", "8",
                "--d-steps", "1", "--snapshot-size", str(snapshot_size), "--iterations", "2", "--seed", str(seed),
                "--quiet", "--device", "cpu", "--out", str(out)]
    assert main(train_args(seed, 1, tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "b-bad.png" in err
    run, = (tmp_path / "o").iterdir()
    st = status.read_status(run)
    assert st["state"] == "failed" and "b-bad.png" in st["reason"] and st["resumable"]
    # The snapshot batch is decoded before the run folder exists: a bad file there writes nothing.
    assert main(train_args(seed, 64, tmp_path / "o2")) == 2
    assert "b-bad.png" in capsys.readouterr().err and not (tmp_path / "o2").exists()


def draws_good_snapshot(data, seed):
    """Whether ``seed``'s one-image snapshot batch decodes (it drew the good file)."""
    try:
        snapshot_batch(tiny_config(seed=seed, z_dim=100, snapshot_size=1), data,
                       run_generators(seed, "cpu")["snapshot"], "cpu")
    except UsageError:
        return False
    return True
