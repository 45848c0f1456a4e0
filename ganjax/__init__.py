"""ganjax: GANs in JAX/Flax, from the classic tutorials to research runs."""
