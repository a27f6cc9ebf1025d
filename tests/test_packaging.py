"""The wheel (what a cluster installs) holds every module and data file of the tree.

setup.cfg maps ``citybrain.jobs`` -> ``jobs/`` (and so on) and lists the packages by hand; a
new folder missing from that list imports in the editable install but not from the wheel.
"""

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_FILES = ("*.toml", "*.j2", "*.json")


def _package_dirs() -> dict[str, str]:
    """{folder in the tree: its path inside the wheel}, from setup.cfg's package_dir."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    pairs = [line.split("=") for line in config["options"]["package_dir"].strip().splitlines()]
    return {folder.strip(): package.strip().replace(".", "/") for package, folder in pairs}


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    """The wheel built from a clean copy of the tree (a build/ folder left in the checkout
    would carry modules into the wheel that the package list no longer names)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    uv = Path(sys.executable).with_name("uv")
    command = (
        [str(uv), "build", "--wheel", "-o", str(out), str(source)]
        if uv.exists()
        else [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)]
    )
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("citybrain-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def _files_of(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return [p for pattern in patterns for p in folder.rglob(pattern) if "__pycache__" not in p.parts and ".venv" not in p.parts]


def test_every_module_is_in_the_wheel(wheel_names):
    missing = []
    for folder, inside in _package_dirs().items():
        for module in _files_of(ROOT / folder, ("*.py",)):
            if f"{inside}/{module.relative_to(ROOT / folder).as_posix()}" not in wheel_names:
                missing.append(str(module.relative_to(ROOT)))
    assert missing == [], f"in the tree but not in the wheel (add the folder to setup.cfg's packages): {missing}"


def test_every_data_file_is_in_the_wheel(wheel_names):
    missing = []
    for folder, inside in _package_dirs().items():
        for data in _files_of(ROOT / folder, DATA_FILES):
            if f"{inside}/{data.relative_to(ROOT / folder).as_posix()}" not in wheel_names:
                missing.append(str(data.relative_to(ROOT)))
    assert missing == [], f"data files missing from the wheel (setup.cfg's package_data): {missing}"
