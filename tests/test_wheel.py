"""The installed wheel as users get it: portable tags, its license, no Rust toolchain needed."""

from __future__ import annotations

import os
import shutil
from importlib import metadata

import pytest

import faceio


@pytest.fixture
def installed() -> metadata.Distribution:
    if os.environ.get("FACEIO_EXPECT_NO_CARGO") != "1":
        pytest.skip("only meaningful in CI, which installs the wheel with no cargo on PATH")
    return metadata.distribution("faceio")


def test_runs_with_no_rust_toolchain(installed: metadata.Distribution) -> None:
    assert shutil.which("cargo") is None and shutil.which("rustc") is None
    assert "site-packages" in faceio._core.__file__


def test_wheel_is_manylinux2014_abi3(installed: metadata.Distribution) -> None:
    wheel = installed.read_text("WHEEL") or ""
    tags = {line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")}
    assert "cp310-abi3-manylinux_2_17_x86_64" in tags, tags


def test_wheel_carries_its_license(installed: metadata.Distribution) -> None:
    assert installed.metadata["License-Expression"] == "MIT"
    licenses = [f for f in installed.files or [] if f.name == "LICENSE"]
    assert licenses, "LICENSE missing from the installed wheel"
    assert "MIT License" in licenses[0].read_text()
    assert installed.metadata["Keywords"]
