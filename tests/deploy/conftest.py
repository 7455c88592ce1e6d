"""Deployment-artefact tests. Registers the `slow` marker here (pyproject's --strict-markers)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds a fresh venv and runs real processes (about a minute); CI runs it"
    )
