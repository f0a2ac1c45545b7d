#!/usr/bin/env python3
"""Re-encode every image of a CIFAR-10 binary folder as JPEG at a given quality.

Our CIFAR-10 copy is already JPEG (quality 75, 4:2:0 chroma); the original images are not on any
machine here, so what the first compression cost cannot be measured directly. Training on a
second, stronger compression of the same images measures how accuracy moves with JPEG loss
(bench/README.md, "What JPEG costs"). Reads IN/data_batch_1..5.bin and IN/test_batch.bin (1 label
byte + 3072 planar RGB bytes per record), encodes each image with Pillow at QUALITY (4:2:0, as
the copy), decodes it and writes the same layout to OUT, with batches.meta.txt copied. Prints the
PSNR of the re-encoded pixels against the input. Needs Pillow (the GPU machine has it).

Usage: reencode_cifar_jpeg.py IN_DIR OUT_DIR QUALITY
"""
import io
import math
import os
import shutil
import sys

from PIL import Image

RECORD = 1 + 3072
PLANE = 1024
BATCHES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def reencode(pixels, quality):
    """pixels: 3072 planar bytes (R plane, G plane, B plane); returns the same after JPEG."""
    planes = [Image.frombytes("L", (32, 32), pixels[k * PLANE:(k + 1) * PLANE]) for k in range(3)]
    buf = io.BytesIO()
    Image.merge("RGB", planes).save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
    buf.seek(0)
    r, g, b = Image.open(buf).convert("RGB").split()
    return r.tobytes() + g.tobytes() + b.tobytes()


def main(src, dst, quality):
    if not 1 <= quality <= 95:
        sys.exit(f"quality {quality}: expected 1..95")
    if os.path.abspath(src) == os.path.abspath(dst):
        sys.exit("OUT_DIR must differ from IN_DIR")
    missing = [n for n in BATCHES if not os.path.isfile(os.path.join(src, n))]
    if missing:
        sys.exit(f"{src}: missing {', '.join(missing)} (a CIFAR-10 binary folder holds all six)")
    os.makedirs(dst, exist_ok=True)
    squared, count = 0, 0
    for name in BATCHES:
        with open(os.path.join(src, name), "rb") as f:
            data = f.read()
        if len(data) % RECORD:
            sys.exit(f"{name}: {len(data)} bytes is not a whole number of {RECORD}-byte records")
        out = bytearray()
        for at in range(0, len(data), RECORD):
            pixels = data[at + 1:at + RECORD]
            new = reencode(pixels, quality)
            squared += sum((a - b) ** 2 for a, b in zip(pixels, new))
            count += len(pixels)
            out += data[at:at + 1] + new
        with open(os.path.join(dst, name), "wb") as f:
            f.write(out)
    meta = os.path.join(src, "batches.meta.txt")
    if os.path.exists(meta):
        shutil.copy(meta, dst)
    mse = squared / count
    psnr = 10 * math.log10(255 ** 2 / mse) if mse > 0 else float("inf")
    print(f"re-encoded {count // 3072} images at JPEG quality {quality} into {dst}: "
          f"PSNR {psnr:.2f} dB against the input (MSE {mse:.2f})")


if __name__ == "__main__":
    if len(sys.argv) != 4 or not sys.argv[3].isdigit():
        sys.exit(__doc__)
    try:
        main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    except OSError as e:  # a missing batch, an unwritable OUT_DIR: the input is never written to
        sys.exit(f"reencode_cifar_jpeg.py: {e}")
