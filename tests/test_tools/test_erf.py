"""Effective receptive field: the measurement (mmreplk.analysis) and
tools/analysis/visualize_erf.py."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from mmreplk.analysis.effective_receptive_field import (
    aggregate_scores, contribution_scores, high_contribution_area_ratio,
    normalise_scores)
from tests.helpers.tools import load_tool


@pytest.fixture(scope='module', autouse=True)
def logger_outside_capsys():
    # mmengine's logger keeps the stream it was created with: create it
    # here, not inside a capsys test whose stream is closed afterwards.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance()


def test_contribution_is_the_theoretical_receptive_field():
    """Two stacked 3x3 convs (positive weights): the centre output depends
    on exactly the 5x5 input window around it."""
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1))
    for conv in net:
        nn.init.uniform_(conv.weight, 0.1, 1.0)
        nn.init.constant_(conv.bias, 1.0)
    image = torch.rand(1, 3, 17, 17)
    scores = contribution_scores(net, image)
    assert scores.shape == (17, 17)
    nonzero = np.argwhere(scores > 0)
    assert nonzero.min(0).tolist() == [6, 6]
    assert nonzero.max(0).tolist() == [10, 10]


def test_last_feature_map_of_a_tuple_is_used():

    class TwoOutputs(nn.Module):

        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 2, 1)
            self.b = nn.Conv2d(2, 2, 5, padding=2)
            nn.init.constant_(self.a.weight, 1.0)
            nn.init.constant_(self.b.weight, 1.0)

        def forward(self, x):
            a = self.a(x)
            return a, self.b(a)

    scores = contribution_scores(TwoOutputs(), torch.rand(1, 3, 11, 11))
    assert (np.argwhere(scores > 0).max(0) -
            np.argwhere(scores > 0).min(0)).tolist() == [4, 4]


def test_area_ratio_of_known_maps():
    delta = np.zeros((21, 21))
    delta[10, 10] = 1
    assert high_contribution_area_ratio(delta, 0.99) == (1, 1 / 441)
    uniform = np.ones((20, 20))
    # centred squares of a 20x20 map: 1, 3, ..., the first above 50% of 400
    # cells is 15x15 = 225
    side, ratio = high_contribution_area_ratio(uniform, 0.5)
    assert side == 15 and ratio == pytest.approx(225 / 400)
    assert high_contribution_area_ratio(uniform, 0.99) == (20, 1.0)
    with pytest.raises(ValueError, match='threshold'):
        high_contribution_area_ratio(uniform, 1.5)
    with pytest.raises(ValueError, match='all zero'):
        high_contribution_area_ratio(np.zeros((5, 5)), 0.5)


def test_normalise_and_aggregate_skip_non_finite():
    assert normalise_scores(np.array([[0.0, 9.0], [99.0, 0.0]])).tolist() \
        == [[0.0, 0.5], [1.0, 0.0]]

    class Squared(nn.Conv2d):  # gradient depends on the input

        def forward(self, x):
            return super().forward(x)**2

    net = Squared(3, 2, 3, padding=1)
    good = torch.rand(1, 3, 8, 8)
    bad = good.clone()
    bad[0, 0, 4, 4] = float('nan')
    mean, used = aggregate_scores(net, [good, bad, good])
    assert used == 2
    np.testing.assert_allclose(mean, contribution_scores(net, good))


@pytest.mark.slow
def test_visualize_erf_compares_three_families(synthetic_data, tmp_path,
                                               capsys):
    out, out_json = tmp_path / 'erf.png', tmp_path / 'erf.json'
    argv = [
        'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py', '--compare',
        'tests/configs/upernet_orepa-r18_ade20k-synthetic.py',
        'tests/configs/upernet_shiftwise-mini_ade20k-synthetic.py', '--labels',
        'RepLKNet', 'OREPA-R18', 'SW', '--images', synthetic_data['ade20k'],
        '--size', '64', '--num-images', '2', '--out',
        str(out), '--out-json',
        str(out_json)
    ]
    tool = load_tool('tools/analysis/visualize_erf.py')
    assert tool.main(argv) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    import matplotlib.image
    height, width = matplotlib.image.imread(str(out)).shape[:2]
    assert width > 2 * height  # three panels side by side
    report = json.loads(out_json.read_text())['models']
    assert [m['label'] for m in report] == ['RepLKNet', 'OREPA-R18', 'SW']
    for model in report:
        assert model['images'] == 2 and model['size'] == 64
        ratios = [
            model['area_ratio'][t]['ratio']
            for t in ('0.2', '0.3', '0.5', '0.99')
        ]
        assert all(0 < r <= 1 for r in ratios)
        assert ratios == sorted(ratios)
    # Existing outputs are kept unless --force; an input is never one.
    capsys.readouterr()
    assert tool.main(argv) == 2
    assert 'already exists' in capsys.readouterr().err
    assert tool.main(argv[:-4] + ['--out', argv[0]]) == 2
    assert 'would destroy the input' in capsys.readouterr().err
