"""The helper networks' training: the evaluator's classifier and the denoising autoencoder.

`config.task` picks one ('classifier' | 'dae'); `experiments.train` runs them like a GAN:
same workdir layout (config.json, Orbax checkpoints, metrics.jsonl, TensorBoard), same
resume. A seeded `config.holdout` fraction of the data is held out and scored at the end
(`WORKDIR/heldout.json`): the classifier's accuracy, the DAE's reconstruction error.
"""

import json
import os

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from tqdm import tqdm

from ganjax import input_pipeline, run_config, workdir_lock
from ganjax.checkpoint import Checkpointer
from ganjax.errors import GanjaxError
from ganjax.objectives.losses import bce_with_logits
from ganjax.metric_writers import MetricWriter
from ganjax.models.classifier import Classifier
from ganjax.models.dae import ConvDenoiser, MLPDenoiser, corrupt

TASKS = ('classifier', 'dae')
DENOISERS = {'mlp_dae': MLPDenoiser, 'conv_dae': ConvDenoiser}


@flax.struct.dataclass
class SupervisedState:
  step: jax.Array
  rng: jax.Array
  params: object
  opt_state: object


def build_model(config, image_shape, num_classes):
  """The task's Linen module from config.model (name + its keyword fields)."""
  kwargs = {k: (tuple(v) if isinstance(v, list) else v)
            for k, v in config.model.items() if k != 'name'}
  if config.task == 'classifier':
    if not num_classes:
      raise GanjaxError(f'data.name={config.data.name!r} has no labels to train a classifier')
    return Classifier(num_classes=num_classes, **kwargs)
  if config.model.name not in DENOISERS:
    raise GanjaxError(f'unknown model.name {config.model.name!r} for task=dae; '
                      f'use one of {sorted(DENOISERS)}')
  return DENOISERS[config.model.name](image_shape=tuple(image_shape), **kwargs)


def holdout_split(num_examples, fraction, seed):
  """(train, held_out) int indices: a seeded permutation split; fraction in [0, 1)."""
  perm = np.random.default_rng([seed, 0x401D]).permutation(num_examples)
  held = int(round(fraction * num_examples))
  return np.sort(perm[held:]), np.sort(perm[:held])


def _fetch(dataset, indices):
  """(uint8 images, int32 labels | None) of a Dataset or a streaming FolderSource."""
  if hasattr(dataset, 'load'):
    labels = dataset.labels_at(indices) if dataset.num_classes else None
    return dataset.load(indices), labels
  labels = None if dataset.labels is None else dataset.labels[indices]
  return dataset.images[indices], labels


def _to_unit(images):
  return jnp.asarray(images, jnp.float32) / 255.0


def make_optimizer(config):
  """Adam at config.optimizer.learning_rate."""
  return optax.adam(config.optimizer.learning_rate)


def random_shift(key, images, shift):
  """[B,H,W,C] -> [B,H,W,C]: each image moved by its own integer offset in [-shift, shift]²,
  the border filled with zeros (the datasets' background)."""
  if not shift:
    return images
  b, h, w, c = images.shape
  padded = jnp.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
  corners = jax.random.randint(key, (b, 2), 0, 2 * shift + 1)
  crop = lambda image, yx: jax.lax.dynamic_slice(image, (yx[0], yx[1], 0), (h, w, c))
  return jax.vmap(crop)(padded, corners)


def make_loss(config, model):
  """loss(params, images uint8, labels, key) -> (scalar, metrics) for the task."""
  if config.task == 'classifier':
    shift = config.get('augment_shift', 0)

    def loss(params, images, labels, key):
      # The shift draws from its own fold so that dropout's stream is the unshifted run's.
      x = random_shift(jax.random.fold_in(key, 0x5F1F7), _to_unit(images), shift)
      logits, _ = model.apply({'params': params}, x * 2 - 1, train=True,
                              rngs={'dropout': key})
      ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
      return ce, {'loss': ce, 'accuracy': jnp.mean(jnp.argmax(logits, -1) == labels)}
    return loss
  noise = dict(gaussian_std=config.noise.gaussian_std, salt_pepper=config.noise.salt_pepper)

  def loss(params, images, labels, key):
    del labels
    clean = _to_unit(images)
    logits = model.apply({'params': params}, corrupt(key, clean, **noise))
    bce = jnp.mean(bce_with_logits(logits, clean))
    return bce, {'loss': bce, 'mse': jnp.mean((jax.nn.sigmoid(logits) - clean) ** 2)}
  return loss


def make_train_step(config, model, tx):
  """Jitted (state, images uint8 [B,H,W,C], labels [B]|None) -> (state, metrics)."""
  loss = make_loss(config, model)

  @jax.jit
  def train_step(state, images, labels):
    key = jax.random.fold_in(state.rng, state.step)
    (_, metrics), grads = jax.value_and_grad(loss, has_aux=True)(
        state.params, images, labels, key)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                         opt_state=opt_state), metrics
  return train_step


