"""Modalities and the one place where template vectors are validated and normalised.

Every vector that enters the matcher (enrolled template or probe) passes through
`normalise_template`, so the index, the exact re-rank and the journal all see the same
float32 unit vectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from matcher.errors import InvalidInputError

FACE = "face"
FINGERPRINT = "fingerprint"

# Template dimension of each modality; fixed by the proto contract.
DIMENSIONS: Mapping[str, int] = MappingProxyType({FACE: 512, FINGERPRINT: 192})

Template = npt.NDArray[np.float32]

# A vector whose norm is within this of 1 is kept as is: float32 rounding of a unit vector
# stays far inside it (about 1e-7 for 512 values), so normalising twice changes nothing.
_UNIT_TOLERANCE = 1e-6


def check_modality(field: str, modality: object) -> str:
    """Returns `modality` when it is a known modality name; raises naming `field` otherwise."""
    if not isinstance(modality, str) or modality not in DIMENSIONS:
        known = ", ".join(sorted(DIMENSIONS))
        raise InvalidInputError(field, f"unknown modality {modality!r} (expected one of {known})")
    return modality


def normalise_template(field: str, modality: str, values: npt.ArrayLike) -> Template:
    """Validates a template and returns it L2-normalised as a read-only float32 vector.

    Rejects a wrong length, non-numeric, NaN or infinite values and the all-zero vector,
    whose direction (and so cosine similarity) is undefined.
    """
    dimension = DIMENSIONS[check_modality("modality", modality)]
    if np.iscomplexobj(values):
        raise InvalidInputError(field, "expected real numbers, got complex values")
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(field, "expected a sequence of numbers") from error
    if vector.ndim != 1:
        raise InvalidInputError(field, f"expected a flat vector, got shape {vector.shape}")
    if vector.shape[0] != dimension:
        raise InvalidInputError(
            field, f"expected {dimension} values for {modality}, got {vector.shape[0]}"
        )
    if not np.all(np.isfinite(vector)):
        raise InvalidInputError(field, "contains NaN or infinite values")
    # Scaling by the largest magnitude first keeps the norm finite for huge finite values.
    scale = float(np.max(np.abs(vector)))
    if scale == 0.0:
        raise InvalidInputError(field, "the all-zero vector has no direction")
    scaled = vector / scale
    scaled_norm = float(np.linalg.norm(scaled))
    if abs(scaled_norm * scale - 1.0) <= _UNIT_TOLERANCE:
        # Already a unit vector: dividing again would only perturb its last bits, and a
        # template must come back bit-identical from the journal.
        unit = vector.astype(np.float32)
    else:
        unit = (scaled / scaled_norm).astype(np.float32)
    unit.flags.writeable = False
    return unit
