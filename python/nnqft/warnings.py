"""Warnings emitted by nnqft (all subclass :class:`NNQFTWarning`)."""

from __future__ import annotations

__all__ = ["CheckpointWarning", "FewBinsWarning", "IntegrationWarning",
           "NNQFTDeprecationWarning", "NNQFTWarning", "UnreliableErrorWarning"]


class NNQFTWarning(RuntimeWarning):
    """Base class of every nnqft warning."""


class UnreliableErrorWarning(NNQFTWarning):
    """Error bars that cannot be trusted (heavy tails, too few effective samples)."""


class FewBinsWarning(NNQFTWarning):
    """Too few filled jackknife bins for a reliable covariance."""


class NNQFTDeprecationWarning(NNQFTWarning, DeprecationWarning):
    """A name that still works but will go: the message names its replacement."""


class CheckpointWarning(NNQFTWarning):
    """A checkpoint chunk file that could not be used (corrupt or truncated): it is recomputed."""


class IntegrationWarning(NNQFTWarning):
    """A quadrature stopped at its node budget before reaching the requested accuracy."""
