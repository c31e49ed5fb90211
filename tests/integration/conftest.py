"""Gateways whose inventory points at the real test sshd."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from sshd import SSHServer
from wbtest import PRINCIPAL, host_key, instance_for

from jupyter_workbench.gateway.gateway import Gateway, GatewayConfig
from jupyter_workbench.gateway.inventory import Instance, Inventory

MakeGateway = Callable[..., Gateway]


@pytest_asyncio.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[MakeGateway]:
    """Build gateways over given instances; all are closed after the test."""
    made: list[Gateway] = []

    def make(*instances: Instance, **config: object) -> Gateway:
        settings: dict[str, object] = {
            "data_dir": tmp_path / f"data-{len(made)}",
            "connect_timeout": 3.0,
        }
        settings.update(config)
        config = GatewayConfig(**settings)  # type: ignore[arg-type]
        gateway = Gateway(Inventory(instances), config)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        await gateway.close()


@pytest.fixture
def gateway(make_gateway: MakeGateway, sshd: SSHServer) -> Gateway:
    """A gateway with the shared sshd as instance ``real``, its host key trusted."""
    gateway = make_gateway(instance_for(sshd))
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))
    return gateway
