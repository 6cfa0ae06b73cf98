"""Who may call the engine: bearer tokens on every RPC but health, TLS, and the refusal to serve an
open engine off loopback unless the operator says `--insecure`."""

from __future__ import annotations

import datetime
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import grpc

from dreamstyle import token
from dreamstyle.network import is_loopback

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

log = logging.getLogger(__name__)

__all__ = ["OPEN_METHODS", "TlsFileError", "TokenAuth", "TokenFileError", "UnsafeConfig", "check_exposure",
           "is_loopback", "read_token_file", "server_credentials"]

OPEN_METHODS = ("/grpc.health.v1.Health/",)
_EXPIRY_WARNING = datetime.timedelta(days=14)
_LOG_EVERY_S = 60


class UnsafeConfig(Exception):
    """The engine would be reachable off this machine without TLS and a token, or its token or TLS files
    are unusable (the subclasses)."""


class TokenFileError(UnsafeConfig):
    """The --token-file cannot be read or holds no usable token."""


class TlsFileError(UnsafeConfig):
    """The --tls-cert or --tls-key file is unreadable, does not belong to the other, or is out of date."""


def read_token_file(path: Path) -> str:
    """The token in `path` (see `dreamstyle.token`); TokenFileError says what is wrong with the file."""
    try:
        return token.read_token_file(path)
    except ValueError as exc:
        raise TokenFileError(str(exc)) from None


def check_exposure(host: str, token: str | None, tls: bool, insecure: bool) -> None:
    """Raises UnsafeConfig when `host` is off loopback and TLS or a token is missing, unless `insecure`."""
    if is_loopback(host) or (token and tls):
        return
    if insecure:
        log.warning("serving on %s without TLS or a token: the operator chose --insecure", host)
        return
    missing = " and ".join(name for name, ok in (("TLS (--tls-cert/--tls-key)", tls), ("a token (--token-file)", token)) if not ok)
    raise UnsafeConfig(
        f"refusing to serve on {host} without {missing}: anyone on the network could use this engine. "
        "Give them, bind to 127.0.0.1, or pass --insecure to accept the risk."
    )


def server_credentials(cert: Path, key: Path) -> grpc.ServerCredentials:
    """TLS credentials from PEM files, once `check_tls_files` finds them usable."""
    cert_pem, key_pem = check_tls_files(cert, key)
    return grpc.ssl_server_credentials([(key_pem, cert_pem)])


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsFileError(f"cannot read {flag} {path}: {exc.strerror or exc}") from None


def check_tls_files(cert: Path, key: Path) -> tuple[bytes, bytes]:
    """The PEM bytes of `cert` and `key`, refused when either does not parse, the key is not the
    certificate's, or the certificate is expired or not yet valid; a warning when it expires soon."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    cert_pem, key_pem = _read(cert, "--tls-cert"), _read(key, "--tls-key")
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise TlsFileError(f"--tls-cert {cert} is not a PEM certificate: {exc}") from None
    try:
        private_key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is encrypted
        raise TlsFileError(f"--tls-key {key} is not an unencrypted PEM private key: {exc}") from None
    if private_key.public_key() != certificate.public_key():
        raise TlsFileError(f"--tls-key {key} is not the private key of --tls-cert {cert}: give the key the "
                           "certificate was issued for")
    _check_dates(certificate, cert)
    return cert_pem, key_pem


def _check_dates(certificate: Certificate, path: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if end <= now:
        raise TlsFileError(f"--tls-cert {path} expired on {end:%Y-%m-%d %H:%M} UTC: clients will refuse it; "
                           "renew the certificate")
    if start > now:
        raise TlsFileError(f"--tls-cert {path} is not valid before {start:%Y-%m-%d %H:%M} UTC: check this "
                           "machine's clock or the certificate")
    if end - now < _EXPIRY_WARNING:
        log.warning("--tls-cert %s expires on %s UTC: renew it soon", path, f"{end:%Y-%m-%d %H:%M}")


class TokenAuth(grpc.aio.ServerInterceptor):
    """Rejects calls without `authorization: Bearer <token>`; compares in constant time, never logs it. Each
    refusal is logged (the peer and the method), at most one line per client address a minute."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()
        self._logged: dict[str, tuple[float, int]] = {}  # client address: (last line's time, refusals since)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if details.method.startswith(OPEN_METHODS):
            return await continuation(details)
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        sent = sent.encode() if isinstance(sent, str) else sent
        scheme, _, credentials = sent.strip().partition(b" ")  # RFC 6750: any case, one or more spaces
        if scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._expected):
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None
        deny = self._deny(details.method, "a wrong token" if sent else "no token")
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(deny)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(deny)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(deny)
        return grpc.stream_stream_rpc_method_handler(deny)

    def _deny(self, method: str, sent: str) -> Callable[[object, grpc.aio.ServicerContext], Awaitable[None]]:
        async def deny(request: object, context: grpc.aio.ServicerContext) -> None:
            self._log_refusal(unquote(context.peer()), method, sent)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong engine token (see --token-file)")

        return deny

    def _log_refusal(self, peer: str, method: str, sent: str) -> None:
        """A warning naming `peer` and `method`, unless one was logged for the peer's address this minute."""
        now, address = time.monotonic(), _address(peer)
        last, quiet = self._logged.get(address, (-math.inf, 0))
        if now - last < _LOG_EVERY_S:
            self._logged[address] = (last, quiet + 1)
            return
        if len(self._logged) > 1000:  # many clients: forget those quiet for a minute
            self._logged = {a: seen for a, seen in self._logged.items() if now - seen[0] < _LOG_EVERY_S}
        self._logged[address] = (now, 0)
        more = f" ({quiet} more from {address} not logged since the last line)" if quiet else ""
        log.warning("refused %s from %s: it sent %s; give that client this engine's token (--token-file)%s",
                    method, peer, sent, more)


def _address(peer: str) -> str:
    """The client address of a gRPC peer ("ipv4:10.0.0.5:51234" -> "10.0.0.5", "ipv6:[::1]:5" -> "[::1]")."""
    kind, _, rest = unquote(peer).partition(":")  # newer gRPC escapes the brackets: "ipv6:%5B::1%5D:5"
    if kind not in ("ipv4", "ipv6"):
        return peer
    return rest.rpartition(":")[0] or rest
