"""The calibration measures live in the package (``evaluate`` prints them too)."""

from batchdigits.learn.reliability import Bin, equal_count_bins, expected_calibration_error

__all__ = ["Bin", "equal_count_bins", "expected_calibration_error"]
