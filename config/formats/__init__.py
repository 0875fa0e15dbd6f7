"""The desk's date and time formats, one per language (settings.FORMAT_MODULE_PATH).

Django's own English formats mix "12/05/2026 7:57 p.m." (SHORT_DATETIME_FORMAT) with
"Dec. 6, 2026, 7:57 p.m." (DATETIME_FORMAT), and pages used both side by side. Here every
named format of a language says the same: the short names equal the long ones, so whatever a
template, a template tag or the admin asks for, a date reads alike on every page. Only formats
for display live here; the input formats stay Django's.
"""
