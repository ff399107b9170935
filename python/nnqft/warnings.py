"""Warnings emitted by nnqft (all subclass :class:`NNQFTWarning`)."""

from __future__ import annotations

__all__ = ["NNQFTWarning", "UnreliableErrorWarning", "FewBinsWarning"]


class NNQFTWarning(RuntimeWarning):
    """Base class of every nnqft warning."""


class UnreliableErrorWarning(NNQFTWarning):
    """Error bars that cannot be trusted (heavy tails, too few effective samples)."""


class FewBinsWarning(NNQFTWarning):
    """Too few filled jackknife bins for a reliable covariance."""
