"""Converters from the package registries' copies of public datasets to the files
ganjax reads (CIFAR-10's binary version, IDX): run as python -m ganjax.datasets.NAME."""
