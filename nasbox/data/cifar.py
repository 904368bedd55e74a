"""CIFAR-10: the official python batches read by a restricted unpickler, and a verified, safe download."""

from __future__ import annotations

import hashlib
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from nasbox.data.containers import _Raw
from nasbox.errors import DataError
from nasbox.files import atomic_write

try:
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct as _np_reconstruct  # type: ignore[no-redef]
    from numpy.core.multiarray import scalar as _np_scalar  # type: ignore[no-redef]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"


def default_data_dir() -> Path:
    """Where ``cifar10`` is looked for and downloaded when no ``data_dir`` is given."""
    return Path("~/.cache/nasbox/data").expanduser()


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes, limited to latin-1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _ForbiddenGlobal(f"_codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


class _ForbiddenGlobal(pickle.UnpicklingError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that builds plain data only: numpy arrays, lists, dicts, strings, numbers.

    Pickle runs any callable a file names, so an untrusted pickle is code. This one resolves
    only the globals that numpy array reconstruction needs and refuses every other one
    (``os.system``, ``builtins.eval``, any class) before it is called.
    """

    _ALLOWED: dict[tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
        ("numpy.core.multiarray", "scalar"): _np_scalar,
        ("numpy._core.multiarray", "scalar"): _np_scalar,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"{module}.{name}") from None


def _unpickle_plain(path: Path) -> Any:
    """Unpickle ``path`` with :class:`_PlainDataUnpickler` (``encoding="bytes"``, as the official loader)."""
    try:
        with open(path, "rb") as f:
            return _PlainDataUnpickler(f, encoding="bytes").load()
    except _ForbiddenGlobal as e:
        raise DataError(f"refusing to unpickle {path}: it calls {e.name}, which plain CIFAR-10 data never needs; "
                        f"replace the file with the official one (--download)") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}; check the file and its permissions") from None
    except Exception as e:  # anything else a damaged pickle raises: EOFError, UnpicklingError, ValueError, ...
        raise DataError(f"corrupt CIFAR-10 batch {path}: {type(e).__name__}: {e}; "
                        f"replace the file with the official one (--download)") from None


def _get(record: dict[Any, Any], key: str) -> Any:
    """``record[b"key"]`` or ``record["key"]``: official batches have bytes keys, re-pickled ones str."""
    if key.encode() in record:
        return record[key.encode()]
    return record.get(key)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One official batch as uint8 ``N x 3 x 32 x 32`` images and int64 labels, validated."""
    record = _unpickle_plain(path)

    def corrupt(why: str) -> DataError:
        return DataError(f"corrupt CIFAR-10 batch {path}: {why}; replace the file with the official one (--download)")

    if not isinstance(record, dict):
        raise corrupt(f"expected a dict, found {type(record).__name__}")
    data, labels = _get(record, "data"), _get(record, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise corrupt(f"'data' must be a uint8 N x 3072 array, found {found}")
    if not isinstance(labels, (list, np.ndarray)):
        raise corrupt(f"'labels' must be a list of ints, found {type(labels).__name__}")
    try:
        y = np.asarray(labels)
    except ValueError:
        y = np.asarray([None])
    if y.ndim != 1 or len(y) != len(data) or (len(y) and y.dtype.kind not in "iu"):
        raise corrupt(f"'labels' must be {len(data)} ints, found {len(labels)} of another kind")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise corrupt(f"labels must be 0..9, found {int(y.min())}..{int(y.max())}")
    return data.reshape(-1, 3, 32, 32), y.astype(np.int64)


def _read_cifar_meta(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return CIFAR10_CLASSES
    record = _unpickle_plain(path)
    names = _get(record, "label_names") if isinstance(record, dict) else None
    if not isinstance(names, list) or len(names) != 10 or not all(isinstance(n, (str, bytes)) for n in names):
        raise DataError(f"corrupt CIFAR-10 metadata {path}: 'label_names' must list 10 names; "
                        f"replace the file with the official one (--download)")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)


def _cifar_batch_dir(root: Path) -> Path:
    if root.name == _CIFAR_DIR and (root / _CIFAR_TEST).is_file():
        return root
    return root / _CIFAR_DIR


def _read_cifar10(data_dir: str | Path | None, download: bool) -> _Raw:
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    batch_dir = _cifar_batch_dir(root)
    names = (*_CIFAR_TRAIN, _CIFAR_TEST)
    if download and not all((batch_dir / n).is_file() for n in names):
        _download_cifar10(root)
        batch_dir = _cifar_batch_dir(root)
    missing = [n for n in names if not (batch_dir / n).is_file()]
    if missing:
        if not root.is_dir():
            raise DataError(f"data directory {root} does not exist; pass --data-dir DIR holding {_CIFAR_DIR}/, "
                            f"or add --download to fetch CIFAR-10 into it")
        raise DataError(f"no CIFAR-10 batches in {root}: expected {batch_dir}/data_batch_1 ... data_batch_5 and "
                        f"test_batch (missing {', '.join(missing)}); pass --download, or --data-dir pointing at the "
                        f"folder that holds {_CIFAR_DIR}/")
    parts = [_read_cifar_batch(batch_dir / n) for n in _CIFAR_TRAIN]
    train = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    test = _read_cifar_batch(batch_dir / _CIFAR_TEST)
    classes = _read_cifar_meta(batch_dir / "batches.meta")
    return _Raw(train, test, None, classes, hflip=True, carve_test=False)


def _download_cifar10(root: Path) -> None:
    """Fetch the official archive into ``root`` (unless it is there), verify it and extract it."""
    archive = root / CIFAR10_URL.rsplit("/", 1)[-1]
    if not archive.is_file():
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"cannot create {root}: {e.strerror or e}; pass a writable --data-dir") from None

        def fetch(part: Path) -> None:
            with urllib.request.urlopen(CIFAR10_URL, timeout=60) as response, open(part, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)

        try:
            atomic_write(archive, fetch)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise DataError(f"could not download CIFAR-10 from {CIFAR10_URL}: {reason}; check the network, or "
                            f"download it by hand into {root} and rerun") from None
    _verify_and_extract(archive, CIFAR10_MD5, root)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_and_extract(archive: Path, md5: str, dest: Path) -> None:
    """Check ``archive`` against ``md5``, then extract it into ``dest``, refusing unsafe members.

    Every member must be a regular file or a folder whose path stays inside ``dest`` (no
    absolute path, no ``..``, no links or devices); otherwise nothing is extracted.

    Raises:
        DataError: the checksum differs, the archive is damaged, or a member is unsafe.
    """
    archive, dest = Path(archive), Path(dest)
    got = _md5(archive)
    if got != md5.lower():
        raise DataError(f"checksum mismatch for {archive}: expected MD5 {md5}, got {got}; "
                        f"delete the file and download it again")
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            root = dest.resolve()
            for member in members:
                path = PurePosixPath(member.name)
                unsafe = (path.is_absolute() or member.name.startswith("\\") or ".." in path.parts
                          or ":" in (path.parts[0] if path.parts else "")
                          or not (root / path).resolve().is_relative_to(root))
                if unsafe:
                    raise DataError(f"unsafe archive {archive}: member {member.name!r} would be written outside "
                                    f"{dest}; refusing to extract it, download the official file again")
                if not (member.isfile() or member.isdir()):
                    raise DataError(f"unsafe archive {archive}: member {member.name!r} is not a regular file or "
                                    f"folder; refusing to extract it, download the official file again")
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"cannot extract {archive}: {e}; delete the file and download it again") from None

