"""A local emulator of the WhatsApp Cloud API, for development and tests only (docs/whatsapp.md).

A development tool outside the product apps: ``manage.py whatsapp_emulator`` (the devtools app)
serves it, ``make run`` starts it (Procfile.dev), tests and the fault suite drive it. Nothing in
the product imports it, and it imports no Django. The parts:

- ``server``: ``Emulator`` (state, clock, switches, scheduling, request dispatch) and the HTTP
  handler; the class is assembled from the parts below.
- ``state``: ``EmulatorConfig`` and a number's state. ``graph``: constants, ``GraphError``,
  helpers.
- ``sends``: POST messages. ``media``: uploads and downloads. ``graph_objects``: objects by id
  and message templates. ``numbers``: phone numbers, codes, registration, profile.
- ``webhooks_out``: signed webhooks to the desk. ``customer``: the customer's side.
- ``control``: the ``/_emulator`` API. ``phone``: the customer phone page.
"""

from devtools.whatsapp_emulator.graph import TINY_PNG, GraphError
from devtools.whatsapp_emulator.server import Emulator
from devtools.whatsapp_emulator.state import EmulatorConfig, Number

__all__ = ["TINY_PNG", "Emulator", "EmulatorConfig", "GraphError", "Number"]
