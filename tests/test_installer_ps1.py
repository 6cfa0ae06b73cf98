"""The Windows installer, without PowerShell: install.ps1 parsed with tree-sitter's PowerShell grammar must be
free of syntax errors, and must install what install.sh (executed in test_installer.py) installs."""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath

import pytest

from host_plugin.hosts.resolve import utility_scripts_dir

tree_sitter = pytest.importorskip("tree_sitter")
tree_sitter_powershell = pytest.importorskip("tree_sitter_powershell")

ROOT = Path(__file__).resolve().parents[1]
PS1, SH, TEMPLATE = (ROOT / "installer" / name for name in ("install.ps1", "install.sh", "DreamStyle.py"))

Node = tree_sitter.Node


def parse(source: bytes) -> Node:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    return parser.parse(source).root_node


def walk(node: Node, type_: str | None = None) -> Iterator[Node]:
    """`node` and everything under it (of one type when `type_` is given), in source order."""
    if type_ is None or node.type == type_:
        yield node
    for child in node.children:
        yield from walk(child, type_)


def text(node: Node) -> str:
    return node.text.decode()


def problems(root: Node) -> list[str]:
    """Every ERROR or MISSING node as `line L, column C: ...` (1-based)."""
    return [f"line {n.start_point[0] + 1}, column {n.start_point[1] + 1}: "
            + (f"missing {n.type}" if n.is_missing else f"cannot parse {text(n)[:60]!r}")
            for n in walk(root) if n.is_error or n.is_missing]


def commands(root: Node) -> list[tuple[str, list[str]]]:
    """Each command under `root`: its name and its arguments as written (parameters included)."""
    out = []
    for command in walk(root, "command"):
        elements = command.child_by_field_name("command_elements")
        args = [text(c) for c in (elements.children if elements else []) if c.type != "command_argument_sep"]
        out.append((text(command.child_by_field_name("command_name")), args))
    return out


def unquote(literal: str) -> str:
    return literal[1:-1] if literal[:1] in "\"'" and literal[-1:] == literal[:1] else literal


@pytest.fixture(scope="module")
def ps1() -> Node:
    return parse(PS1.read_bytes())


@pytest.fixture(scope="module")
def params(ps1: Node) -> dict[str, tuple[str, str]]:
    """The script's parameters: name -> (type, default as written)."""
    out = {}
    for param in walk(next(walk(ps1, "param_block")), "script_parameter"):
        default = next(walk(param, "script_parameter_default"), None)
        out[text(next(walk(param, "variable")))] = (text(next(walk(param, "attribute_list"))),
                                                    text(default).lstrip("= ").strip() if default else "")
    return out


def part(node: Node, type_: str) -> Node:
    """The direct child of one type (a method call's member name or argument list, not a nested call's)."""
    return next(c for c in node.children if c.type == type_)


def function(ps1: Node, name: str) -> Node:
    return next(f for f in walk(ps1, "function_statement") if text(next(walk(f, "function_name"))) == name)


def test_install_ps1_parses_without_errors(ps1):
    found = problems(ps1)
    assert not found, f"{PS1} does not parse:\n" + "\n".join(found)


@pytest.mark.parametrize("broken", ['function f( { }', 'if ($a { 1 }', '$x = "abc', '$a = @(1, 2', 'Write-Host "x" }'])
def test_the_parser_catches_broken_powershell(broken):
    assert problems(parse(f"Write-Host ok\n{broken}\n".encode()))[0].startswith("line 2")


def test_same_launcher_in_resolves_windows_utility_folder(ps1, params, monkeypatch):
    sh, calls = SH.read_text(), commands(ps1)
    assert 'launcher="$scripts/DreamStyle.py"' in sh and '"$here/DreamStyle.py"' in sh
    assert ("Join-Path", ["$ScriptsDir", '"DreamStyle.py"']) in calls
    assert ("Join-Path", ["$PSScriptRoot", '"DreamStyle.py"']) in calls  # the template beside the script

    kind, default = params["$ScriptsDir"]
    name, (base, folder) = commands(parse(default.encode()))[0]
    assert (kind, name, base) == ("[string]", "Join-Path", "$env:APPDATA")
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", "/appdata")
    assert PureWindowsPath(unquote(folder)).parts == utility_scripts_dir().relative_to("/appdata").parts

    replaced = {unquote(text(next(walk(part(call, "argument_list"), "string_literal"))))
                for call in walk(ps1, "invokation_expression") if text(part(call, "member_name")) == "Replace"}
    assert replaced == set(re.findall(r"@[A-Z]+@", TEMPLATE.read_text())) == {"@PYTHON@", "@LOG@"}


