"""Write the crafted-file corpus: broken or hostile variants of a valid result file.

Run from the repository root (``python tests/data/make_corrupt_files.py [OUT]``, default
tests/data/corrupt). Each file starts from the correlators fixture (correlators_v1.npz)
and breaks one thing: sizes that overflow, metadata that contradicts the arrays, a
decompression bomb, array headers that lie, truncation, bad JSON. tests/test_corpus.py
loads every file (and regenerates the corpus, so it follows the format): each must be
refused with a ValueError naming the problem, never crash or load.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BASE = HERE / "correlators_v1.npz"
DATE = (2026, 1, 1, 0, 0, 0)  # fixed, so the corpus is byte-for-byte reproducible


def read_base() -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(BASE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return json.loads(str(arrays.pop("__meta__"))), arrays


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def write_zip(path: Path, members: dict[str, bytes], compress: bool = False) -> None:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name + ".npy", DATE), data, compress_type=method)


def members_of(meta: dict, arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    out = {"__meta__": npy_bytes(np.array(json.dumps(meta, sort_keys=True)))}
    out.update({name: npy_bytes(arr) for name, arr in arrays.items()})
    return out


def edit(change: Callable[[dict, dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    """A corpus entry that edits the metadata and arrays of the base file."""
    def make(path: Path) -> None:
        meta, arrays = read_base()
        change(meta, arrays)
        write_zip(path, members_of(meta, arrays))
    return make


def raw(change: Callable[[dict[str, bytes]], None], compress: bool = False) -> Callable[[Path], None]:
    """A corpus entry that edits the serialised members of the base file."""
    def make(path: Path) -> None:
        members = members_of(*read_base())
        change(members)
        write_zip(path, members, compress)
    return make


def setter(key: str, value: object) -> Callable[[dict, dict[str, np.ndarray]], None]:
    return lambda meta, arrays: meta.__setitem__(key, value)


def array(name: str, value: object) -> Callable[[dict, dict[str, np.ndarray]], None]:
    return lambda meta, arrays: arrays.__setitem__(name, np.asarray(value))


def element(name: str, index: int, value: object) -> Callable[[dict, dict[str, np.ndarray]], None]:
    def change(meta: dict, arrays: dict[str, np.ndarray]) -> None:
        arrays[name] = arrays[name].copy()
        arrays[name][index] = value
    return change


def both(*changes: Callable[[dict, dict[str, np.ndarray]], None]):
    return lambda meta, arrays: [c(meta, arrays) for c in changes]


def lying_header(members: dict[str, bytes]) -> None:
    # a 7 kB member whose header claims 2^40 doubles (8 TB if allocated first)
    body = members["sums"]
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0))
    header["shape"] = (2**40,)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    members["sums"] = buf.getvalue() + body[len(buf.getvalue()):]


def bomb(members: dict[str, bytes]) -> None:
    # 64 MiB of zeros deflate to ~64 kB: the declared size is bounded before inflating
    header = npy_bytes(np.zeros(0))[:128]
    members["sums"] = header + bytes(64 * 2**20)


def truncated(path: Path) -> None:
    data = BASE.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flipped_byte(path: Path) -> None:
    # one bit of the sums flipped: the zip CRC catches a silent change of a number
    data = bytearray(BASE.read_bytes())
    start = data.index(b"sums.npy") + 200
    data[start] ^= 0x10
    path.write_bytes(bytes(data))


CORPUS: dict[str, Callable[[Path], None]] = {
    # sizes that overflow (width 2^63 with 2 bins wrapped the old size check to 0)
    "width_2_63": edit(both(setter("width", 2**63), setter("n_bins", 2))),
    "width_2_63_bins_64": edit(setter("width", 2**63)),
    "counts_2_63": edit(element("counts", 0, 2**63)),
    "counts_overflow": edit(both(element("counts", 0, 2**63), element("counts", 1, 2**63))),
    "tail_length_huge": edit(element("tail_lengths", 0, 2**62)),
    "level_63": edit(element("levels", 0, 63)),
    "level_negative": edit(element("levels", 0, -1)),
    "index_past_2_64": edit(element("indices", 0, 2**63)),
    "n_bins_not_power": edit(setter("n_bins", 48)),
    "n_bins_2_40": edit(setter("n_bins", 2**40)),
    # members that contradict each other
    "estimator_edited": edit(setter("estimator", "plain")),
    "orders_edited": edit(setter("orders", [2])),
    "format_version_99": edit(setter("format_version", 99)),
    "version_99": edit(setter("version", 99)),
    "kind_unknown": edit(setter("kind", "weights")),
    "ranges_disagree": edit(lambda m, a: m["meta"].__setitem__("ranges", [[0, 64]])),
    "meta_bins_disagree": edit(lambda m, a: m["meta"].__setitem__("n_bins", 32)),
    "key_missing": edit(lambda m, a: m["meta"].pop("key")),
    "levels_float": edit(array("levels", [0.5])),
    "counts_short": edit(lambda m, a: a.__setitem__("counts", a["counts"][:-1])),
    "sums_2d": edit(lambda m, a: a.__setitem__("sums", a["sums"].reshape(2, -1))),
    "shift_wrong": edit(array("shift", [1.0, 2.0])),
    "x_nan": edit(array("x", [[np.nan], [0.0], [1.0]])),
    "x_wrong_dim": edit(array("x", np.zeros((3, 2)))),
    "tails_negative": edit(element("tails", 0, -1.0)),
    "sums_missing": edit(lambda m, a: a.pop("sums")),
    "arch_bad": edit(lambda m, a: m["arch"].__setitem__("width", -4)),
    "arch_not_dict": edit(setter("arch", [1, 2])),
    "orders_huge": edit(setter("orders", [2, 4, 10**30])),
    "object_array": edit(array("counts", np.array([None, 1], dtype=object))),
    # hostile serialisation
    "lying_header": raw(lying_header),
    "bomb": raw(bomb, compress=True),
    "meta_not_object": raw(lambda m: m.__setitem__("__meta__", npy_bytes(np.array("[1, 2]")))),
    "meta_deep": raw(lambda m: m.__setitem__(
        "__meta__", npy_bytes(np.array("[" * 5_000 + "]" * 5_000)))),
    "meta_not_json": raw(lambda m: m.__setitem__("__meta__", npy_bytes(np.array("{kind")))),
    "meta_not_string": raw(lambda m: m.__setitem__("__meta__", npy_bytes(np.zeros(3)))),
    "meta_missing": raw(lambda m: m.pop("__meta__")),
    "member_not_npy": raw(lambda m: m.__setitem__("sums", b"PK not an array")),
    "truncated": truncated,
    "flipped_byte": flipped_byte,
    "empty": lambda path: path.write_bytes(b""),
    "not_zip": lambda path: path.write_bytes(b"\x93NUMPY" + bytes(100)),
}


def main(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in CORPUS.items():
        path = out / f"{name}.npz"
        make(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corrupt")
