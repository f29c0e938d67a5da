"""The icon image: a disc in the state's colour with a white detour arrow (Pillow)."""

from __future__ import annotations

from PIL import Image, ImageDraw

from tui.tray.look import State

SIZE = 64


def draw(state: State, size: int = SIZE) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse((2, 2, size - 3, size - 3), fill=(*state.rgb, 255), outline=(255, 255, 255, 255), width=2)
    # A path that leaves the straight line and comes back to it: a detour.
    s = size / 64
    w = max(2, round(5 * s))
    points = [
        (14 * s, 40 * s),
        (22 * s, 40 * s),
        (26 * s, 22 * s),
        (38 * s, 22 * s),
        (42 * s, 40 * s),
        (50 * s, 40 * s),
    ]
    d.line(points, fill=(255, 255, 255, 255), width=w, joint="curve")
    d.polygon([(50 * s, 33 * s), (50 * s, 47 * s), (57 * s, 40 * s)], fill=(255, 255, 255, 255))
    return img
