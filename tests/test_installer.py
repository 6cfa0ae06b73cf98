"""The macOS/Linux installer: a real environment installed into a temporary HOME, every file placed and then
removed. Offline: the wheel is built from a copy of this tree and installed with pip's --no-deps/--no-index."""

from __future__ import annotations

import os
import py_compile
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_plugin.hosts.resolve import utility_scripts_dir

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "installer" / "install.sh"


def tree(path: Path) -> set[str]:
    """Every file and folder under `path`, except inside the environment (pip owns that)."""
    out = set()
    for root, dirs, files in os.walk(path):
        rel = Path(root).relative_to(path)
        out |= {str(rel / n) for n in dirs + files}
        dirs[:] = [d for d in dirs if d != "venv"]
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The product's wheel, built from a copy of its sources so the working tree stays untouched."""
    copy = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("host_plugin", "engine", "dreamstyle", "installer"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", copy)
    (copy / "README.md").write_text("DreamStyle\n")
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(copy)], check=True, timeout=240)
    return next(wheels.glob("dreamstyle-*.whl"))


def run(*args: str, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "VIRTUAL_ENV", "PYTHON"))}
    env |= {"HOME": str(home), "PATH": "/usr/bin:/bin", "DREAMSTYLE_PIP_ARGS": "--no-deps --no-index"}
    return subprocess.run(["sh", str(INSTALL), *args], env=env, capture_output=True, text=True, timeout=240, cwd=cwd)


def fake_python(folder: Path) -> Path:
    """Stands in for python3 (no environment, pip or panel): `-m venv DIR` makes DIR/bin/python, which skips
    pip (writing its arguments to pip.log beside this script, one a line), prints 'panel started' for the panel
    and runs this Python for anything else."""
    script = folder / "fakepy"
    script.write_text(f"""#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  cp "$0" "$3/bin/python"; exit 0
fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then printf '%s\n' "$@" >> "{folder / 'pip.log'}"; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "dreamstyle.cli" ]; then echo "panel started from $(pwd)"; exit 0; fi
exec "{sys.executable}" "$@"
""")
    script.chmod(0o755)
    return script


@pytest.mark.skipif(sys.platform == "win32", reason="install.ps1 covers Windows")
def test_install_places_every_file_and_uninstall_removes_them(tmp_path, source):
    home = tmp_path / "home"
    home.mkdir()
    prefix = home / "My Apps" / "DreamStyle"
    done = run("--prefix", str(prefix), "--python", sys.executable, "--source", str(source), home=home)
    assert done.returncode == 0, done.stderr

    scripts = utility_scripts_dir(home)
    launcher = scripts / "DreamStyle.py"
    python = prefix / "venv" / "bin" / "python"
    rel = lambda p: str(p.relative_to(home))  # noqa: E731
    parents = {rel(p) for p in launcher.parents if home in p.parents}
    assert tree(home) == parents | {"My Apps", rel(prefix), rel(prefix / "venv"), rel(launcher),
                                    rel(prefix / "install-manifest.txt")}
    assert (prefix / "venv" / "bin" / "dreamstyle").is_file()
    text = launcher.read_text()
    assert f'PYTHON = r"{python}"' in text and f'LOG = r"{prefix / "panel.log"}"' in text and "@" not in text
    py_compile.compile(str(launcher), cfile=str(tmp_path / "launcher.pyc"), doraise=True)
    find = "import importlib.util as u; print(u.find_spec('host_plugin.hosts.resolve').origin)"  # deps not installed
    check = subprocess.run([str(python), "-c", find],
                           capture_output=True, text=True, env={"HOME": str(home)}, cwd=tmp_path)
    assert str(prefix / "venv") in check.stdout, check.stderr
    assert "Workspace > Scripts > Utility > DreamStyle" in done.stdout

    # This offline install has no dependencies: Resolve's console says the panel cannot start (it had said
    # "the panel is starting" and the panel stopped at once, saying why only in its log).
    said = subprocess.run(["python3", str(launcher)], check=True, timeout=30, capture_output=True, text=True,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert said.stdout == ("DreamStyle: the panel is not installed in its environment (ModuleNotFoundError: "
                           "No module named 'PySide6'); run the installer again.\n")
    assert not (prefix / "panel.log").exists()
    undone = run("--uninstall", "--prefix", str(prefix), home=home)
    assert undone.returncode == 0, undone.stderr
    assert tree(home) == set() and not (prefix / "venv").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="install.ps1 covers Windows")