def test_same_pip_extras_and_options(ps1, params):
    sh = SH.read_text()
    sh_extras = re.search(r"^extras=(\S+)$", sh, re.MULTILINE)[1]
    assert params["$Extras"] == ("[string]", f'"{sh_extras}"')
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(sh_extras.split(",")) <= defined.keys()
    assert '"$Source[$Extras]"' in {text(s) for s in walk(ps1, "string_literal")}
    assert 'spec="$source_spec[$extras]"' in sh
    pip = [args for name, args in commands(ps1) if args[:3] == ["-m", "pip", "install"]]
    assert len(pip) == 1 and pip[0][-3:] == ["@pipArgs", "$spec", "@torch"]
    assert 'torch=torch==2.13.0' in sh and "*,ml,*|*,detect,*|*,all,*)" in sh
    torch = assigned(function(ps1, "Install-DreamStyle"), "$torch")
    assert '"torch==2.13.0"' in torch and '@("ml", "detect", "all")' in torch and "$Extras -split" in torch
    assert "$env:DREAMSTYLE_PIP_ARGS" in {text(v) for v in walk(ps1, "variable")} and "DREAMSTYLE_PIP_ARGS" in sh


def test_same_manifest_and_an_uninstall_path(ps1, params):
    sh, calls = SH.read_text(), commands(ps1)
    assert 'manifest="$prefix/install-manifest.txt"' in sh
    assert ("Join-Path", ["$Prefix", '"install-manifest.txt"']) in calls
    written = {unquote(args[0]) for name, args in calls if name == "Add-Entry"}
    assert written == set(re.findall(r'record "(\w+) ', sh)) == {"dir", "tree", "file"}

    assert params["$Uninstall"][0] == "[switch]" and "--uninstall) action=uninstall" in sh
    entry = [s for s in walk(ps1, "if_statement") if s.parent.parent == ps1][-1]  # the script's last statement
    assert [name for name, _ in commands(entry)] == ["Uninstall-DreamStyle", "Install-DreamStyle"]
    assert text(entry.child_by_field_name("condition")) == "$Uninstall"
    uninstall = function(ps1, "Uninstall-DreamStyle")
    handled = {unquote(text(s)) for s in walk(uninstall, "string_literal")}
    assert written <= handled and "Remove-Item" in {name for name, _ in commands(uninstall)}


def condition(statement: Node) -> str:
    """An if statement's condition, as written."""
    return text(next(c for c in statement.children if c.type == "pipeline"))


def test_refuses_to_install_over_what_it_did_not_place(ps1):
    """As install.sh: an environment or launcher that is there but not in the manifest is the user's, and stops
    the install before anything is made (an uninstall would delete it); one the manifest lists is a re-install."""
    sh = SH.read_text()
    assert 'refuse_foreign tree "$venv"' in sh and 'refuse_foreign file "$launcher"' in sh
    install = function(ps1, "Install-DreamStyle")
    names = [name for name, _ in commands(install)]
    guarded = [args[:2] for name, args in commands(install) if name == "Assert-NotForeign"]
    assert guarded == [['"tree"', "$Venv"], ['"file"', "$launcher"]]
    assert names.index("Assert-NotForeign") < names.index("New-TrackedDirectory"), "checked before anything is made"

    refuse = function(ps1, "Assert-NotForeign")
    (check,) = walk(refuse, "if_statement")
    assert condition(check) == "(Test-Path -LiteralPath $Path) -and -not (Test-Placed $Kind $Path)"
    said = text(next(walk(check, "invokation_expression")))
    assert said.startswith("$host.UI.WriteErrorLine(") and "$Path" in said and "$Advice" in said
    assert text(check).rstrip().endswith("exit 1\n    }")
    assert commands(function(ps1, "Test-Placed")) == [("Get-Entries", [])]


def test_the_manifest_lists_only_what_the_install_created(ps1):
    """Each entry once (re-installs append nothing twice); the panel's log only when the install is first there."""
    assert 'record() { placed "$1" ||' in SH.read_text() and '[ -e "$log" ] || record "file $log"' in SH.read_text()
    add = function(ps1, "Add-Entry")
    (once,) = walk(add, "if_statement")
    assert condition(once) == "-not (Test-Placed $Kind $Path)"
    assert [name for name, _ in commands(once)] == ["Test-Placed", "Add-Content"]
    log = [s for s in walk(function(ps1, "Install-DreamStyle"), "if_statement") if "$log" in condition(s)]
    assert len(log) == 1 and condition(log[0]) == "-not (Test-Path -LiteralPath $log)"
    assert commands(log[0]) == [("Test-Path", ["-LiteralPath", "$log"]), ("Add-Entry", ['"file"', "$log"])]


