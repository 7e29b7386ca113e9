"""mmreplk: an OpenMMLab plugin for large-kernel and re-parameterised
ConvNets. Versions are pinned once, in requirements/constraints.txt; the
Makefile passes that file to every pip call."""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name):
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith('#')
        ]


def read_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'mmreplk', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmreplk',
    version=read_version(),
    description='Large-kernel and structurally re-parameterised ConvNets '
    '(RepLKNet, UniRepLKNet, SLaK, Shift-wise, OREPA/DBB/RepVGG) for '
    'mmsegmentation and mmdetection',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmreplk', 'mmreplk.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(
        tests=read_requirements('tests.txt'),
        lint=read_requirements('lint.txt')),
    license='Apache-2.0',
    zip_safe=False,
)
