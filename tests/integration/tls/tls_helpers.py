"""The TLS tests' PKI: its CAs and files (made by the `pki` fixture in conftest.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from devservices import CertificateAuthority


@dataclass(frozen=True)
class Pki:
    folder: Path
    server_ca: Path  # what clients trust (FOODTRACE_MQTT_CA_FILE)
    untrusted_ca: Path  # a CA that signed nothing of this broker's
    clients_ca: CertificateAuthority
    stranger_ca: CertificateAuthority  # signs client certificates the broker refuses
    certs_dir: Path  # server.crt, server.key, clients-ca.crt, as the entrypoint writes them

    def client_pair(
        self, common_name: str, *, ca: CertificateAuthority | None = None
    ) -> tuple[Path, Path]:
        """(cert file, key file) for `common_name`, from the clients CA by default."""
        signer = ca or self.clients_ca
        return signer.write_pair(self.folder / "clients", f"{common_name}-{uuid.uuid4().hex[:6]}",
                                 common_name)
