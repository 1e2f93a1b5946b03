"""Chromium for the browser tests: Debian's, offline, one address per test (X-Forwarded-For).

Fixtures that override pytest-playwright's: a conftest imports them (e2e/, tests/security/),
since a conftest's fixtures win over a plugin's.
"""

from __future__ import annotations

import os

import pytest

from e2e.fixtures import ShopServer
from e2e.helpers import from_own_address

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Flags from ../shared/OFFLINE.md: headless as root, and no calls to the (closed) network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def base_url(shop_server: ShopServer) -> str:
    return shop_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, **from_own_address()}
