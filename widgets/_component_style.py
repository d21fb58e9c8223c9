"""Component styles for Line-API widgets, with their colours resolved against the widget's background.

``get_component_rich_style(name, partial=True)`` turns a colour such as ``$text-muted`` (``auto 60%``: black or
white, whichever reads, at 60%) into a fixed colour that ignores the background, so a dark theme's grey title
lands on a light theme's white background. Here an automatic colour is chosen against the widget's background
and a translucent one is blended over it, as Textual does for the widgets it renders itself.
"""

from __future__ import annotations

from rich.style import Style
from textual.widget import Widget

__all__ = ["component_style"]


def component_style(widget: Widget, name: str) -> Style:
    """The partial style of component ``name`` of ``widget`` (its colours only where the component sets them)."""
    styles = widget.get_component_styles(name)
    style = styles.partial_rich_style
    background = widget.background_colors[1]
    if styles.has_rule("background") and styles.background.a > 0:
        background += styles.background
    if styles.has_rule("color"):
        color = styles.color
        if styles.auto_color:
            color = background + background.get_contrast_text(color.a)
        elif color.a < 1:
            color = background + color
        style += Style(color=color.rich_color)
    return style
