"""Face detection for camera frames: OpenCV's bundled Haar cascade, then sdk.face's crop rule.

Detector: the Viola-Jones boosted cascade of Haar-like features (P. Viola and M. Jones,
"Rapid Object Detection using a Boosted Cascade of Simple Features", CVPR 2001, with
R. Lienhart and J. Maydt's extended feature set, ICIP 2002) in OpenCV's
`haarcascade_frontalface_default.xml`, which ships inside the opencv-python-headless wheel
(cv2.data.haarcascades; Apache-2.0 wheel, the cascade under the Intel licence text in the
file). Why this one: its model file is inside a PyPI wheel (nothing downloaded at run time),
the wheel supports NumPy 2 (mediapipe's does not), it runs in ~1 ms on a 48x48 to 640x480
frame on one core, and opencv-python-headless also decodes video for sdk.timeline. YuNet
(a stronger CNN detector in OpenCV) needs an .onnx that no wheel ships; MediaPipe's
BlazeFace needs the mediapipe wheel (NumPy < 2). Frontal faces only: profiles are missed
(the modality is then absent, which the fused model handles).

Small frames (FER2013's 48x48 crops) are upscaled before detection so the cascade's 24x24
window fits inside the face; the box is mapped back to the frame's pixels. The largest
face wins. The crop itself is sdk.face.crop_face (the one documented rule).
"""
from __future__ import annotations

import threading

import numpy as np

from sdk.errors import BackendError
from sdk.face import FACE_SIZE, crop_face, to_gray

CASCADE = "haarcascade_frontalface_default.xml"
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 4
#: Frames whose shorter side is below this are upscaled (bilinear) to it before detection.
MIN_DETECT_SIDE = 160
#: Smallest face, as a fraction of the frame's shorter side.
MIN_FACE_FRACTION = 0.1
#: Border added on each side before detection, as a fraction of the (upscaled) shorter side.
PAD = 0.25


class FaceDetectorUnavailableError(BackendError):  # an EmoEdgeError (and a RuntimeError)
    """opencv-python-headless is not installed."""


_CASCADE = None
_LOCK = threading.Lock()


def _cascade():
    global _CASCADE
    with _LOCK:
        if _CASCADE is None:
            try:
                import cv2
            except ImportError as err:
                raise FaceDetectorUnavailableError(
                    "face detection needs opencv-python-headless (pip install 'emoedge[live]')") from err
            cv2.setNumThreads(1)  # detection runs in the caller's thread (OpenCV's pool oversubscribes small CPUs)
            path = cv2.data.haarcascades + CASCADE
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise FaceDetectorUnavailableError(f"cannot load {path}; reinstall opencv-python-headless")
            _CASCADE = cascade
        return _CASCADE


def as_rgb(frame: np.ndarray, color_order: str = "rgb") -> np.ndarray:
    """A camera frame (H, W) gray or (H, W, 3|4) in `color_order` ("rgb" or "bgr") -> uint8 gray/RGB(A)."""
    x = np.asarray(frame)
    if x.dtype != np.uint8:
        if np.issubdtype(x.dtype, np.floating) and x.size and np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1:
            x = np.round(x * 255.0).astype(np.uint8)  # float images in [0, 1]
        else:
            raise ValueError(f"image: expected a uint8 frame (0..255) or float in [0, 1], got dtype {x.dtype}")
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[2] in (3, 4))):
        raise ValueError(f"image: expected (H, W) gray or (H, W, 3|4) color, got shape {x.shape}")
    if x.shape[0] < 8 or x.shape[1] < 8:
        raise ValueError(f"image: {x.shape[1]}x{x.shape[0]} pixels is too small for a face")
    if color_order not in ("rgb", "bgr"):
        raise ValueError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
    if x.ndim == 3 and color_order == "bgr":
        x = x[:, :, [2, 1, 0, *([3] if x.shape[2] == 4 else [])]]
    return x


def detect_faces(frame: np.ndarray, color_order: str = "rgb") -> list[tuple[float, float, float, float]]:
    """Face boxes (left, top, width, height) in the frame's pixels, largest first."""
    import cv2

    gray = to_gray(as_rgb(frame, color_order))
    h, w = gray.shape
    scale = max(1.0, MIN_DETECT_SIDE / min(h, w))
    if scale > 1.0:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
    # a tight crop (FER2013-like: the face fills the frame) needs a border for the cascade's
    # window to see the whole face: pad PAD of the side on each edge by edge replication
    pad = int(round(PAD * min(gray.shape)))
    gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    gray = cv2.equalizeHist(gray)
    side = int(MIN_FACE_FRACTION * min(gray.shape))
    boxes = _cascade().detectMultiScale(gray, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
                                        minSize=(max(24, side), max(24, side)))
    out = [(float((x - pad) / scale), float((y - pad) / scale), float(bw / scale), float(bh / scale))
           for x, y, bw, bh in np.asarray(boxes, dtype=np.float64).reshape(-1, 4)]
    return sorted(out, key=lambda b: -b[2] * b[3])


def face_crop(frame: np.ndarray, color_order: str = "rgb", size: int = FACE_SIZE):
    """(the (size, size) uint8 crop of the largest face, its box) or (None, None) when no face is found."""
    rgb = as_rgb(frame, color_order)
    boxes = detect_faces(rgb, "rgb")
    if not boxes:
        return None, None
    return crop_face(rgb, boxes[0], size=size), boxes[0]
