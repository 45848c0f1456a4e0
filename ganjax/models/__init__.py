"""Model registry: a config's `model.name` picks a (generator, discriminator) pair."""

import jax.numpy as jnp

from ganjax.errors import GanjaxError
from ganjax.models import biggan, cgan, dcgan, r3gan, resnet, stylegan2
from ganjax.models.mlp import MLPDiscriminator, MLPGenerator

MODELS = {
    'mlp': (MLPGenerator, MLPDiscriminator),
    'dcgan28': (dcgan.DCGAN28Generator, dcgan.DCGAN28Discriminator),
    'radford': (dcgan.RadfordGenerator, dcgan.RadfordDiscriminator),
    'dcgan256': (dcgan.DCGAN256Generator, dcgan.DCGAN256Discriminator),
    'cgan28': (cgan.CGAN28Generator, cgan.CGAN28Discriminator),
    'cgan256': (cgan.CGAN256Generator, cgan.CGAN256Discriminator),
    'resnet': (resnet.ResNetGenerator, resnet.ResNetDiscriminator),
    'biggan': (biggan.BigGANGenerator, biggan.BigGANDiscriminator),
    'r3gan': (r3gan.R3GANGenerator, r3gan.R3GANDiscriminator),
    'stylegan2': (stylegan2.StyleGAN2Generator, stylegan2.StyleGAN2Discriminator),
}


def precision(model_config):
  """{'dtype', 'param_dtype'} for the modules from model.dtype / model.param_dtype; a
  float32 compute dtype is passed as None (Flax's default, so f32 runs stay bit-identical)."""
  dtype = model_config.get('dtype', 'float32')
  return {'dtype': None if dtype == 'float32' else jnp.dtype(dtype),
          'param_dtype': jnp.dtype(model_config.get('param_dtype', 'float32'))}


def build_models(model_config, *, image_shape, num_classes=0, axis_name=None,
                 conv_impl='auto'):
  """Returns (generator, discriminator) Linen modules for `model_config.name`."""
  if model_config.name not in MODELS:
    raise GanjaxError(f'unknown model.name {model_config.name!r}; '
                      f'choose one of {sorted(MODELS)}')
  g_cls, d_cls = MODELS[model_config.name]
  options = {'conv_impl': conv_impl, **precision(model_config)}
  extra = lambda cls: {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
  generator = g_cls(image_shape=tuple(image_shape), num_classes=num_classes,
                    axis_name=axis_name, **extra(g_cls),
                    **_fields(g_cls, 'generator', model_config.generator))
  discriminator = d_cls(num_classes=num_classes, axis_name=axis_name, **extra(d_cls),
                        **_fields(d_cls, 'discriminator', model_config.discriminator))
  return generator, discriminator


def _fields(cls, net, fields):
  """model.<net>'s fields that cls takes; a one-line error for one it does not (a typo,
  or an option this model lacks). spectral_norm=False, every config's default, is dropped
  for a model without the option."""
  known = cls.__dataclass_fields__
  for name, value in fields.items():
    if name not in known and not (name == 'spectral_norm' and not value):
      options = sorted(k for k in known if k not in ('parent', 'name', 'image_shape',
                                                     'num_classes', 'axis_name'))
      raise GanjaxError(f'--config.model.{net}.{name} is not an option of {cls.__name__}; '
                        f'it takes {options}')
  return {k: v for k, v in fields.items() if k in known}
