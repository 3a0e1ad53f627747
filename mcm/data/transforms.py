"""Image transforms shared by image filtering, the aesthetic scorer, shard reading and the trainer's CSV images."""

from __future__ import annotations


def cover_crop(img, width: int, height: int):
    """PIL image resized (bicubic) so it covers width x height, then centre-cropped to it."""
    from PIL import Image

    scale = max(width / img.width, height / img.height)
    sw, sh = max(width, round(img.width * scale)), max(height, round(img.height * scale))
    img = img.resize((sw, sh), Image.BICUBIC)
    x0, y0 = (sw - width) // 2, (sh - height) // 2
    return img.crop((x0, y0, x0 + width, y0 + height))
