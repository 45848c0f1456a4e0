"""Pictures for people: grids with row labels and captions, and output file names."""

import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def output_stem(path):
  """OUT without a .png/.json/.npz suffix (the CLIs write OUT.png, OUT.npz, ...)."""
  stem, ext = os.path.splitext(path)
  return stem if ext in ('.npz', '.png', '.json') else path


def _font():
  return ImageFont.load_default()


def _fit(draw, text, width, font):
  """`text`, cut short (with '..') so it fits in `width` pixels."""
  if draw.textlength(text, font=font) <= width:
    return text
  while text and draw.textlength(text + '..', font=font) > width:
    text = text[:-1]
  return text + '..'


def labelled_grid(rows, row_labels, header=None, captions=None, pad=2):
  """Rows of uint8 [n_i,H,W,C] -> one uint8 [H',W',C] image with row labels on the left,
  an optional header of column captions and optional captions above each cell."""
  h, w, c = rows[0].shape[1:]
  scale = max(1, -(-84 // w))  # cells at least ~84 px wide, so a caption fits
  cw, ch = w * scale, h * scale
  font = _font()
  probe = ImageDraw.Draw(Image.new('L', (1, 1)))
  line = int(probe.textbbox((0, 0), 'Ag', font=font)[3]) + 3
  left = max(int(probe.textlength(l, font=font)) for l in row_labels) + 2 * pad
  cols = max(len(r) for r in rows)
  top = line if header else 0
  row_h = ch + pad + (line if captions else 0)
  canvas = Image.new('L' if c == 1 else 'RGB', (left + cols * (cw + pad) + pad,
                                               top + len(rows) * row_h + pad), 0)
  draw = ImageDraw.Draw(canvas)
  ink = 255 if c == 1 else (255, 255, 255)
  for j, text in enumerate(header or []):
    draw.text((left + pad + j * (cw + pad), 1), _fit(draw, text, cw, font), fill=ink, font=font)
  for i, row in enumerate(rows):
    y = top + pad + i * row_h
    draw.text((pad, y + (line if captions else 0) + ch // 2 - line // 2), row_labels[i],
              fill=ink, font=font)
    for j, image in enumerate(row):
      x = left + pad + j * (cw + pad)
      if captions:
        draw.text((x, y), _fit(draw, captions[i][j], cw, font), fill=ink, font=font)
      big = np.repeat(np.repeat(image, scale, 0), scale, 1)
      canvas.paste(Image.fromarray(big[..., 0] if c == 1 else big),
                   (x, y + (line if captions else 0)))
  out = np.asarray(canvas)
  return out[..., None] if c == 1 else out
