"""The environment badges' colours, derived from the theme: four hues a trader tells apart in every theme.

SIM, TESTNET, DEMO and PRODUCTION each get a hue of their own (green, blue, violet, red), taken from the theme
when it has a colour near that hue and made at that hue otherwise, so a theme whose accent, secondary and
warning are all orange still shows four badges. Each badge's text is black or white, whichever reads better,
and the badge's colour is darkened or lightened until the pair reaches the WCAG contrast for normal text (4.5).
PRODUCTION is the loudest: white on red. ANSI themes get the badges of Textual's own dark or light theme: in a
terminal's 16 colours red may be magenta, and no pair of them is sure to read.

The colours are app variables (``$env-sim``, ``$env-sim-text`` …): see ``FluxumApp.get_theme_variable_defaults``.
"""

from __future__ import annotations

from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES

__all__ = ["ENVIRONMENTS", "READABLE", "contrast_ratio", "environment_colours", "hue_distance", "label_colour"]

ENVIRONMENTS = ("sim", "testnet", "demo", "production")
READABLE = 4.5
"""WCAG 2's contrast for normal text."""
HUES = {"sim": 135.0, "testnet": 212.0, "demo": 282.0, "production": 0.0}
"""The hue each badge keeps, in degrees: at least 70 degrees apart."""
NEAR_DEGREES = 20.0
"""A theme colour this close to a badge's hue is used as it is (then darkened or lightened for its text)."""
LOUD_SATURATION = 0.7
"""Production's red is at least this saturated, whatever the theme's error colour."""
THEME_COLOURS = ("error", "primary", "secondary", "accent", "success", "warning")
ANSI_STAND_INS = {True: "textual-dark", False: "textual-light"}
"""The theme whose badges an ANSI theme wears, dark or light."""
WHITE = Color(255, 255, 255)
BLACK = Color(0, 0, 0)


def _linear(channel: int) -> float:
    value = channel / 255
    return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4


def relative_luminance(color: Color) -> float:
    """WCAG 2's relative luminance of an opaque colour."""
    return 0.2126 * _linear(color.r) + 0.7152 * _linear(color.g) + 0.0722 * _linear(color.b)


def contrast_ratio(first: Color, second: Color) -> float:
    """WCAG 2's contrast ratio, 1 (same) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def hue_distance(first: Color, second: Color) -> float:
    """How far apart two colours' hues are, in degrees (0 to 180)."""
    gap = abs(first.hsl.h - second.hsl.h) * 360 % 360
    return min(gap, 360 - gap)


def environment_colours(colors: dict[str, str], *, ansi: bool = False, dark: bool = True) -> dict[str, str]:
    """``env-NAME`` (the badge) and ``env-NAME-text`` for each environment, from a theme's generated colours."""
    if ansi:
        colors = BUILTIN_THEMES[ANSI_STAND_INS[dark]].to_color_system().generate()
    theme = [Color.parse(colors[name]) for name in THEME_COLOURS if name in colors]
    variables: dict[str, str] = {}
    for name in ENVIRONMENTS:
        badge = _near_hue(theme, HUES[name], colors)
        if name == "production":  # the loudest: a theme's muted red is made vivid
            h, saturation, lightness = badge.hsl
            badge = Color.from_hsl(h, max(saturation, LOUD_SATURATION), lightness)
        text = WHITE if name == "production" else max((WHITE, BLACK), key=lambda c: contrast_ratio(c, badge))
        badge = _readable(badge, text)
        variables[f"env-{name}"] = badge.hex
        variables[f"env-{name}-text"] = text.hex
    return variables


def _near_hue(theme: list[Color], degrees: float, colors: dict[str, str]) -> Color:
    """The theme's colour nearest ``degrees`` if near enough and colourful, else one made at that hue."""
    target = Color.from_hsl(degrees / 360, 0.7, 0.5)
    near = [c for c in theme if c.a > 0 and c.hsl.s >= 0.3 and hue_distance(c, target) <= NEAR_DEGREES]
    if near:
        return min(near, key=lambda c: hue_distance(c, target))
    primary = Color.parse(colors.get("primary", "#0178D4"))
    saturation = min(0.85, max(0.55, primary.hsl.s))
    lightness = min(0.6, max(0.4, primary.hsl.l))
    return Color.from_hsl(degrees / 360, saturation, lightness)


def _readable(badge: Color, text: Color) -> Color:
    """``badge`` moved away from ``text`` in lightness, at its hue, until the pair reaches :data:`READABLE`."""
    step = -0.02 if text == WHITE else 0.02
    h, s, lightness = badge.hsl
    while contrast_ratio(badge, text) < READABLE and 0.0 < lightness < 1.0:
        lightness = min(1.0, max(0.0, lightness + step))
        badge = Color.from_hsl(h, s, lightness)
    return badge


LABEL_ALPHAS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)


def label_colour(colors: dict[str, str]) -> str:
    """A label's colour (``$label``): the theme's foreground faded toward the panel as far as it still reads at
    :data:`READABLE` on the panel, the surface and the background. Opaque, so it renders as computed (a
    translucent or automatic colour in a widget's text loses its alpha: ``$text-muted`` came out full black or
    white, louder than the values it labels). ANSI themes keep the terminal's own foreground."""
    try:
        grounds = [Color.parse(colors[name]) for name in ("panel", "surface", "background")]
        foreground = Color.parse(colors["foreground"])
    except (KeyError, ColorParseError):
        return colors.get("foreground", "ansi_default")
    if foreground.ansi is not None or any(ground.ansi is not None or ground.a < 1 for ground in grounds):
        return colors["foreground"]
    panel = grounds[0]
    for alpha in LABEL_ALPHAS:
        label = panel.blend(foreground, alpha)
        if all(contrast_ratio(label, ground) >= READABLE for ground in grounds):
            return label.hex
    return foreground.hex
