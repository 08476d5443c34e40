"""What a run's main process needs of the learn layer before it predicts anything: no numpy.

The formats' version numbers and :class:`ModelError`, so that opening a model
whose numpy form is cached (:mod:`batchdigits.learn.modelref`) and a run that
reads no file (an empty folder, an unchanged ``--incremental`` rerun) import
neither numpy nor scikit-learn.  :mod:`batchdigits.learn.model` and
:mod:`batchdigits.learn.arrays` export the same names.
"""

from __future__ import annotations

MODEL_FORMAT = 4  # 3: pen-stroke training grids, calibrated confidence; 4: confidence from the signals
ARRAYS_FORMAT = 2  # 2: the "signals" calibrator


class ModelError(Exception):
    """A model file that cannot be used; ``str(err)`` is the reason."""
