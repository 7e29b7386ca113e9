# The demo UperNet-RepLKNet (impl='auto', SyncBN, drop path) with a test
# module that makes each rank measure different back-end winners.
_base_ = ['../../configs/demo/upernet_replknet-tiny_ade20k-synthetic.py']
custom_imports = dict(
    imports=['mmreplk', 'tests.helpers.rank_timer'],
    allow_failed_imports=False)
model = dict(backbone=dict(impl='auto'))
