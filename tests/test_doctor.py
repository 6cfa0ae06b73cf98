"""`dreamstyle doctor` against a real engine on 127.0.0.1 and a temporary HOME."""

from __future__ import annotations

import json
import re
import socket

import pytest

from enginehelp import engine_thread
from host_plugin.cli import main
from host_plugin.commands.doctor import diagnose
from host_plugin.hosts.resolve import utility_scripts_dir


def by_area(checks):
    return {c.area: c for c in checks}


def test_reports_installation_resolve_and_launcher(tmp_path, monkeypatch):
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(tmp_path / "nowhere"))
    checks = by_area(diagnose(home=tmp_path))
    assert checks["dreamstyle"].status == "ok" and checks["package PySide6"].status == "ok"
    assert checks["adapter fcp_xml"].status == "ok"
    assert checks["Resolve scripting"].status == "warn" and "nowhere" in checks["Resolve scripting"].detail
    assert "install.sh" in checks["Resolve launcher"].detail and checks["engine"].status == "warn"

    api = tmp_path / "Scripting"
    (api / "Modules").mkdir(parents=True)
    (api / "Modules" / "DaVinciResolveScript.py").write_text("")
    (tmp_path / "fusionscript.so").write_bytes(b"")
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(api))
    monkeypatch.setenv("RESOLVE_SCRIPT_LIB", str(tmp_path / "fusionscript.so"))
    utility_scripts_dir(tmp_path).mkdir(parents=True)
    (utility_scripts_dir(tmp_path) / "DreamStyle.py").write_text("")
    checks = by_area(diagnose(home=tmp_path, model_dirs=[tmp_path / "no-model"]))
    assert checks["Resolve scripting"].status == "ok" and checks["Resolve launcher"].status == "ok"
    assert checks["model folder"].status == "missing"


def test_engine_backends_and_gpus_come_from_the_engine(tmp_path):
    with engine_thread(tmp_path / "state", [tmp_path]) as address:
        checks = by_area(diagnose(engine=address))
    assert checks["engine"].status == "ok" and "GPU" in checks["engine"].detail
    assert checks["backend classic"].status == "ok" and checks["backend passthrough"].status == "ok"


def test_dead_engine_is_missing_and_fails_the_command(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["doctor", "--format", "json", "--engine", f"127.0.0.1:{port}"]) == 1
    rows = {r["area"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["engine"]["status"] == "missing" and "dreamstyle engine serve" in rows["engine"]["detail"]


def test_a_model_folder_that_does_not_exist_is_named_so(tmp_path):
    (tmp_path / "a file").write_text("")
    (tmp_path / "empty").mkdir()
    folders = [tmp_path / "nonexistent", tmp_path / "a file", tmp_path / "empty"]
    details = [c.detail for c in diagnose(model_dirs=folders) if c.area == "model folder"]
    assert details == [
        f"{tmp_path / 'nonexistent'} does not exist: give --model-dir the folder a model was downloaded to",
        f"{tmp_path / 'a file'} is not a folder: give --model-dir the folder a model was downloaded to",
        f"{tmp_path / 'empty'}: no model_index.json; download a Diffusers-format model",
    ]


def test_every_command_reaching_an_engine_takes_the_same_connection_options(capsys):
    """doctor, farm status and stylize: one --token-file and --tls-ca, said the same way."""
    helps = []
    for command in (["doctor"], ["farm", "status"], ["stylize"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        helps.append(re.findall(r"--(?:token-file|tls-ca) [A-Z_]+ .+?(?= -|$)", text))  # not the usage line
    assert len(helps[0]) == 2 and helps[0] == helps[1] == helps[2]
