"""The command line: version, help with examples, exit codes."""

import pytest

from tlspec import __version__

from conftest import tlspec


def test_version():
    result = tlspec("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tlspec {__version__}"


@pytest.mark.parametrize("command", [[], ["validate"], ["schema"]])
def test_help_has_examples(command):
    result = tlspec(*command, "--help")
    assert result.returncode == 0
    assert "Examples:" in result.stdout
    assert "tlspec " in result.stdout.split("Examples:")[1]


@pytest.mark.parametrize("folder", ["specs/", "docs/examples/"])
def test_validate_example_specs(folder):
    result = tlspec("validate", folder)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith(": valid")


def test_unknown_option_is_a_usage_error():
    result = tlspec("validate", "--frobnicate", "specs/")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
