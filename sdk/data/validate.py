"""Refuse training data that would silently ruin a model (non-finite or absurd values).

One NaN in a feature makes every gradient NaN, and the run still ends "successfully"
with an all-NaN model; one 1e30 value makes a feature's standard deviation infinite,
so normalisation silently zeroes the whole modality. `check_values` finds the first
such value and names the modality, the sample (its index, group and split) and the
step, so the user can fix or drop that sample before any training starts.
"""
from __future__ import annotations

import numpy as np

from sdk.spec import TOKENS

#: Raw values beyond this magnitude are treated as corrupt: no feature, pixel or PCM
#: sample is on that scale, and its square would overflow float32 statistics.
ABSURD_MAGNITUDE = 1e12


def check_values(dataset) -> None:
    """Raise ValueError naming the first non-finite or absurd value of a float modality."""
    for m in dataset.modalities:
        if m.kind == TOKENS:
            continue
        x = dataset.inputs[m.name]
        if np.issubdtype(x.dtype, np.complexfloating) or not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"{dataset.name}: modality {m.name!r} holds {x.dtype} values; features must be real "
                             "numbers (for complex values store the magnitude, or real and imaginary parts)")
        if not np.issubdtype(x.dtype, np.floating):
            continue
        for start in range(0, len(x), 4096):  # in chunks: a bool mask of a whole waveform set is large
            chunk = x[start : start + 4096]
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(chunk) | (np.abs(chunk) > ABSURD_MAGNITUDE)
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                sample, step = start + index[0], index[1] if len(index) > 1 else 0
                value = float(chunk[index])
                problem = "not finite" if not np.isfinite(value) else f"absurdly large (|x| > {ABSURD_MAGNITUDE:g})"
                where = f"sample {sample} (group {dataset.groups[sample]!r}, split {dataset.split[sample]!r}), step {step}"
                if len(index) > 2:
                    where += f", element {index[2:]}"
                raise ValueError(
                    f"{dataset.name}: modality {m.name!r}, {where}: the value {value:g} is {problem}. "
                    f"Fix or drop that sample, or mark {m.name!r} absent for it (presence 0), then train again"
                )
