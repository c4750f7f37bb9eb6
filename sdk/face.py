"""The one face crop-and-resize rule of emoedge: detection box -> 48x48 gray uint8.

The face detector runs outside the model (on the phone: ML Kit / Vision; here: any
detector). What the model sees is defined by this function alone, written so that
the Kotlin and Swift cores can implement it step by step and get the same bytes
(tests/test_live_model.py pins it on fixed inputs):

1. Grayscale. An (H, W) image is taken as is. An (H, W, 3) or (H, W, 4) image is RGB
   (alpha ignored) and becomes gray = (77 R + 150 G + 29 B + 128) >> 8 per pixel, in
   integers (ITU-R BT.601 weights 0.299, 0.587, 0.114 scaled by 256; the same in every
   language, no float rounding). Input values are uint8.
2. Square box. The detection box (left, top, width, height) in pixels (floats allowed)
   becomes a square centred on the box centre (cx, cy) = (left + width / 2, top + height / 2)
   with side = max(width, height) * (1 + 2 * MARGIN), MARGIN = 0.1 (10 % on each side, so
   the brows and chin of a tight detection stay in). The square is NOT shifted or shrunk at
   the image border: pixels outside the image read as the nearest edge pixel (clamp).
3. Resize to 48 x 48 by bilinear interpolation with half-pixel centres (OpenCV's
   INTER_LINEAR without antialiasing, PyTorch ``align_corners=False``): output pixel
   (i, j), i = row, j = column, i, j = 0 .. 47, samples the source at
       x = x0 + (j + 0.5) * side / 48 - 0.5,   y = y0 + (i + 0.5) * side / 48 - 0.5
   with (x0, y0) = (cx - side / 2, cy - side / 2). With xf = floor(x), fx = x - xf (same
   for y), the four neighbours (xf, yf), (xf + 1, yf), (xf, yf + 1), (xf + 1, yf + 1) are
   clamped to [0, W - 1] x [0, H - 1] and mixed as
       v = (1 - fy) ((1 - fx) p00 + fx p10) + fy ((1 - fx) p01 + fx p11)
   in float64 (float32 gives the same bytes for images up to 8k).
4. Round half up to an integer, clamp to 0..255: out = min(255, max(0, floor(v + 0.5))).

The model takes the result as float32 0..255 (normalized inside the graph).
"""
from __future__ import annotations

import numpy as np

#: Output side in pixels (FER2013's crop size) and the margin added on each side of the box.
FACE_SIZE = 48
MARGIN = 0.1


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W) gray from (H, W) gray or (H, W, 3|4) RGB(A): (77 R + 150 G + 29 B + 128) >> 8."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"crop_face takes a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[:, :, :3].astype(np.int32)
        return ((77 * rgb[:, :, 0] + 150 * rgb[:, :, 1] + 29 * rgb[:, :, 2] + 128) >> 8).astype(np.uint8)
    raise ValueError(f"crop_face takes an (H, W) gray or (H, W, 3|4) RGB(A) image, got shape {image.shape}")


def square_box(box, margin: float = MARGIN) -> tuple[float, float, float]:
    """(x0, y0, side) of the square crop around a (left, top, width, height) detection."""
    left, top, width, height = (float(v) for v in box)
    if not (width > 0 and height > 0):
        raise ValueError(f"the face box needs width and height > 0, got {box}")
    side = max(width, height) * (1.0 + 2.0 * margin)
    cx, cy = left + width / 2.0, top + height / 2.0
    return cx - side / 2.0, cy - side / 2.0, side


def crop_face(image: np.ndarray, box, size: int = FACE_SIZE, margin: float = MARGIN) -> np.ndarray:
    """The (size, size) uint8 gray face crop of `image` for a detection `box` (left, top, width, height).

    See the module docstring for the exact rule (gray, square + margin, clamp, bilinear
    with half-pixel centres, round half up).
    """
    gray = to_gray(image).astype(np.float64)
    h, w = gray.shape
    x0, y0, side = square_box(box, margin)
    centres = (np.arange(size) + 0.5) * side / size - 0.5
    xs, ys = x0 + centres, y0 + centres
    xf, yf = np.floor(xs), np.floor(ys)
    fx, fy = xs - xf, ys - yf
    x_lo = np.clip(xf, 0, w - 1).astype(np.int64)
    x_hi = np.clip(xf + 1, 0, w - 1).astype(np.int64)
    y_lo = np.clip(yf, 0, h - 1).astype(np.int64)
    y_hi = np.clip(yf + 1, 0, h - 1).astype(np.int64)
    p00 = gray[y_lo][:, x_lo]
    p10 = gray[y_lo][:, x_hi]
    p01 = gray[y_hi][:, x_lo]
    p11 = gray[y_hi][:, x_hi]
    fx, fy = fx[None, :], fy[:, None]
    v = (1 - fy) * ((1 - fx) * p00 + fx * p10) + fy * ((1 - fx) * p01 + fx * p11)
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)