def test_relative_folders_are_made_absolute(tmp_path):
    """Resolve runs the launcher from its own folder, and an uninstall may run from another one."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    python = fake_python(tmp_path)
    done = run("--prefix", "./ds", "--scripts-dir", "resolve/Utility", "--python", str(python), home=home, cwd=work)
    assert done.returncode == 0, done.stderr
    prefix, launcher = work / "ds", work / "resolve" / "Utility" / "DreamStyle.py"
    text = launcher.read_text()
    assert f'PYTHON = r"{prefix / "venv" / "bin" / "python"}"' in text and f'LOG = r"{prefix / "panel.log"}"' in text
    entries = (prefix / "install-manifest.txt").read_text().splitlines()
    assert entries and all(Path(line.split(" ", 1)[1]).is_absolute() for line in entries), entries
    assert f"{prefix}/venv/bin/dreamstyle doctor" in done.stdout

    subprocess.run([sys.executable, str(launcher)], check=True, timeout=30, cwd="/")
    for _ in range(200):
        if (prefix / "panel.log").exists() and "panel started" in (prefix / "panel.log").read_text():
            break
        time.sleep(0.05)
    assert f"panel started from {prefix}" in (prefix / "panel.log").read_text()

    undone = run("--uninstall", "--prefix", str(prefix), home=home, cwd=tmp_path)
    assert undone.returncode == 0, undone.stderr
    assert tree(work) == set()


@pytest.mark.skipif(sys.platform == "win32", reason="install.ps1 covers Windows")
def test_what_the_user_had_is_never_replaced_nor_removed(tmp_path):
    """An environment or Resolve launcher the installer did not place stops the install before anything
    changes; a panel.log that was there stays after uninstalling; re-installing over its own install works."""
    home = tmp_path / "home"
    prefix, python = home / "tools", fake_python(tmp_path)
    (prefix / "venv").mkdir(parents=True)
    (prefix / "venv" / "notes.txt").write_text("precious\n")
    launcher = utility_scripts_dir(home) / "DreamStyle.py"
    launcher.parent.mkdir(parents=True)
    launcher.write_text("# my launcher\n")
    before = tree(home)

    refused = run("--prefix", str(prefix), "--python", str(python), home=home)
    assert refused.returncode == 1 and refused.stderr == (
        f"install.sh: {prefix / 'venv'} already exists and this installer did not place it; it is left alone: "
        "move it away, or install into another folder with --prefix DIR\n")
    (prefix / "venv").rename(prefix / "my-venv")
    refused = run("--prefix", str(prefix), "--python", str(python), home=home)
    assert refused.returncode == 1 and f"{launcher} already exists and this installer did not place it" in refused.stderr
    assert "--scripts-dir DIR" in refused.stderr
    assert tree(home) == before - {"tools/venv"} | {"tools/my-venv", "tools/my-venv/notes.txt"}, "nothing changed"
    assert launcher.read_text() == "# my launcher\n"

    (prefix / "panel.log").write_text("my own log\n")
    scripts = tmp_path / "resolve scripts"
    for _ in range(2):  # the second run upgrades its own install
        done = run("--prefix", str(prefix), "--scripts-dir", str(scripts), "--python", str(python), home=home)
        assert done.returncode == 0, done.stderr
    entries = (prefix / "install-manifest.txt").read_text().splitlines()
    assert len(entries) == len(set(entries)) and f"file {prefix / 'panel.log'}" not in entries
    undone = run("--uninstall", "--prefix", str(prefix), home=home)
    assert undone.returncode == 0, undone.stderr
    assert not (prefix / "venv").exists() and not scripts.exists()
    assert (prefix / "panel.log").read_text() == "my own log\n" and launcher.read_text() == "# my launcher\n"
    assert (prefix / "my-venv" / "notes.txt").read_text() == "precious\n"


def test_uninstall_without_install_says_so(tmp_path):
    done = run("--uninstall", "--prefix", str(tmp_path / "none"), home=tmp_path)
    assert done.returncode == 1 and "nothing to uninstall" in done.stderr


def test_unknown_option_prints_usage(tmp_path):
    done = run("--frobnicate", home=tmp_path)
    assert done.returncode == 2 and "--uninstall" in done.stdout and "unknown option" in done.stderr


def test_windows_installer_mirrors_the_shell_installer():
    ps1 = (ROOT / "installer" / "install.ps1").read_text()
    for needle in ("DreamStyle.py", "@PYTHON@", "@LOG@", "install-manifest.txt", "Uninstall",
                   "Blackmagic Design\\DaVinci Resolve\\Support\\Fusion\\Scripts\\Utility", "DREAMSTYLE_PIP_ARGS"):
        assert needle in ps1


@pytest.mark.parametrize("args", [["--prefix"], ["--prefix", "--uninstall"], ["--python", "--extras", "host"]])
def test_an_option_without_its_value_is_refused(tmp_path, args):
    """`--prefix --uninstall` had installed into a folder named --uninstall."""
    done = run(*args, home=tmp_path, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr == f"install.sh: {args[0]} needs a value\n"
    assert tree(tmp_path) == set()


@pytest.mark.skipif(sys.platform == "win32", reason="install.ps1 covers Windows")
def test_an_unwritable_scripts_folder_or_an_old_python_stops_before_anything(tmp_path):
    """A read-only Resolve Scripts folder had failed with a traceback after the environment was built; a Python
    older than 3.10 (macOS's own python3) had made an environment that re-running with a newer one kept."""
    from readonly import read_only

    home, python = tmp_path / "home", fake_python(tmp_path)
    scripts = utility_scripts_dir(home)
    scripts.mkdir(parents=True)
    with read_only(scripts):
        refused = run("--python", str(python), home=home)
    assert refused.returncode == 1 and refused.stderr == (
        f"install.sh: {scripts} cannot be written: "
        "put DreamStyle's launcher in another folder with --scripts-dir DIR\n")
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\nexit 1\n")  # fails the version check as Python 3.9 does
    old.chmod(0o755)
    for python in (old, tmp_path / "missing"):
        refused = run("--python", str(python), home=home)
        assert refused.returncode == 1 and refused.stderr == (
            f"install.sh: DreamStyle needs Python 3.10 or later, which {python} is not: choose one with --python PY\n")
    assert tree(home) == {str(p.relative_to(home)) for p in [scripts, *scripts.parents] if home in p.parents}


@pytest.mark.skipif(sys.platform == "win32", reason="install.ps1 covers Windows")
def test_an_environment_whose_python_is_gone_is_made_anew(tmp_path, source):
    """The launcher says to run the installer again when the environment's Python is gone (a Homebrew upgrade
    removes the old one): `python -m venv` over it had kept the dangling link and failed."""
    home = tmp_path / "home"
    home.mkdir()
    python = home / ".local" / "share" / "dreamstyle" / "venv" / "bin" / "python"
    for _ in range(2):
        done = run("--python", sys.executable, "--source", str(source), home=home)
        assert done.returncode == 0, done.stderr
        found = subprocess.run([str(python), "-c", "import dreamstyle.cli"], capture_output=True, text=True)
        assert found.returncode == 0, found.stderr
        link = next(p for p in python.parent.iterdir() if p.is_symlink() and os.path.isabs(os.readlink(p)))
        link.unlink()
        link.symlink_to(tmp_path / "gone" / link.name)
    assert run("--uninstall", home=home).returncode == 0 and tree(home) == set()


@pytest.mark.parametrize("extras", ["host,panel,engine", "host,ml", "detect", "all"])
def test_torch_is_pinned_with_the_extras_that_take_it(tmp_path, extras):
    """pip had taken the newest torch; DreamStyle is tested with 2.13.0 (README's set-up)."""
    home, python = tmp_path / "home", fake_python(tmp_path)
    done = run("--python", str(python), "--extras", extras, home=home)
    assert done.returncode == 0, done.stderr
    pip = (tmp_path / "pip.log").read_text().splitlines()
    spec = f"{ROOT}[{extras}]"
    assert pip[-1] == spec if extras == "host,panel,engine" else pip[-2:] == [spec, "torch==2.13.0"]
