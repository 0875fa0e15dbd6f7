"""Comparing rendered HTML or SVG with a reference file under tests/fixtures/."""

import re

# The same character escaped two ways (markupsafe writes &#34; and &#39;, Django &quot; and &#x27;).
_ENTITIES = {"&#34;": "&quot;", "&#x27;": "&#39;"}


def same_markup(html: str) -> str:
    """The markup with white space folded (none between tags) and each entity spelt one way, so
    output from Django templates, Jinja2 templates and Python strings compares equal."""
    html = re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()
    for spelling, entity in _ENTITIES.items():
        html = html.replace(spelling, entity)
    return html
