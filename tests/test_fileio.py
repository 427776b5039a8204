import os
import stat

from tfsem.fileio import atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(str(path), "one")
    atomic_write_bytes(str(path), b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(tmp_path / "sub") == ["f.txt"]


def test_atomic_write_gives_normal_file_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(str(tmp_path / "f.json"), "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "f.json").st_mode) == 0o644
