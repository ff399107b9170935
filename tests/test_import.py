import nnqft
from nnqft import _core


def test_public_api_present():
    for name in nnqft.__all__:
        assert hasattr(nnqft, name), name
        assert getattr(nnqft, name).__doc__, f"{name} has no docstring"


def test_versions_agree():
    # catches a stale compiled module next to newer Python sources
    assert nnqft.__version__ == _core.__version__
