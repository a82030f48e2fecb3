"""Former home of the seeded test circuits; they live in :mod:`diodenet.testing`."""

from ...testing import D1N4148_CARD, random_diode_network, random_inputs

__all__ = ["D1N4148_CARD", "random_diode_network", "random_inputs"]
