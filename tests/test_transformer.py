"""GridTransformer follows scikit-learn's conventions: check_estimator, tags, feature names, Pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from batchdigits.image.grid import image_to_grid
from batchdigits.image.transformer import GridTransformer
from imagemaker import digit_array

NAMES = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]


# every check of the installed scikit-learn runs; none is expected to fail
# (check_array_api_input skips itself unless SCIPY_ARRAY_API=1 is set)
@parametrize_with_checks([GridTransformer()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_tags_say_a_stack_of_images_and_no_fit():
    tags = get_tags(GridTransformer())
    assert tags.requires_fit is False
    assert tags.input_tags.three_d_array and tags.input_tags.two_d_array
    assert tags.transformer_tags is not None
    check_is_fitted(GridTransformer())  # stateless: fitted as it is


def test_feature_names_are_pixel_row_col():
    names = GridTransformer().get_feature_names_out()
    assert list(names) == NAMES and names[9] == "pixel_1_1"


def test_images_of_any_size_a_3d_stack_and_flattened_rows_give_the_same_grids():
    one, zero = digit_array("one"), digit_array("zero")
    small = digit_array("zero", (30, 20))
    expected = np.stack([image_to_grid(img).ravel() for img in (one, zero, small)]).astype(np.float64)
    out = GridTransformer().transform([one, zero, small])  # a list of different sizes
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(GridTransformer().transform(np.stack([one, zero])), expected[:2])
    np.testing.assert_array_equal(GridTransformer().transform(iter([one, zero])), expected[:2])
    flat = np.stack([one.ravel(), zero.ravel()])
    assert one.shape[0] != one.shape[1]
    np.testing.assert_array_equal(GridTransformer(image_shape=one.shape).fit_transform(flat), expected[:2])


def test_load_digits_rows_are_taken_as_their_8x8_grids():
    digits = load_digits()
    out = GridTransformer().fit_transform(digits.data[:20])
    np.testing.assert_array_equal(out, digits.data[:20])


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="does not hold rows of 10 values"):
        GridTransformer(image_shape=(3, 3)).transform(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="NaN"):
        GridTransformer().transform([np.full((5, 5), np.nan)])
    with pytest.raises(ValueError, match="4 dimensions"):
        GridTransformer().transform(np.zeros((2, 3, 4, 5)))


def test_it_composes_in_a_pipeline_with_set_output():
    digits = load_digits()
    images = [255 - np.kron(img * 15, np.ones((4, 4))) for img in digits.images[:200]]
    pipe = make_pipeline(GridTransformer(), StandardScaler()).set_output(transform="default")
    out = pipe.fit_transform(images)
    assert isinstance(out, np.ndarray) and out.shape == (200, 64)
    assert list(pipe.get_feature_names_out()) == NAMES
    again = clone(pipe).fit(images)
    np.testing.assert_array_equal(again.transform(images[:5]), out[:5])