def assignments(root: Node) -> list[tuple[str, str]]:
    """Each `$left = right` under `root`, in source order, as written (comments left out)."""
    return [(text(a.children[0]), text(a.children[2]).strip()) for a in walk(root, "assignment_expression")]


def assigned(root: Node, name: str) -> str:
    return next(right for left, right in assignments(root) if left == name)


def test_folders_are_made_absolute_before_use(ps1):
    """As install.sh's `absolute`: the launcher and the manifest must not depend on the folder the script
    ran from. From PowerShell's location (GetFullPath would use the process's), existing or not."""
    sh = SH.read_text()
    assert 'prefix=$(absolute "$prefix")' in sh and 'scripts=$(absolute "$scripts")' in sh
    order = [left for left, _ in assignments(ps1)]
    for name in ("$Prefix", "$ScriptsDir"):
        assert assigned(ps1, name) == (
            f"$ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath({name})")
        assert order.index(name) < order.index("$Manifest") < order.index("$Venv")


def test_launcher_is_utf8_without_a_byte_order_mark(ps1):
    """Windows PowerShell 5.1's Set-Content -Encoding UTF8 starts the file with a BOM; Resolve runs the launcher."""
    assert "Set-Content" not in {name for name, _ in commands(ps1)}
    install = function(ps1, "Install-DreamStyle")
    writes = [call for call in walk(install, "invokation_expression")
              if text(part(call, "member_name")) == "WriteAllText"]
    assert len(writes) == 1 and text(writes[0]).startswith("[System.IO.File]::WriteAllText(")
    path, content, encoding = (text(a) for a in walk(part(writes[0], "argument_list"), "variable"))
    assert (path, content) == ("$launcher", "$text")
    assert assigned(ps1, encoding) == "New-Object System.Text.UTF8Encoding $false"
    template = [args for name, args in commands(install) if name == "Get-Content"]
    assert template and template[0][template[0].index("-Encoding") + 1] == "UTF8"


def test_manifest_is_written_and_read_as_utf8(ps1):
    used = [args for name, args in commands(ps1) if name in ("Add-Content", "Get-Content") and "$Manifest" in args]
    assert len(used) == 2 and all(args[args.index("-Encoding") + 1] == "UTF8" for args in used)


def test_last_words_name_the_command_by_its_full_path(ps1):
    """The environment's Scripts folder is not on PATH: `dreamstyle doctor` alone would not be found."""
    assert 'echo "Check the set-up with: $venv/bin/dreamstyle doctor"' in SH.read_text()
    said = [args[0] for name, args in commands(function(ps1, "Install-DreamStyle")) if name == "Write-Host"]
    assert said[-1] == '"Check the set-up with: & `"$command`" doctor"'
    assert assigned(ps1, "$command") == 'Join-Path $Venv "Scripts\\dreamstyle.exe"'


def test_errors_are_not_written_with_write_error(ps1):
    """With $ErrorActionPreference = "Stop", Write-Error throws before the `exit 1` after it."""
    assert assigned(ps1, "$ErrorActionPreference") == '"Stop"'
    assert "Write-Error" not in {name for name, _ in commands(ps1)}


def test_an_old_python_stops_before_anything_and_another_one_makes_the_environment_anew(ps1):
    """As install.sh: Python 3.9 had made an environment that failed in pip and that a re-run with a newer
    Python kept; an environment whose Python is gone or of another version is made with --clear."""
    sh = SH.read_text()
    check = "import sys; sys.exit(sys.version_info < (3, 10))"
    assert f"\"$python\" -c '{check}'" in sh and '"$python" -m venv $clear "$venv"' in sh
    install = function(ps1, "Install-DreamStyle")
    calls = commands(install)
    names = [name for name, _ in calls]
    assert ("$Python", ["-c", f'"{check}"']) in calls
    assert names.index("$Python") < names.index("New-TrackedDirectory"), "checked before anything is made"
    (refused,) = [s for s in walk(install, "if_statement") if condition(s) == "$LASTEXITCODE" and "exit 1" in text(s)]
    assert "needs Python 3.10 or later" in text(refused) and "-Python PY" in text(refused)
    assert ("$Python", ["-m", "venv", "@clear", "$Venv"]) in calls
    assert assigned(install, "$version") == '"import sys; print(sys.version_info[:2])"'
    (anew,) = [s for s in walk(install, "if_statement") if "$clear" in text(s)]
    assert condition(anew) == ("(Test-Path -LiteralPath $venvPython) -and "
                               "((& $venvPython -c $version) -ne (& $Python -c $version))")
    assert assignments(anew) == [("$clear", '@("--clear")')]
