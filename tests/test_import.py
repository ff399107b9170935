import nnqft
from nnqft import _core


def test_public_api_present():
    for name in nnqft.__all__:
        assert hasattr(nnqft, name), name
        assert getattr(nnqft, name).__doc__, f"{name} has no docstring"


def test_versions_agree():
    # catches a stale compiled module next to newer Python sources
    assert nnqft.__version__ == _core.__version__


def test_no_submodule_is_shadowed_by_a_top_level_name():
    # `nnqft.finite_width` is the function; its module is nnqft.deep_theory. A submodule
    # of a top-level name would be replaced by that name on `from nnqft import ...`.
    import importlib.util
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(nnqft.__path__)}
    assert not modules & set(nnqft.__all__)
    assert importlib.util.find_spec("nnqft.finite_width") is None
    assert nnqft.finite_width is importlib.import_module("nnqft.deep_theory").finite_width
    from nnqft import finite_width

    assert callable(finite_width) and finite_width.__module__ == "nnqft.deep_theory"
