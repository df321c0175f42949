"""Shared fixtures: the repository root (fixtures and the committed ONNX export live there)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root() -> Path:
    return ROOT
