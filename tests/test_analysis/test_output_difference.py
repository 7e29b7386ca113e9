"""mmreplk.analysis.output_difference: the one relative-difference measure
of the tools' --verify, the benchmarks and the tests, against values worked
out by hand."""
import numpy as np
import pytest
import torch

from mmreplk.analysis import max_abs_difference, relative_max_diff


def test_relative_to_the_largest_expected_value_over_all_outputs():
    expected = (torch.tensor([1.0, -4.0]), [torch.tensor([[2.0]])])
    actual = (torch.tensor([1.5, -4.0]), [torch.tensor([[1.0]])])
    # max |diff| = 1 (second output), max |expected| = 4 (first output)
    assert max_abs_difference(expected, actual) == (1.0, 4.0)
    assert relative_max_diff(expected, actual) == 0.25
    # the scale is the expected side's, not the actual side's
    assert relative_max_diff(actual, expected) == pytest.approx(1 / 4.0)
    assert relative_max_diff(torch.ones(3), torch.full((3, ), 3.0)) == 2.0
    assert relative_max_diff(torch.full((3, ), 3.0), torch.ones(3)) == \
        pytest.approx(2 / 3)


def test_float64_numpy_and_degenerate_cases():
    # 1 + 1e-9 is exact in float64; float32 arithmetic would give 0.
    expected = torch.tensor([1.0], dtype=torch.float64)
    assert relative_max_diff(expected, expected + 1e-9) == pytest.approx(1e-9)
    assert relative_max_diff(torch.tensor([2.0]), np.array([2.5],
                                                           np.float32)) == 0.25
    zeros = torch.zeros(4)
    assert relative_max_diff(zeros, zeros) == 0.0
    # an all-zero expectation: the absolute difference
    assert relative_max_diff(zeros, torch.full((4, ), 0.5)) == 0.5
    assert np.isnan(
        relative_max_diff(torch.ones(2), torch.tensor([1.0, np.nan])))


def test_outputs_of_another_structure_are_an_error():
    with pytest.raises(ValueError, match='differ in structure'):
        relative_max_diff(torch.ones(2, 3), torch.ones(3))  # no broadcasting
    with pytest.raises(ValueError, match='differ in structure'):
        relative_max_diff([torch.ones(2)], [torch.ones(2), torch.ones(2)])
