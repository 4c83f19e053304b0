"""Geometry shared by every part of the project: the one owner of camera and pixel conventions.

Conventions (used everywhere in cmr):

* **Camera space** is OpenCV's: metres, x right, y down, z forward (the camera looks along +z).
* **Intrinsics** ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` in pixels; a point (x, y, z)
  lands on ``(u, v) = (fx x/z + s y/z + cx, fy y/z + cy)``.
* **Pixel centres sit at integer coordinates**: pixel (row i, column j) is centred at
  (u = j, v = i) and covers [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]; an image of W columns
  spans u in [-0.5, W - 0.5]. A map of side h over an image of side S (heatmaps, half-resolution
  masks) has cell x centred on image coordinate ``(x + 0.5) * S / h - 0.5``.
* Cropping, padding, resizing and rotating the image about the optical axis change only ``K``
  (and the pixels): every such step is a (3, 3) affine pixel map ``A`` with ``K' = A K``.

Modules: :mod:`cmr.geometry.camera` (projection with the one depth clamp, intrinsics from a
field of view, mirroring, validation), :mod:`cmr.geometry.pixel_maps` (the affine maps: scale,
box, rotation, mirror) and :mod:`cmr.geometry.crop` (crops, letterboxing, warps and the crop
policy that frames a hand for the network).
"""
