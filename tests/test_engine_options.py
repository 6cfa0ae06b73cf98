"""--engine, --tls-ca and an engine that does not answer, for every command that connects: usage and setting
errors in words that name the option and fit the command, before any connection is tried."""

from __future__ import annotations

import socket

import pytest

from host_plugin.cli import main
from host_plugin.commands.options import engine_address

GOOD_ADDRESSES = ["gpu-box:50051", "127.0.0.1:1", "localhost:65535", "[::1]:50051", "[2001:db8::7]:443"]
BAD_ADDRESSES = ["127.0.0.1:99999", "localhost", "127.0.0.1:0", "[::1]", "::1:50051", "[nothost]:50051",
                 "gpu box:50051", "host:", ":50051", "host:5o051"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("address", GOOD_ADDRESSES)
def test_host_port_addresses_are_taken_as_written(address):
    assert engine_address(address) == address


@pytest.mark.parametrize("command", [["stylize", "edit.otio"], ["doctor"], ["farm", "status"], ["panel"]])
@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_an_address_without_a_usable_port_is_a_usage_error(command, address, capsys):
    """gRPC would dial port 443 for `localhost` and wrap 99999 round to another port."""
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--engine", address])
    assert exit_.value.code == 2
    assert f"argument --engine: {address!r} is not HOST:PORT with a port 1-65535" in capsys.readouterr().err


def test_a_tls_ca_that_cannot_be_read_is_named(tmp_path, capfd):
    missing = tmp_path / "nofile.pem"
    assert main(["farm", "status", "--tls-ca", str(missing)]) == 2
    assert capfd.readouterr().err == f"dreamstyle: error: cannot read --tls-ca {missing}: No such file or directory\n"


@pytest.mark.parametrize("content", ["hello\n", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"])
def test_a_tls_ca_without_a_pem_certificate_is_refused_before_connecting(tmp_path, capfd, content):
    """Not "its certificate is not signed by --tls-ca", and no gRPC log line about the file."""
    ca = tmp_path / "ca.pem"
    ca.write_text(content)
    assert main(["farm", "status", "--engine", f"127.0.0.1:{free_port()}", "--tls-ca", str(ca)]) == 2
    assert capfd.readouterr().err == (f"dreamstyle: error: --tls-ca {ca} holds no PEM certificate (-----BEGIN "
                                      "CERTIFICATE-----): give the engine's certificate, or the CA certificate that "
                                      "signed it\n")


def test_farm_status_without_an_engine_says_what_fits_farm_status(capsys):
    address = f"127.0.0.1:{free_port()}"
    assert main(["farm", "status", "--engine", address]) == 2
    err = capsys.readouterr().err
    assert f"no engine answers at {address}: start the engine that runs the farm" in err and "give --engine its HOST:PORT" in err
    assert "local engine" not in err and "without --engine" not in err



def test_a_tls_ca_with_text_around_its_certificate_is_taken(tmp_path, capfd):
    """`openssl pkcs12` writes "Bag Attributes" (any language) before each certificate: still a CA file."""
    from test_engine_security import self_signed

    cert, _ = self_signed(tmp_path)
    ca = tmp_path / "bundle.pem"
    ca.write_bytes("Bag Attributes\n    friendlyName: Zürich CA\n".encode() + cert.read_bytes())
    assert main(["farm", "status", "--engine", f"127.0.0.1:{free_port()}", "--tls-ca", str(ca)]) == 2
    err = capfd.readouterr().err
    assert "no engine answers" in err and "holds no PEM certificate" not in err