def init_state(config, model, tx, image_shape):
  """Params from config.seed and a fresh optimizer state."""
  base = jax.random.PRNGKey(config.seed)
  x = jnp.zeros((1, *image_shape), jnp.float32)
  params = model.init(jax.random.fold_in(base, 0x1517), x)['params']
  return SupervisedState(step=jnp.zeros((), jnp.int32), rng=jax.random.fold_in(base, 0x7AA1),
                         params=params, opt_state=tx.init(params))


def heldout_scores(config, model, params, dataset, indices, batch=500):
  """The held-out figures: classifier accuracy, or DAE errors noisy vs denoised (MSE)."""
  if not len(indices):
    return {}
  sums, key = {}, jax.random.PRNGKey(config.seed + 1)
  apply = jax.jit(lambda p, x: model.apply({'params': p}, x))
  for start in range(0, len(indices), batch):
    images, labels = _fetch(dataset, indices[start:start + batch])
    clean = _to_unit(images)
    if config.task == 'classifier':
      logits, _ = apply(params, clean * 2 - 1)
      batch_sums = {'accuracy': jnp.sum(jnp.argmax(logits, -1) == labels)}
    else:
      noisy = corrupt(jax.random.fold_in(key, start), clean,
                      gaussian_std=config.noise.gaussian_std, salt_pepper=config.noise.salt_pepper)
      denoised = jax.nn.sigmoid(apply(params, noisy))
      per_image = lambda x: jnp.mean((x - clean) ** 2, axis=(1, 2, 3))
      batch_sums = {'mse_noisy': jnp.sum(per_image(noisy)),
                    'mse_denoised': jnp.sum(per_image(denoised))}
    for k, v in batch_sums.items():
      sums[k] = sums.get(k, 0.0) + float(v)
  return {'n': int(len(indices)), **{k: v / len(indices) for k, v in sums.items()}}


def train_and_evaluate(config, workdir, lock=True):
  """Trains config.task in `workdir` to num_steps (resuming), then scores the holdout;
  process 0 holds the workdir's lock (workdir_lock) unless lock=False."""
  with workdir_lock.locked(workdir, lock and jax.process_index() == 0):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir):
  run_config.validate_supervised(config)
  os.makedirs(workdir, exist_ok=True)
  run_config.save_or_check(config, workdir, write=jax.process_index() == 0)
  dataset = input_pipeline.load_dataset(config.data, conditional=config.task == 'classifier')
  num = dataset.num_examples if hasattr(dataset, 'load') else len(dataset.images)
  train_idx, held_idx = holdout_split(num, config.holdout, config.seed)
  if len(train_idx) < config.batch_size:
    raise GanjaxError(f'{len(train_idx)} training examples after holdout={config.holdout}; '
                      f'need at least batch_size={config.batch_size}')
  model = build_model(config, dataset.image_shape, dataset.num_classes)
  if config.task == 'classifier':
    run_config.save_classes(workdir, dataset.class_names)
  tx = make_optimizer(config)
  state = init_state(config, model, tx, dataset.image_shape)
  ckpt = Checkpointer(workdir, keep=config.keep_checkpoints)
  restored, step = ckpt.restore(state)
  if restored is not None:
    state = restored
    logging.info('resumed %s from step %d', config.task, step)
  train_step = make_train_step(config, model, tx)
  sampler = input_pipeline.IndexSampler(config.seed, len(train_idx), config.batch_size)
  writer = MetricWriter(workdir, enabled=jax.process_index() == 0)
  start = int(state.step)
  bar = tqdm(total=config.num_steps, initial=start, desc=config.task, unit='step',
             disable=jax.process_index() != 0)
  try:
    for s in range(start, config.num_steps):
      images, labels = _fetch(dataset, train_idx[sampler.indices(s, 1)[0, 0]])
      state, metrics = train_step(state, images, labels)
      bar.update(1)
      if (s + 1) % config.log_every == 0 or s + 1 == config.num_steps:
        host = {k: float(v) for k, v in metrics.items()}
        if not all(np.isfinite(list(host.values()))):
          raise GanjaxError(f'non-finite {config.task} loss at step {s + 1}; lower '
                            'optimizer.learning_rate (the last good checkpoint is kept)')
        writer.write(s + 1, host)
        bar.set_postfix({k: f'{v:.4f}' for k, v in host.items()})
      if (s + 1) % config.checkpoint_every == 0 or s + 1 == config.num_steps:
        ckpt.save(s + 1, state)
    scores = heldout_scores(config, model, state.params, dataset, held_idx)
    if scores and jax.process_index() == 0:
      with open(os.path.join(workdir, 'heldout.json'), 'w') as f:
        json.dump({'task': config.task, 'step': int(state.step), **scores}, f, indent=2)
      logging.info('held-out %s: %s', config.task, scores)
      print(f'held-out {config.task} at step {int(state.step)}: '
            + ', '.join(f'{k} {v:.4g}' for k, v in scores.items()))
    return state, scores
  finally:
    bar.close()
    writer.close()
    ckpt.close()
    if hasattr(dataset, 'close'):
      dataset.close()
