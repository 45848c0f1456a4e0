"""ganjax: GANs in JAX/Flax."""

from setuptools import find_packages, setup

setup(
    name='ganjax',
    version='0.1.0',
    description='GANs in JAX/Flax: the classic tutorials, measured and scaled.',
    packages=find_packages(include=['ganjax', 'ganjax.*', 'experiments', 'configs',
                                    'benchmarks']),
    python_requires='>=3.11',
    install_requires=[
        'jax==0.10.2',
        'flax==0.12.8',
        'optax==0.2.8',
        'orbax-checkpoint==0.12.8',
        'tensorflow-datasets==4.9.10',
        'tensorflow-cpu==2.21.*',
        'absl-py',
        'ml_collections',
        'tqdm',
        'Pillow',
        'matplotlib',    # report figures (Agg, no display): ganjax/report/plots.py
        'tensorboardX',  # event files without TF ops in the training process
    ],
    extras_require={
        # torch + scipy: reference implementations the metrics tests compare against
        # (torch-fidelity itself goes in with --no-deps: see .ci/run).
        # pytest-xdist: the suite spends most of its time in single-threaded XLA compiles
        # and CLI subprocesses; two workers take it from 14 to 10 minutes on 2 cores.
        'test': ['pytest', 'pytest-xdist', 'scipy', 'torch==2.13.0'],
        'bench': ['torch==2.13.0'],  # the plain PyTorch peer in benchmarks/
    },
)
