"""Makes trellis2_service/assets/verify-product.jpg: a shaded ceramic mug on a wooden table in front of a wall,
opaque (JPEG, no alpha), so TRELLIS.2's preprocess_image has to remove a real background."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 768, 768
rng = np.random.default_rng(15)
y, x = np.mgrid[0:H, 0:W].astype(np.float32)
# wall: warm grey with a soft light falloff; table: wood grain below the horizon
wall = np.stack([200 - 0.05 * y, 195 - 0.05 * y, 185 - 0.06 * y], -1) - (25 * ((x - 500) ** 2 + (y - 150) ** 2) / (W * W))[..., None]
horizon = 520
grain = 18 * np.sin(x / 9.0 + 6 * np.sin(y / 37.0)) + rng.normal(0, 4, (H, W))
wood = np.stack([150 + grain, 100 + 0.7 * grain, 60 + 0.4 * grain], -1) - 0.08 * (y - horizon)[..., None]
img = np.where((y < horizon)[..., None], wall, wood)
img += rng.normal(0, 2.5, img.shape)
# mug body: a cylinder shaded by its normal against a light from the left
cx, top, bottom, r = 384, 250, 560, 130
inside = (np.abs(x - cx) < r) & (y > top) & (y < bottom)
nx = np.clip((x - cx) / r, -1, 1)
shade = 0.35 + 0.65 * np.clip(-0.6 * nx + 0.8 * np.sqrt(1 - nx**2), 0, 1)
body = np.stack([40 + 150 * shade, 90 + 120 * shade, 160 + 90 * shade], -1)
img = np.where(inside[..., None], body, img)
image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
draw = ImageDraw.Draw(image)
draw.ellipse([cx - r, top - 28, cx + r, top + 28], fill=(70, 110, 150))  # rim
draw.ellipse([cx - r + 14, top - 18, cx + r - 14, top + 18], fill=(35, 40, 48))  # opening
draw.ellipse([cx - r, bottom - 26, cx + r, bottom + 26], fill=(60, 110, 170))  # base curve
draw.arc([cx + r - 40, 320, cx + r + 90, 480], start=-80, end=80, fill=(55, 105, 165), width=26)  # handle
shadow = Image.new("L", (W, H), 0)
ImageDraw.Draw(shadow).ellipse([cx - r - 10, bottom + 5, cx + r + 80, bottom + 45], fill=90)
shadow = shadow.filter(ImageFilter.GaussianBlur(12))
image = Image.composite(Image.new("RGB", (W, H), (40, 28, 18)), image, shadow)
image.save(str(Path(__file__).resolve().parent.parent / "trellis2_service" / "assets" / "verify-product.jpg"), quality=90, optimize=True)
