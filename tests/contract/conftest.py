"""Prism mocks are started once per test session per vendor description, and stopped at its end."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.contract.prism import PrismServer


@pytest.fixture(scope="session")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], PrismServer]]:
    servers: dict[str, PrismServer] = {}
    log_dir = tmp_path_factory.mktemp("prism")

    def serve(spec_file: str) -> PrismServer:
        if spec_file not in servers:
            servers[spec_file] = PrismServer(spec_file, log_dir)
        return servers[spec_file]

    yield serve
    for server in servers.values():
        server.stop()
